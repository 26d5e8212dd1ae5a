"""Experiment records: imported datasets, experiments (a config on a dataset), their training runs.

A TrainingRun's status is the one source of truth for the web app and the workers alike. Every change
of status is a conditional UPDATE (`filter(pk=..., status=...).update(...)`), so a duplicate task
delivery, a late worker and a cancel from the admin can race without one undoing another.

The times a worker writes and a sweep on another host judges (started, heartbeat, finished) are the
database's clock (`Now()`), never a host's: a worker whose clock is minutes off is neither given up on
while it beats nor kept alive after it died.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Now
from django.utils import timezone

from emotions.training import configs


class Dataset(models.Model):
    """Faces to train and score on: an imported FER2013 store or photo folder (one .npz under MEDIA_ROOT,
    made by `manage.py import_fer2013` or `import_photos`), or the site's corrections, whose store is built
    from the Correction rows whenever it is read (emotions.photo_sets)."""

    class Kind(models.TextChoices):
        FER2013 = "fer2013", "FER2013"
        PHOTOS = "photos", "photo folder"
        CORRECTIONS = "corrections", "corrections from uploads"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.FER2013)
    is_evaluation_set = models.BooleanField(
        default=False, help_text="Score every succeeded run on this dataset's held-out (PrivateTest) split.",
    )
    source_name = models.CharField(max_length=255, help_text="The file or folder it was imported from.")
    source_checksum = models.CharField(max_length=64, help_text="SHA-256 of the source.")
    store_file = models.FileField(upload_to="datasets/", max_length=255, blank=True)
    class_names = models.JSONField(default=list)
    counts = models.JSONField(default=dict, help_text="Images per split and class.")
    report = models.JSONField(default=dict, help_text="What the import read, skipped and why.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def store_path(self) -> Path:
        return Path(self.store_file.path)

    @property
    def has_votes(self) -> bool:
        """Whether the store keeps the FER+ raters' votes (imported with --ferplus)."""
        return "ferplus" in (self.report or {})

    def num_images(self, split: str | None = None) -> int:
        splits = [split] if split else self.counts.keys()
        return sum(sum(self.counts.get(name, {}).values()) for name in splits)

    def load_store(self):
        if self.kind == self.Kind.CORRECTIONS:
            from emotions.photo_sets.corrections import corrections_store

            return corrections_store(self)
        from ml.data import FerStore

        return FerStore.load(self.store_path)


