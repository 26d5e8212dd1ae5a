"""Video uploads: one row per video sent for analysis, its files under MEDIA_ROOT/videos/<id>/ (the video,
the annotated sampled frames, the CSV). Private exactly as photos are, and purged with them."""
from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from emotions.accounts.ownership import OwnedQuerySet

NO_FACE = "No face was found in any sampled frame."  # ml.video.NO_FACE, as a sentence


def video_path(video: Video, filename: str) -> str:
    return f"{video.directory_name}/{filename}"


class VideoQuerySet(OwnedQuerySet):  # owned_by() and expired(): the privacy and retention rule
    def stale_claims(self, now=None):
        """Processing, but its worker has not beaten for INFERENCE_STALE_SECONDS: it died mid-video."""
        now = now or timezone.now()
        return self.filter(status=Video.Status.PROCESSING,
                           beat_at__lt=now - timedelta(seconds=settings.INFERENCE_STALE_SECONDS))

    def to_send_again(self, now=None):
        """Pending videos no worker will get without a new message: the send failed (the broker was down),
        never happened, or was lost; a duplicate message is harmless, since the claim is conditional."""
        now = now or timezone.now()
        grace = now - timedelta(seconds=Video.SEND_GRACE_SECONDS)
        lost = now - timedelta(seconds=settings.INFERENCE_STALE_SECONDS)
        return self.filter(status=Video.Status.PENDING).filter(
            models.Q(queue_error__gt="")
            | models.Q(sent_at__isnull=True, queued_at__lt=grace)
            | models.Q(sent_at__lt=lost)
        )


