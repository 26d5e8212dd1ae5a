"""Staff's side of the user's own faces: photo datasets imported from a zip (on a worker), the corrections
uploaders let the site keep (to look at, and to drop), and runs' scores on the evaluation sets."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from emotions.dashboards.faces import png_data_uri
from emotions.photo_sets import corrections, imports
from emotions.photo_sets.archives import ArchiveRefused, check_zip
from emotions.photo_sets.models import Correction, PhotoImport, RunEvaluation
from emotions.training.models import Dataset
from ml.classes import SPLIT_LABELS

STATUS_COLOURS = {"queued": "#777", "running": "#1a6fb0", "succeeded": "#2a8a2a", "done": "#2a8a2a",
                  "failed": "#b02a2a"}


def _status(row):
    return format_html('<b style="color: {}">{}</b>', STATUS_COLOURS.get(row.status, "#222"), row.get_status_display())


class PhotoImportForm(forms.ModelForm):
    zip_file = forms.FileField(
        label="Zip of the photo folder",
        help_text="Class sub-folders (happy/, sad/, ...) or a labels.csv with path,label and any other columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )

    class Meta:
        model = PhotoImport
        fields = ["name", "zip_file", "group_column", "test_groups", "test_share", "val_share", "seed",
                  "is_evaluation_set"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Dataset.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A dataset named {name!r} exists already.")
        if PhotoImport.objects.filter(name=name, status__in=PhotoImport.ACTIVE).exists():
            raise forms.ValidationError(f"A dataset named {name!r} is being imported already.")
        return name

    def clean_zip_file(self):
        archive = self.cleaned_data["zip_file"]
        try:
            check_zip(archive)
        except ArchiveRefused as error:
            raise forms.ValidationError(f"{archive.name}: {error}.") from None
        return archive

    def clean(self):
        cleaned = super().clean()
        for share in ("test_share", "val_share"):
            value = cleaned.get(share)
            if value is not None and not 0 <= value < 1:
                self.add_error(share, "At least 0 and below 1.")
        if cleaned.get("test_groups", "").strip() and not cleaned.get("group_column", "").strip():
            self.add_error("test_groups", "Test groups need a group column.")
        return cleaned


@admin.register(PhotoImport)
class PhotoImportAdmin(admin.ModelAdmin):
    """Added with a zip; from then on read-only, the worker filling in the status."""

    form = PhotoImportForm
    list_display = ["name", "archive_name", "status_display", "progress_display", "dataset_link", "created_by",
                    "created_at"]
    list_filter = ["status"]
    readonly_fields = ["name", "archive_name", "group_column", "test_groups", "test_share", "val_share", "seed",
                       "is_evaluation_set", "status_display", "step", "progress_display", "error", "queue_error",
                       "dataset_link", "worker", "created_by", "created_at", "started_at", "finished_at"]

    def get_fields(self, request, obj=None):
        return self.form.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and obj is None  # view only, once added

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        imports.start_photo_import(obj, form.cleaned_data["zip_file"])

    def response_add(self, request, obj, post_url_continue=None):
        level, text = (messages.WARNING, " but the queue is unreachable; it is sent again when it is back") \
            if obj.queue_error else (messages.SUCCESS, "; a worker imports it, and this page shows how far it got")
        self.message_user(request, f"{obj.archive_name} is saved{text}.", level)
        return super().response_post_save_add(request, obj)

    @admin.display(description="status")
    def status_display(self, photo_import):
        return _status(photo_import)

    @admin.display(description="progress")
    def progress_display(self, photo_import):
        if not photo_import.total:
            return photo_import.step or "-"
        return format_html('<progress value="{}" max="{}" style="width: 8em"></progress> {} of {} photos, {}',
                           photo_import.done, photo_import.total, photo_import.done, photo_import.total,
                           photo_import.step)

    @admin.display(description="dataset")
    def dataset_link(self, photo_import):
        if photo_import.dataset_id is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("emotions:dataset", args=[photo_import.dataset_id]),
                           photo_import.dataset.name)


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    """What uploaders let the site learn from: staff look, and drop what they would not train on."""

    list_display = ["face_display", "label", "split", "owner", "upload_display", "created_at"]
    list_filter = ["label", "created_at"]
    list_select_related = ["owner"]
    fields = ["face_display", "label", "split", "owner", "upload_display", "face_index", "created_at", "updated_at"]
    readonly_fields = fields
    list_per_page = 60

    def has_add_permission(self, request):
        return False  # made by uploaders, on their results

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="face")
    def face_display(self, correction):
        return format_html('<img src="{}" width="48" height="48" alt="{} face">', png_data_uri(correction.pixels),
                           correction.label)

    @admin.display(description="split")
    def split(self, correction):
        return SPLIT_LABELS[corrections.split_of(correction.pk)]

    @admin.display(description="upload")
    def upload_display(self, correction):
        return str(correction.upload_id) if correction.upload_id else "purged (the face is kept)"

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        corrections.refresh_counts()


@admin.register(RunEvaluation)
class RunEvaluationAdmin(admin.ModelAdmin):
    """Runs scored on the evaluation sets' held-out photos (read-only; the run page draws them)."""

    list_display = ["run", "dataset", "status_display", "accuracy_display", "macro_f1_display", "finished_at"]
    list_filter = ["dataset", "status"]
    list_select_related = ["run__experiment", "dataset"]
    readonly_fields = ["run", "dataset", "status_display", "accuracy_display", "macro_f1_display", "error",
                       "created_at", "started_at", "finished_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def status_display(self, evaluation):
        return _status(evaluation)

    @admin.display(description="accuracy")
    def accuracy_display(self, evaluation):
        return "-" if evaluation.accuracy is None else f"{evaluation.accuracy:.3f}"

    @admin.display(description="macro-F1")
    def macro_f1_display(self, evaluation):
        return "-" if evaluation.macro_f1 is None else f"{evaluation.macro_f1:.3f}"
