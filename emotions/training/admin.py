"""Staff-only control room for training: datasets, experiments (launch), training runs (cancel, resume,
deploy)."""
import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from emotions.photo_sets import evaluations
from emotions.training import services
from emotions.training.forms import DatasetForm, ExperimentForm
from emotions.training.models import Dataset, EpochMetric, Experiment, ExperimentDataset, TrainingRun

STATUS_COLOURS = {
    TrainingRun.Status.QUEUED: "#777",
    TrainingRun.Status.RUNNING: "#1a6fb0",
    TrainingRun.Status.SUCCEEDED: "#2a8a2a",
    TrainingRun.Status.FAILED: "#b02a2a",
    TrainingRun.Status.CANCELLED: "#a0761a",
}


def status_badge(run: TrainingRun):
    label = run.get_status_display()
    if run.status == TrainingRun.Status.QUEUED and run.queue_error:
        label += " (not sent: queue unreachable)"
    return format_html('<b style="color: {}">{}</b>', STATUS_COLOURS[run.status], label)


def progress_bar(run: TrainingRun):
    return format_html(
        '<progress value="{}" max="{}" style="width: 8em"></progress> {}', run.epoch, run.epochs or 1,
        run.progress_label,
    )


def pretty_json(value):
    if not value:
        return "-"
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2))


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    form = DatasetForm
    list_display = ["name", "kind", "is_evaluation_set", "source_name", "train_images", "public_test_images",
                    "private_test_images", "created_at"]
    list_filter = ["kind", "is_evaluation_set"]
    readonly_fields = ["name", "kind", "source_name", "source_checksum", "store_file", "counts_table", "report_json",
                       "created_at"]
    exclude = ["counts", "report", "class_names"]
    search_fields = ["name", "source_name"]
    actions = ["mark_evaluation_sets", "unmark_evaluation_sets"]

    def has_add_permission(self, request):
        # Made by `manage.py import_fer2013` or `import_photos`, or from a zip under Photo imports: read through ml.
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "is_evaluation_set" in form.changed_data:
            evaluations.set_evaluation_set(obj, obj.is_evaluation_set)

    @admin.action(description="Mark as evaluation sets (score every run on them)", permissions=["change"])
    def mark_evaluation_sets(self, request, queryset):
        for dataset in queryset:
            try:
                evaluations.set_evaluation_set(dataset, True)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                self.message_user(request, f"{dataset.name} is an evaluation set: every succeeded run is being "
                                           "scored on its PrivateTest split.", messages.SUCCESS)

    @admin.action(description="No longer evaluation sets", permissions=["change"])
    def unmark_evaluation_sets(self, request, queryset):
        for dataset in queryset:
            evaluations.set_evaluation_set(dataset, False)
        self.message_user(request, f"{queryset.count()} dataset(s) are no longer evaluation sets.", messages.SUCCESS)

    @admin.display(description="train")
    def train_images(self, dataset):
        return dataset.num_images("train")

    @admin.display(description="PublicTest")
    def public_test_images(self, dataset):
        return dataset.num_images("public_test")

    @admin.display(description="PrivateTest")
    def private_test_images(self, dataset):
        return dataset.num_images("private_test")

    @admin.display(description="Images per split and class")
    def counts_table(self, dataset):
        splits = list(dataset.counts)
        header = format_html_join("", "<th>{}</th>", ((split,) for split in ["class", *splits]))
        rows = format_html_join(
            "", "<tr><td>{}</td>{}</tr>",
            (
                (name, format_html_join("", "<td>{}</td>", ((dataset.counts[split].get(name, 0),) for split in splits)))
                for name in dataset.class_names
            ),
        )
        return format_html("<table><tr>{}</tr>{}</table>", header, rows)

    @admin.display(description="Import report")
    def report_json(self, dataset):
        return pretty_json(dataset.report)


class TrainingRunInline(admin.TabularInline):
    model = TrainingRun
    fields = ["run_link", "status_display", "progress_display", "created_at", "finished_at", "is_deployed"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="run")
    def run_link(self, run):
        return format_html('<a href="{}">#{}</a>', reverse("admin:emotions_trainingrun_change", args=[run.pk]), run.pk)

    @admin.display(description="status")
    def status_display(self, run):
        return status_badge(run)

    @admin.display(description="progress")
    def progress_display(self, run):
        return progress_bar(run)