class Video(models.Model):
    """One video sent for analysis, and every face's emotions through it.

    Only an `inference` worker analyses a video (never the web request): it claims the row, records
    `frames_done` / `frames_total` and beats `beat_at` while it works, and stops when the row is no
    longer its own (cancelled, deleted, or given up on as stale and taken over).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)
    SEND_GRACE_SECONDS = 10
    CSV_NAME = "faces.csv"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="videos"
    )
    # The same session token as photos' (emotions.uploads.services.SESSION_OWNER).
    session_owner = models.CharField(max_length=64, blank=True, db_index=True)
    original_name = models.CharField(max_length=255, blank=True)
    file = models.FileField(upload_to=video_path, max_length=255)
    content_type = models.CharField(max_length=50)
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes.")
    requested_fps = models.FloatField(help_text="Frames sampled per second, as asked; at most the video's own.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    model = models.CharField(max_length=100, blank=True, help_text='"run <id>" or "shipped".')
    frames_done = models.PositiveIntegerField(default=0)
    frames_total = models.PositiveIntegerField(default=0, help_text="Frames to sample, from the video's header.")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    fps = models.FloatField(null=True, blank=True, help_text="The sampling rate used.")
    video_fps = models.FloatField(null=True, blank=True, help_text="The video's own frame rate.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    faces = models.JSONField(default=list, help_text="[{track, frames: [{t, box, label, probabilities}]}]")
    class_names = models.JSONField(default=list)
    frame_times = models.JSONField(default=list, help_text="The annotated frames' times (frames/<index>.jpg).")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    queued_at = models.DateTimeField(default=timezone.now, help_text="When it was last sent for analysis.")
    sent_at = models.DateTimeField(null=True, blank=True)
    queue_error = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=200, blank=True, help_text="The worker node analysing it.")
    started_at = models.DateTimeField(null=True, blank=True)
    beat_at = models.DateTimeField(null=True, blank=True, help_text="Its worker's last sign of life.")
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = VideoQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name or 'video'} ({self.pk})"

    @property
    def directory_name(self) -> str:
        return f"videos/{self.pk}"

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.directory_name

    def frame_path(self, index: int) -> Path:
        return self.directory / "frames" / f"{index:04d}.jpg"

    @property
    def csv_path(self) -> Path:
        return self.directory / self.CSV_NAME

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def no_face_found(self) -> bool:
        return self.status == self.Status.DONE and not self.faces

    @property
    def progress(self) -> dict:
        return {"frames_done": self.frames_done, "frames_total": self.frames_total}

    def emotion_shares(self) -> dict[int, dict[str, float]]:
        """Each face's share of its sampled frames per top emotion, by track (ml.video.FaceTrack's rule)."""
        shares = {}
        for face in self.faces:
            counts = dict.fromkeys(self.class_names or face["frames"][0]["probabilities"], 0)
            for frame in face["frames"]:
                counts[frame["label"]] += 1
            shares[face["track"]] = {name: round(count / len(face["frames"]), 4) for name, count in counts.items()}
        return shares

    def is_visible_to(self, user, session_owner: str | None) -> bool:
        """As emotions.uploads.models.Upload.is_visible_to: the account, else the session, else the id."""
        if self.owner_id is not None:
            return user is not None and user.is_authenticated and user.pk == self.owner_id
        if self.session_owner:
            return bool(session_owner) and session_owner == self.session_owner
        return True  # an anonymous API upload: holding the UUID is the permission

    # Status: every change is a conditional UPDATE, so a duplicate delivery, a cancel and a stale worker
    # never undo one another.
    def _transition(self, from_statuses, **changes) -> bool:
        updated = Video.objects.filter(pk=self.pk, status__in=from_statuses).update(**changes)
        self.refresh_from_db()
        return bool(updated)

    def _mine(self):
        """This row while still under the claim this object made."""
        return Video.objects.filter(pk=self.pk, status=self.Status.PROCESSING, started_at=self.started_at)

    def mark_sent(self) -> None:
        self.sent_at, self.queue_error = timezone.now(), ""
        Video.objects.filter(pk=self.pk).update(sent_at=self.sent_at, queue_error="")

    def mark_send_failed(self, reason: str) -> None:
        self.queue_error = reason or "the queue is unreachable"
        Video.objects.filter(pk=self.pk).update(queue_error=self.queue_error)

    def claim(self, claimant: str = "") -> bool:
        now = timezone.now()
        return self._transition([self.Status.PENDING], status=self.Status.PROCESSING, claimed_by=claimant or "worker",
                                started_at=now, beat_at=now, frames_done=0)

    def beat(self) -> bool:
        """The worker is alive; False when the row is no longer its own (cancelled, deleted, taken over)."""
        return bool(self._mine().update(beat_at=timezone.now()))

    def record_progress(self, frames_done: int, frames_total: int) -> bool:
        self.frames_done, self.frames_total = frames_done, frames_total
        return bool(self._mine().update(frames_done=frames_done, frames_total=frames_total, beat_at=timezone.now()))

    def mark_done(self, **results) -> bool:
        """`results`: model, duration, fps, video_fps, width, height, faces, class_names, frame_times,
        frames_done, frames_total."""
        updated = self._mine().update(status=self.Status.DONE, error="", finished_at=timezone.now(), **results)
        self.refresh_from_db()
        return bool(updated)

    def mark_failed(self, reason: str) -> bool:
        if self.status == self.Status.PROCESSING:
            updated = self._mine().update(status=self.Status.FAILED, error=reason, finished_at=timezone.now())
            self.refresh_from_db()
            return bool(updated)
        return self._transition([self.Status.PENDING], status=self.Status.FAILED, error=reason, finished_at=timezone.now())

    def cancel(self) -> bool:
        """Stop a pending or processing video; its worker notices within a second. False once finished."""
        return self._transition([self.Status.PENDING, self.Status.PROCESSING], status=self.Status.CANCELLED,
                                finished_at=timezone.now())

    def delete_files(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def to_dict(self) -> dict:
        """What the API answers: the results once done."""
        data = {
            "id": str(self.pk),
            "status": self.status,
            "progress": self.progress,
            "model": self.model or None,
            "error": self.error or None,
            "message": NO_FACE if self.no_face_found else None,
            "created_at": self.created_at.isoformat(),
        }
        if self.status == self.Status.DONE:
            data.update(duration=self.duration, fps=self.fps, faces=self.faces)
        return data
