"""Photo imports (a staff's zip, imported on a worker), corrections of uploaded faces, and the scores of
runs on the evaluation sets."""
from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from emotions.training.models import Dataset, TrainingRun
from emotions.uploads.models import Upload
from ml.classes import FER_CLASSES

FACE_SIZE = 48


class PhotoImport(models.Model):
    """A zip of a labelled photo folder uploaded by staff in the admin, imported into a Dataset by a worker on
    the `inference` queue. The status, step, progress and any error live here; the zip is removed once the
    import has ended, whichever way it ended."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    name = models.CharField(max_length=100, help_text="The dataset's name.")
    archive = models.FileField(upload_to="photo-imports/", max_length=255, blank=True)
    archive_name = models.CharField(max_length=255, blank=True)
    group_column = models.CharField(
        max_length=100, blank=True,
        help_text="A labels.csv column naming whose face each photo is: one person never lands in two splits.",
    )
    test_groups = models.CharField(
        max_length=1000, blank=True, help_text="Comma-separated values of the group column held out as the test split.",
    )
    test_share = models.FloatField(default=0.2, help_text="Share of the photos held out for the test (PrivateTest).")
    val_share = models.FloatField(default=0.1, help_text="Share of the rest for validation (PublicTest).")
    seed = models.IntegerField(default=0)
    is_evaluation_set = models.BooleanField(default=False,
                                            help_text="Mark the dataset an evaluation set once imported.")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    step = models.CharField(max_length=200, blank=True)
    done = models.PositiveIntegerField(default=0, help_text="Photos read so far.")
    total = models.PositiveIntegerField(default=0, help_text="Photos in the archive.")
    error = models.TextField(blank=True)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=50, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    queue_error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.archive_name or 'zip'})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    def test_group_list(self) -> list[str]:
        return [name.strip() for name in self.test_groups.split(",") if name.strip()]

    def _transition(self, from_statuses, **changes) -> bool:
        updated = PhotoImport.objects.filter(pk=self.pk, status__in=from_statuses).update(**changes)
        self.refresh_from_db()
        return bool(updated)

    def claim(self, worker: str) -> bool:
        """Queued -> running for `worker`; False for a duplicate delivery or an import that has ended."""
        return self._transition([self.Status.QUEUED], status=self.Status.RUNNING, worker=worker, started_at=Now(),
                                heartbeat_at=Now(), step="checking the archive", error="")

    def record_progress(self, step: str, done: int | None = None, total: int | None = None) -> None:
        changes = {"step": step, "heartbeat_at": Now()}
        if done is not None:
            changes["done"] = done
        if total is not None:
            changes["total"] = total
        PhotoImport.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(**changes)

    def mark_succeeded(self, dataset: Dataset) -> bool:
        return self._transition([self.Status.RUNNING], status=self.Status.SUCCEEDED, dataset=dataset,
                                step="imported", finished_at=Now())

    def mark_failed(self, reason: str) -> bool:
        return self._transition(self.ACTIVE, status=self.Status.FAILED, error=reason, finished_at=Now())

    def mark_sent(self, task_id: str) -> None:
        PhotoImport.objects.filter(pk=self.pk).update(task_id=task_id, sent_at=Now(), queue_error="")

    def mark_send_failed(self, reason: str) -> None:
        self.queue_error = reason
        PhotoImport.objects.filter(pk=self.pk).update(queue_error=reason)


class CorrectionQuerySet(models.QuerySet):
    def of_upload(self, upload: Upload):
        return self.filter(upload=upload)


class Correction(models.Model):
    """The true emotion of one face of an upload, given by its owner, who let the site learn from their
    corrections: the 48x48 face the model saw, the label and the date, never the photo. It outlives the upload
    when the upload is purged for its age (upload then empty), and goes with the upload when that is deleted,
    and with its owner's account."""

    LABELS = [(name, name) for name in FER_CLASSES]

    upload = models.ForeignKey(Upload, null=True, blank=True, on_delete=models.CASCADE, related_name="corrections")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="corrections")
    face_index = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=20, choices=LABELS)
    face = models.BinaryField(help_text="48x48 gray pixels, row by row.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = CorrectionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Null once the upload is purged: NULLs never collide, so purged corrections stay apart.
            models.UniqueConstraint(fields=["upload", "face_index"], name="one_correction_per_face"),
        ]

    def __str__(self) -> str:
        return f"correction #{self.pk}: {self.label}"

    @property
    def pixels(self) -> np.ndarray:
        return np.frombuffer(bytes(self.face), dtype=np.uint8).reshape(FACE_SIZE, FACE_SIZE)

    @property
    def label_index(self) -> int:
        return FER_CLASSES.index(self.label)


class RunEvaluation(models.Model):
    """A run scored on an evaluation set's held-out split (PrivateTest): ml's metrics dict, one row per pair."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="photo_evaluations")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="run_evaluations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    metrics = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset__name", "run"]
        constraints = [models.UniqueConstraint(fields=["run", "dataset"], name="one_evaluation_per_run_and_set")]

    def __str__(self) -> str:
        return f"run #{self.run_id} on {self.dataset}"

    @property
    def accuracy(self) -> float | None:
        return (self.metrics or {}).get("accuracy")

    @property
    def macro_f1(self) -> float | None:
        return (self.metrics or {}).get("macro_f1")