class Experiment(models.Model):
    """A training config on a dataset. `config` holds the resolved config, every key spelt out."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    preset = models.CharField(max_length=100, blank=True, help_text="The configs/*.yaml it started from.")
    config = models.JSONField(default=dict)
    dataset = models.ForeignKey(
        Dataset, on_delete=models.PROTECT, related_name="experiments",
        help_text="Validates, selects the best epoch and scores the run; trains too, with the weight below.",
    )
    dataset_weight = models.FloatField(
        default=1.0, help_text="This dataset's share of the faces drawn, beside the more training data below.",
    )
    start_from = models.ForeignKey(
        "TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Fine-tune this succeeded run's model (its checkpoint) instead of starting from scratch.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.config = configs.resolve(self.config)
        except ValidationError as error:
            raise ValidationError({"config": error.messages}) from None
        if self.dataset_weight is not None and self.dataset_weight < 0:
            raise ValidationError({"dataset_weight": "A weight cannot be negative."})
        if self.start_from is not None and not self.start_from.can_start_another:
            raise ValidationError({"start_from": f"Run #{self.start_from.pk} has no model to start from: only a "
                                                 "succeeded run with a checkpoint can be fine-tuned."})

    def training_data(self) -> list[dict]:
        """[{dataset, weight}], the dataset that validates first: what a run launched now trains on."""
        extra = [{"dataset": row.dataset_id, "weight": row.weight} for row in self.extra_datasets.all()]
        return [{"dataset": self.dataset_id, "weight": self.dataset_weight}, *extra]


class ExperimentDataset(models.Model):
    """More training data for an experiment, beside its dataset (which alone validates)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="extra_datasets")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="+")
    weight = models.FloatField(default=1.0, help_text="Its share of the faces drawn, against the others' weights.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["experiment", "dataset"], name="one_row_per_extra_dataset")]

    def __str__(self) -> str:
        return f"{self.dataset} x{self.weight:g}"

    def clean(self) -> None:
        if self.weight is not None and self.weight < 0:
            raise ValidationError({"weight": "A weight cannot be negative."})
        try:
            experiment = self.experiment  # in the admin, the experiment being saved with it
        except Experiment.DoesNotExist:
            return
        if self.dataset_id is not None and self.dataset_id == experiment.dataset_id:
            raise ValidationError({"dataset": "The experiment's own dataset trains already, with its weight above."})


class TrainingRunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=TrainingRun.ACTIVE)

    def stale(self, now=None):
        """Running runs whose worker has stopped beating: it was killed or ran out of memory. Judged by the
        database's clock unless `now` is given."""
        cutoff = (now or Now()) - timedelta(seconds=settings.TRAINING_STALE_AFTER_SECONDS)
        return self.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff)

    def unsent(self, now=None):
        """Queued runs the broker has not accepted: the send failed, or never happened (a crash right
        after the commit). The grace period keeps a send that is under way from being doubled."""
        now = now or timezone.now()
        return self.filter(status=TrainingRun.Status.QUEUED, sent_at__isnull=True).filter(
            models.Q(queue_error__gt="") | models.Q(created_at__lt=now - timedelta(seconds=TrainingRun.SEND_GRACE_SECONDS))
        )

    def deployed(self) -> TrainingRun | None:
        return self.filter(is_deployed=True).first()


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    SEND_GRACE_SECONDS = 30

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    config = models.JSONField(default=dict, help_text="The resolved config, frozen at launch.")
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumptions",
        help_text="The run whose last checkpoint this one continues.",
    )
    start_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fine_tunes",
        help_text="The run whose model this one fine-tunes.",
    )
    training_data = models.JSONField(
        default=list, blank=True,
        help_text="[{dataset, weight}] frozen at launch, the validating dataset first; empty: the experiment's dataset.",
    )

    # Queueing: a run is saved first and sent after the commit; sent_at stays empty until Redis took it.
    task_id = models.CharField(max_length=50, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    queue_error = models.TextField(blank=True, help_text="Why the last send to the queue failed.")

    # Progress, written by the worker.
    worker = models.CharField(max_length=200, blank=True, help_text="The Celery node running it.")
    device = models.CharField(max_length=100, blank=True)
    epoch = models.PositiveIntegerField(default=0, help_text="Epochs finished.")
    epochs = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Outcome.
    error = models.TextField(blank=True)
    stop_reason = models.CharField(max_length=20, blank=True)
    best_epoch = models.PositiveIntegerField(null=True, blank=True)
    public_test_metrics = models.JSONField(null=True, blank=True)
    private_test_metrics = models.JSONField(null=True, blank=True)
    checkpoint = models.FileField(max_length=255, blank=True, help_text="The best epoch's weights.")
    log_file = models.FileField(max_length=255, blank=True)
    is_deployed = models.BooleanField(default=False, help_text="Serves upload predictions.")

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_deployed"], condition=models.Q(is_deployed=True), name="one_deployed_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.experiment.name} #{self.pk}"

    def training_datasets(self) -> list[tuple[Dataset, float]]:
        """(dataset, weight) it trains on, the one that validates first: frozen at launch, else the
        experiment's dataset alone. ValueError when one of them has been deleted since."""
        rows = self.training_data or [{"dataset": self.experiment.dataset_id, "weight": 1.0}]
        found = Dataset.objects.in_bulk([row["dataset"] for row in rows])
        missing = [str(row["dataset"]) for row in rows if row["dataset"] not in found]
        if missing:
            raise ValueError(f"the dataset(s) #{', #'.join(missing)} this run trains on were deleted")
        return [(found[row["dataset"]], float(row["weight"])) for row in rows]

    # Files ---------------------------------------------------------------------------------------
    @property
    def out_dir_name(self) -> str:
        return f"runs/{self.pk}"

    @property
    def out_dir(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.out_dir_name

    @property
    def last_checkpoint_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def can_start_another(self) -> bool:
        """Whether another run may fine-tune this one's model: it succeeded and kept its checkpoint."""
        return self.status == self.Status.SUCCEEDED and bool(self.checkpoint)

    @property
    def can_resume(self) -> bool:
        """Failed or cancelled with something to go on from: a last checkpoint, or an ensemble fine-tune's
        members."""
        from ml.train.finetune import resumable_members

        return self.status in (self.Status.FAILED, self.Status.CANCELLED) and (
            self.last_checkpoint_path.is_file() or resumable_members(self.out_dir))

    @property
    def resume_point(self) -> Path:
        """What a run resuming this one goes on from: its last checkpoint, else its folder of ensemble members."""
        return self.last_checkpoint_path if self.last_checkpoint_path.is_file() else self.out_dir

    def log_tail(self, lines: int = 200) -> str:
        if not self.log_file:
            return ""
        try:
            with open(self.log_file.path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except FileNotFoundError:
            return ""

    # Progress ------------------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def progress(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0

    @property
    def progress_label(self) -> str:
        return f"epoch {self.epoch}/{self.epochs}"

    def _transition(self, from_statuses, **changes) -> bool:
        """Apply `changes` only if the row is still in one of `from_statuses`; True if it was."""
        updated = TrainingRun.objects.filter(pk=self.pk, status__in=from_statuses).update(**changes)
        self.refresh_from_db()
        return bool(updated)

    def mark_sent(self, task_id: str) -> None:
        self.task_id, self.sent_at, self.queue_error = task_id, timezone.now(), ""
        TrainingRun.objects.filter(pk=self.pk).update(task_id=task_id, sent_at=self.sent_at, queue_error="")

    def mark_send_failed(self, reason: str) -> None:
        self.queue_error = reason or "the queue is unreachable"
        TrainingRun.objects.filter(pk=self.pk).update(queue_error=self.queue_error)

    def mark_running(self, worker: str, device: str = "") -> bool:
        """Claim a queued run for `worker`. False when someone else has it, or it was cancelled."""
        return self._transition(
            [self.Status.QUEUED],
            status=self.Status.RUNNING, worker=worker, device=device, started_at=Now(), heartbeat_at=Now(),
            log_file=f"{self.out_dir_name}/train.log", epochs=self.config.get("epochs", 0), error="",
        )

    def beat(self) -> bool:
        """Record that the worker is alive. False when the run is no longer running (cancelled)."""
        return bool(
            TrainingRun.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(heartbeat_at=Now())
        )

    def record_epoch(self, result) -> bool:
        """Store one epoch of ml's EpochResult (idempotent per epoch) and move the progress on. False, and
        nothing stored, once the run is no longer running: cancelled, or failed by the sweep because its
        worker went silent (that worker must not write beside the one that resumed it)."""
        values = result.to_dict()
        changes = {"epoch": values["epoch"], "epochs": values["epochs"], "heartbeat_at": Now()}
        if values["is_best"]:
            changes["best_epoch"] = values["epoch"]
        with transaction.atomic():
            if not TrainingRun.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(**changes):
                return False
            EpochMetric.objects.update_or_create(
                run=self, epoch=values["epoch"], defaults={f: values.get(f) for f in EpochMetric.RESULT_FIELDS}
            )
        return True

    def record_stop(self, result, checkpoint: str = "") -> bool:
        """What the training loop left behind, on a run still running or cancelled (a cancel keeps its
        files). False, and the row left alone, on a run failed meanwhile: the sweep gave up on its worker."""
        stop_reason, best_epoch = result.stop_reason, result.best_epoch or None
        updated = TrainingRun.objects.filter(
            pk=self.pk, status__in=[self.Status.RUNNING, self.Status.CANCELLED]
        ).update(stop_reason=stop_reason, device=result.device, best_epoch=best_epoch, checkpoint=checkpoint)
        self.refresh_from_db()
        return bool(updated)

    def mark_succeeded(self, public_test_metrics: dict, private_test_metrics: dict) -> bool:
        return self._transition(
            [self.Status.RUNNING],
            status=self.Status.SUCCEEDED, finished_at=Now(),
            public_test_metrics=public_test_metrics, private_test_metrics=private_test_metrics,
        )

    def mark_failed(self, reason: str) -> bool:
        return self._transition(
            self.ACTIVE, status=self.Status.FAILED, error=reason, finished_at=Now()
        )

    def mark_cancelled(self) -> bool:
        return self._transition(self.ACTIVE, status=self.Status.CANCELLED, finished_at=Now())

    # Deployment ----------------------------------------------------------------------------------
    def deploy(self) -> None:
        """Make this run the one that serves predictions, in place of any other."""
        if self.status != self.Status.SUCCEEDED or not self.checkpoint:
            raise ValidationError(f"Run #{self.pk} cannot be deployed: only a succeeded run with a checkpoint can.")
        with transaction.atomic():
            # Deployments queue up: each first locks every run that may be deployed, in one order (no
            # deadlock), so the next one sees this one committed and replaces it. Without the lock, two at
            # once on PostgreSQL both find nothing to undeploy and collide on one_deployed_model.
            list(TrainingRun.objects.select_for_update().filter(status=self.Status.SUCCEEDED).order_by("pk")
                 .values_list("pk", flat=True))
            TrainingRun.objects.filter(is_deployed=True).exclude(pk=self.pk).update(is_deployed=False)
            TrainingRun.objects.filter(pk=self.pk).update(is_deployed=True)
        self.is_deployed = True


class EpochMetric(models.Model):
    RESULT_FIELDS = (
        "train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1", "lr", "seconds",
        "images_per_second", "is_best", "val_ferplus_acc", "val_ferplus_macro_f1",
    )

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="epoch_metrics")
    epoch = models.PositiveIntegerField()
    train_loss = models.FloatField()
    train_acc = models.FloatField()
    val_loss = models.FloatField()
    val_acc = models.FloatField()
    val_macro_f1 = models.FloatField()
    lr = models.FloatField()
    seconds = models.FloatField()
    images_per_second = models.FloatField()
    is_best = models.BooleanField(default=False)
    # PublicTest against the FER+ raters' majority, where the data set has votes.
    val_ferplus_acc = models.FloatField(null=True, blank=True)
    val_ferplus_macro_f1 = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="one_metric_per_epoch")]

    def __str__(self) -> str:
        return f"{self.run} epoch {self.epoch}"
