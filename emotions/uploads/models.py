"""Photo uploads: one row per photo sent for prediction, its files under MEDIA_ROOT/uploads/<id>/."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from emotions.infra.database_clock import database_now
from emotions.queued_media import QueuedMedia, QueuedMediaQuerySet


def upload_path(upload: Upload, filename: str) -> str:
    return f"{upload.directory_name}/{filename}"


class UploadQuerySet(QueuedMediaQuerySet):
    def stale_claims(self, now=None):
        """Claimed longer ago than INFERENCE_STALE_SECONDS: the claimant died mid-prediction. Judged by the
        database's clock (the claim's start is stamped by it too) unless `now` is given."""
        return self.filter(status=Upload.Status.PROCESSING,
                           started_at__lt=(now or Now()) - timedelta(seconds=settings.INFERENCE_STALE_SECONDS))


class Upload(QueuedMedia):
    """One photo sent for prediction, and what the deployed model saw in it.

    Its files live under MEDIA_ROOT/uploads/<id>/ and go out only through views that check
    `is_visible_to`.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"

    class PredictedBy(models.TextChoices):
        WORKER = "worker"
        WEB = "web"

    FINISHED = (Status.DONE, Status.FAILED)
    MEDIA_FOLDER = "uploads"

    # The fields photos and videos share (session_owner, model, width, error, ...) are QueuedMedia's.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads"
    )
    image = models.FileField(upload_to=upload_path, max_length=255)
    annotated = models.FileField(upload_to=upload_path, max_length=255, blank=True)
    whole_image = models.BooleanField(default=False, help_text="Classify the whole picture as one face.")
    learn_from_corrections = models.BooleanField(
        default=False, help_text="Its owner lets the site learn from the faces they correct (emotions.photo_sets).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    predicted_by = models.CharField(max_length=10, choices=PredictedBy.choices, blank=True)
    faces = models.JSONField(default=list, help_text="[{box: [x, y, w, h], label, probabilities}]")
    queued_at = models.DateTimeField(default=timezone.now, help_text="When it was last sent for prediction.")
    claimed_by = models.CharField(max_length=200, blank=True, help_text="The worker node, or web process, predicting it.")

    objects = UploadQuerySet.as_manager()

    def face_crop_path(self, index: int) -> Path:
        return self.directory / f"face-{index}.png"

    # Status: every change is a conditional UPDATE (mark_sent, mark_failed and the helpers are QueuedMedia's),
    # so the worker and the web fallback never both run one.
    def claim(self, predicted_by: str, claimant: str = "") -> bool:
        return self._transition(
            [self.Status.PENDING], status=self.Status.PROCESSING, predicted_by=predicted_by,
            claimed_by=claimant or predicted_by, started_at=database_now(),  # the web host judges it stale
        )

    def mark_done(self, *, model: str, faces: list[dict], annotated: str, width: int, height: int,
                  whole_image: bool) -> bool:
        return self._finish(
            status=self.Status.DONE, model=model, faces=faces, annotated=annotated, width=width, height=height,
            whole_image=whole_image, error="",
        )

    def release_claim(self) -> bool:
        """Back to pending, if still under the claim this object holds (its claimant was found dead)."""
        released = self._mine().filter(claimed_by=self.claimed_by).update(
            status=self.Status.PENDING, predicted_by="", claimed_by="", started_at=None
        )
        self.refresh_from_db()
        return bool(released)

    def release_if_stale(self) -> bool:
        """Back to pending when its claimant has held it longer than INFERENCE_STALE_SECONDS: the worker
        died mid-prediction, and its redelivery would find it claimed and do nothing."""
        released = Upload.objects.stale_claims().filter(pk=self.pk).update(
            status=self.Status.PENDING, predicted_by="", claimed_by="", started_at=None
        )
        self.refresh_from_db()
        return bool(released)

    def reset_for_whole_image(self) -> bool:
        """Back to pending, to be classified again as one face. False while it is still being predicted."""
        return self._transition(
            self.FINISHED, status=self.Status.PENDING, whole_image=True, faces=[], annotated="", error="",
            predicted_by="", claimed_by="", queued_at=timezone.now(), sent_at=None, queue_error="", started_at=None,
            finished_at=None,
        )

    def to_dict(self) -> dict:
        return {
            "id": str(self.pk),
            "status": self.status,
            "model": self.model or None,
            "predicted_by": self.predicted_by or None,
            "whole_image": self.whole_image,
            "learn_from_corrections": self.learn_from_corrections,
            "width": self.width,
            "height": self.height,
            "faces": self.faces,
            "error": self.error or None,
            "created_at": self.created_at.isoformat(),
        }