class ExperimentDatasetInline(admin.TabularInline):
    model = ExperimentDataset
    fields = ["dataset", "weight", "position"]
    extra = 0
    verbose_name = "more training data"
    verbose_name_plural = "More training data (the dataset above alone validates and scores)"


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    list_display = ["name", "dataset", "model_name", "epochs", "run_count", "created_by", "created_at"]
    list_filter = ["dataset"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [ExperimentDatasetInline, TrainingRunInline]
    actions = ["launch_training"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("dataset", "created_by").annotate(run_count=Count("runs"))

    @admin.display(description="model")
    def model_name(self, experiment):
        return experiment.config.get("model", {}).get("name", "-")

    @admin.display(description="epochs")
    def epochs(self, experiment):
        return experiment.config.get("epochs", "-")

    @admin.display(description="runs", ordering="run_count")
    def run_count(self, experiment):
        return experiment.run_count

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_launch_permission(self, request):
        return request.user.has_perm("emotions.add_trainingrun")

    @admin.action(description="Launch training", permissions=["launch"])
    def launch_training(self, request, queryset):
        for experiment in queryset.select_related("dataset"):
            try:
                run = services.launch_training(experiment, request.user)
            except ValidationError as error:
                self.message_user(request, f"{experiment}: not launched. {' '.join(error.messages)}", messages.ERROR)
                continue
            if run.queue_error:
                self.message_user(
                    request,
                    f"Run #{run.pk} of {experiment} is saved, but the queue is unreachable (is Redis running?). "
                    "It will be sent when the queue is back; 'Send again' on the runs list retries now.",
                    messages.WARNING,
                )
            else:
                self.message_user(request, f"Run #{run.pk} of {experiment} is queued for training.", messages.SUCCESS)


class EpochMetricInline(admin.TabularInline):
    model = EpochMetric
    fields = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1", "lr", "seconds",
              "images_per_second", "is_best"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status_display", "progress_display", "device", "worker", "created_at",
                    "heartbeat_at", "best_epoch", "private_test_accuracy", "is_deployed"]
    list_filter = ["status", "is_deployed", "experiment"]
    list_select_related = ["experiment"]
    search_fields = ["experiment__name", "task_id", "worker"]
    actions = ["cancel_runs", "resume_runs", "send_again", "deploy_model"]
    inlines = [EpochMetricInline]
    fieldsets = [
        (None, {"fields": ["experiment", "status_display", "progress_display", "error", "queue_error",
                           "is_deployed", "resumed_from", "launched_by"]}),
        ("Where and when", {"fields": ["worker", "device", "task_id", "created_at", "sent_at", "started_at",
                                       "heartbeat_at", "finished_at"]}),
        ("Outcome", {"fields": ["stop_reason", "best_epoch", "checkpoint_path", "public_test_table",
                                "private_test_table"]}),
        ("Config", {"fields": ["config_json"], "classes": ["collapse"]}),
        ("Log", {"fields": ["log_display"]}),
    ]
    readonly_fields = [field for group in fieldsets for field in group[1]["fields"]]

    def has_add_permission(self, request):
        return False  # runs are launched from an experiment

    @admin.display(description="status", ordering="status")
    def status_display(self, run):
        return status_badge(run)

    @admin.display(description="progress")
    def progress_display(self, run):
        return progress_bar(run)

    @admin.display(description="checkpoint")
    def checkpoint_path(self, run):
        return run.checkpoint.path if run.checkpoint else "-"  # media is never served by URL

    @admin.display(description="PrivateTest acc.")
    def private_test_accuracy(self, run):
        return f"{run.private_test_metrics['accuracy']:.3f}" if run.private_test_metrics else "-"

    @admin.display(description="PublicTest metrics")
    def public_test_table(self, run):
        return metrics_table(run.public_test_metrics)

    @admin.display(description="PrivateTest metrics")
    def private_test_table(self, run):
        return metrics_table(run.private_test_metrics)

    @admin.display(description="config")
    def config_json(self, run):
        return pretty_json(run.config)

    @admin.display(description="log (last 200 lines)")
    def log_display(self, run):
        return format_html("<pre style='white-space: pre-wrap; max-height: 40em; overflow: auto'>{}</pre>",
                           run.log_tail() or "(no log yet)")

    @admin.action(description="Cancel", permissions=["change"])
    def cancel_runs(self, request, queryset):
        cancelled = [run for run in queryset if services.cancel_run(run)]
        skipped = queryset.count() - len(cancelled)
        if cancelled:
            self.message_user(request, f"Cancelled {_runs(cancelled)}.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} run(s) were not queued or running; left as they were.", messages.WARNING)

    @admin.action(description="Resume from the last checkpoint", permissions=["launch"])
    def resume_runs(self, request, queryset):
        for run in queryset:
            try:
                resumed = services.resume_run(run, request.user)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
                continue
            level, note = (messages.WARNING, " but the queue is unreachable; it will be sent when it is back") \
                if resumed.queue_error else (messages.SUCCESS, "")
            self.message_user(request, f"Run #{resumed.pk} resumes run #{run.pk}{note}.", level)

    @admin.action(description="Send again to the queue", permissions=["change"])
    def send_again(self, request, queryset):
        for run in queryset:
            if run.status != TrainingRun.Status.QUEUED:
                self.message_user(request, f"Run #{run.pk} is {run.status}, not queued; not sent.", messages.WARNING)
            elif services.send_run(run):
                self.message_user(request, f"Run #{run.pk} sent to the queue.", messages.SUCCESS)
            else:
                self.message_user(request, f"Run #{run.pk}: {run.queue_error}", messages.ERROR)

    @admin.action(description="Deploy this model", permissions=["change"])
    def deploy_model(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one run to deploy.", messages.ERROR)
            return
        run = queryset.get()
        try:
            services.deploy_run(run)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        self.message_user(request, f"Run #{run.pk} is now the deployed model.", messages.SUCCESS)

    def has_launch_permission(self, request):
        return request.user.has_perm("emotions.add_trainingrun")


def _runs(runs) -> str:
    return ", ".join(f"#{run.pk}" for run in runs)


def metrics_table(metrics):
    if not metrics:
        return "-"
    summary = format_html(
        "accuracy {}, macro-F1 {}, weighted-F1 {} on {} images",
        f"{metrics['accuracy']:.4f}", f"{metrics['macro_f1']:.4f}", f"{metrics['weighted_f1']:.4f}",
        metrics["num_samples"],
    )
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"])
            for name, m in metrics["per_class"].items()
        ),
    )
    return format_html(
        "<p>{}</p><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{}</table>",
        summary, rows,
    )
