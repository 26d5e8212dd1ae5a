"""Photo uploads: one row per photo sent for prediction, its files under MEDIA_ROOT/uploads/<id>/."""
from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from emotions.accounts.ownership import OwnedQuerySet


def upload_path(upload: Upload, filename: str) -> str:
    return f"{upload.directory_name}/{filename}"


class UploadQuerySet(OwnedQuerySet):  # owned_by() and expired(): the privacy and retention rule
    def stale_claims(self, now=None):
        """Claimed longer ago than INFERENCE_STALE_SECONDS: the claimant died mid-prediction."""
        now = now or timezone.now()
        return self.filter(status=Upload.Status.PROCESSING,
                           started_at__lt=now - timedelta(seconds=settings.INFERENCE_STALE_SECONDS))

    def to_send_again(self, now=None):
        """Pending uploads no worker will get without a new message: the send failed (the broker was
        down), never happened (the web process died right after the commit), or was lost (Redis died
        before writing it to disk); a duplicate message is harmless, since the claim is conditional."""
        now = now or timezone.now()
        grace = now - timedelta(seconds=Upload.SEND_GRACE_SECONDS)
        lost = now - timedelta(seconds=settings.INFERENCE_STALE_SECONDS)
        return self.filter(status=Upload.Status.PENDING).filter(
            models.Q(queue_error__gt="")
            | models.Q(sent_at__isnull=True, queued_at__lt=grace)
            | models.Q(sent_at__lt=lost)
        )


class Upload(models.Model):
    """One photo sent for prediction, and what the deployed model saw in it.

    The id is a UUID: unguessable, so an upload made through the API without a session or account can
    be fetched by whoever holds its id and by nobody else. Files live under MEDIA_ROOT/uploads/<id>/
    and go out only through views that check `is_visible_to`.
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
    SEND_GRACE_SECONDS = 10

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads"
    )
    # A random token kept in the anonymous uploader's session data (not the session key, which Django
    # changes at login): their uploads follow them into the account they log in to.
    session_owner = models.CharField(max_length=64, blank=True, db_index=True)
    original_name = models.CharField(max_length=255, blank=True)
    image = models.FileField(upload_to=upload_path, max_length=255)
    content_type = models.CharField(max_length=50)
    annotated = models.FileField(upload_to=upload_path, max_length=255, blank=True)
    whole_image = models.BooleanField(default=False, help_text="Classify the whole picture as one face.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    predicted_by = models.CharField(max_length=10, choices=PredictedBy.choices, blank=True)
    model = models.CharField(max_length=100, blank=True, help_text='"run <id>" or "shipped".')
    faces = models.JSONField(default=list, help_text="[{box: [x, y, w, h], label, probabilities}]")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    queued_at = models.DateTimeField(default=timezone.now, help_text="When it was last sent for prediction.")
    # The broker took it at sent_at; queue_error says why the last send failed (the broker was down).
    sent_at = models.DateTimeField(null=True, blank=True)
    queue_error = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=200, blank=True, help_text="The worker node, or web process, predicting it.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = UploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name or 'upload'} ({self.pk})"

    @property
    def directory_name(self) -> str:
        return f"uploads/{self.pk}"

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.directory_name

    def face_crop_path(self, index: int) -> Path:
        return self.directory / f"face-{index}.png"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def no_face_found(self) -> bool:
        return self.status == self.Status.DONE and not self.faces

    def is_visible_to(self, user, session_owner: str | None) -> bool:
        if self.owner_id is not None:
            return user is not None and user.is_authenticated and user.pk == self.owner_id
        if self.session_owner:
            return bool(session_owner) and session_owner == self.session_owner
        return True  # an anonymous API upload: holding the UUID is the permission

    # Status: every change is a conditional UPDATE, so the worker and the web fallback never both run one.
    def _transition(self, from_statuses, **changes) -> bool:
        updated = Upload.objects.filter(pk=self.pk, status__in=from_statuses).update(**changes)
        self.refresh_from_db()
        return bool(updated)

    def mark_sent(self) -> None:
        self.sent_at, self.queue_error = timezone.now(), ""
        Upload.objects.filter(pk=self.pk).update(sent_at=self.sent_at, queue_error="")

    def mark_send_failed(self, reason: str) -> None:
        self.queue_error = reason or "the queue is unreachable"
        Upload.objects.filter(pk=self.pk).update(queue_error=self.queue_error)

    def claim(self, predicted_by: str, claimant: str = "") -> bool:
        return self._transition(
            [self.Status.PENDING], status=self.Status.PROCESSING, predicted_by=predicted_by,
            claimed_by=claimant or predicted_by, started_at=timezone.now(),
        )

    def _finish(self, **changes) -> bool:
        """Only the claim this object made: a claimant that was given up on (stale) cannot overwrite
        the one that took over."""
        updated = Upload.objects.filter(pk=self.pk, status=self.Status.PROCESSING, started_at=self.started_at).update(
            finished_at=timezone.now(), **changes
        )
        self.refresh_from_db()
        return bool(updated)

    def mark_done(self, *, model: str, faces: list[dict], annotated: str, width: int, height: int,
                  whole_image: bool) -> bool:
        return self._finish(
            status=self.Status.DONE, model=model, faces=faces, annotated=annotated, width=width, height=height,
            whole_image=whole_image, error="",
        )

    def mark_failed(self, reason: str) -> bool:
        if self.status == self.Status.PROCESSING:
            return self._finish(status=self.Status.FAILED, error=reason)
        return self._transition([self.Status.PENDING], status=self.Status.FAILED, error=reason, finished_at=timezone.now())

    def release_claim(self) -> bool:
        """Back to pending, if still under the claim this object holds (its claimant was found dead)."""
        released = Upload.objects.filter(
            pk=self.pk, status=self.Status.PROCESSING, claimed_by=self.claimed_by, started_at=self.started_at
        ).update(status=self.Status.PENDING, predicted_by="", claimed_by="", started_at=None)
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

    def delete_files(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def to_dict(self) -> dict:
        return {
            "id": str(self.pk),
            "status": self.status,
            "model": self.model or None,
            "predicted_by": self.predicted_by or None,
            "whole_image": self.whole_image,
            "width": self.width,
            "height": self.height,
            "faces": self.faces,
            "error": self.error or None,
            "created_at": self.created_at.isoformat(),
        }
