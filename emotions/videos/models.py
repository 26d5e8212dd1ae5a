"""Video uploads: one row per video sent for analysis, its files under MEDIA_ROOT/videos/<id>/ (the video,
the annotated sampled frames, the CSV). Private exactly as photos are, and purged with them."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from emotions.infra.database_clock import database_now
from emotions.queued_media import QueuedMedia, QueuedMediaQuerySet

NO_FACE = "No face was found in any sampled frame."  # ml.video.NO_FACE, as a sentence


def video_path(video: Video, filename: str) -> str:
    return f"{video.directory_name}/{filename}"


class VideoQuerySet(QueuedMediaQuerySet):
    def stale_claims(self, now=None):
        """Processing, but its worker has not beaten for INFERENCE_STALE_SECONDS: it died mid-video. Judged by
        the database's clock, which stamps the beats too: the worker and the sweep may run on other hosts."""
        return self.filter(status=Video.Status.PROCESSING,
                           beat_at__lt=(now or Now()) - timedelta(seconds=settings.INFERENCE_STALE_SECONDS))


class Video(QueuedMedia):
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
    MEDIA_FOLDER = "videos"
    CSV_NAME = "faces.csv"

    # The fields photos and videos share (session_owner, model, width, error, ...) are QueuedMedia's;
    # session_owner is the same session token as photos' (emotions.uploads.services.SESSION_OWNER).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="videos"
    )
    file = models.FileField(upload_to=video_path, max_length=255)
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes.")
    requested_fps = models.FloatField(help_text="Frames sampled per second, as asked; at most the video's own.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    frames_done = models.PositiveIntegerField(default=0)
    frames_total = models.PositiveIntegerField(default=0, help_text="Frames to sample, from the video's header.")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    fps = models.FloatField(null=True, blank=True, help_text="The sampling rate used.")
    video_fps = models.FloatField(null=True, blank=True, help_text="The video's own frame rate.")
    faces = models.JSONField(default=list, help_text="[{track, frames: [{t, box, label, probabilities}]}]")
    class_names = models.JSONField(default=list)
    frame_times = models.JSONField(default=list, help_text="The annotated frames' times (frames/<index>.jpg).")
    queued_at = models.DateTimeField(default=timezone.now, help_text="When it was last sent for analysis.")
    claimed_by = models.CharField(max_length=200, blank=True, help_text="The worker node analysing it.")
    beat_at = models.DateTimeField(null=True, blank=True, help_text="Its worker's last sign of life.")

    objects = VideoQuerySet.as_manager()

    def frame_path(self, index: int) -> Path:
        return self.directory / "frames" / f"{index:04d}.jpg"

    @property
    def csv_path(self) -> Path:
        return self.directory / self.CSV_NAME

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

    # Status: every change is a conditional UPDATE (mark_sent, mark_failed and the helpers are QueuedMedia's),
    # so a duplicate delivery, a cancel and a stale worker never undo one another.
    def claim(self, claimant: str = "") -> bool:
        return self._transition([self.Status.PENDING], status=self.Status.PROCESSING, claimed_by=claimant or "worker",
                                started_at=database_now(), beat_at=database_now(), frames_done=0)

    def beat(self) -> bool:
        """The worker is alive; False when the row is no longer its own (cancelled, deleted, taken over)."""
        return bool(self._mine().update(beat_at=database_now()))

    def record_progress(self, frames_done: int, frames_total: int) -> bool:
        self.frames_done, self.frames_total = frames_done, frames_total
        return bool(self._mine().update(frames_done=frames_done, frames_total=frames_total, beat_at=database_now()))

    def mark_done(self, **results) -> bool:
        """`results`: model, duration, fps, video_fps, width, height, faces, class_names, frame_times,
        frames_done, frames_total."""
        return self._finish(status=self.Status.DONE, error="", **results)

    def cancel(self) -> bool:
        """Stop a pending or processing video; its worker notices within a second. False once finished."""
        return self._transition([self.Status.PENDING, self.Status.PROCESSING], status=self.Status.CANCELLED,
                                finished_at=timezone.now())

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
