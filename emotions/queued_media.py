"""What a photo and a video sent for prediction share: who owns it, where its files live, and its way
through the queue to a worker (pending, processing, then finished), every status change a conditional
UPDATE. Upload (emotions.uploads) and Video (emotions.videos) are the two kinds."""
from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from emotions.accounts.ownership import OwnedQuerySet


class QueuedMediaQuerySet(OwnedQuerySet):  # owned_by() and expired(): the privacy and retention rule
    def to_send_again(self, now=None):
        """Pending rows no worker will get without a new message: the send failed (the broker was down),
        never happened (the web process died right after the commit), or was lost (Redis died before
        writing it to disk); a duplicate message is harmless, since the claim is conditional."""
        now = now or timezone.now()
        grace = now - timedelta(seconds=self.model.SEND_GRACE_SECONDS)
        lost = now - timedelta(seconds=settings.INFERENCE_STALE_SECONDS)
        return self.filter(status=self.model.Status.PENDING).filter(
            models.Q(queue_error__gt="")
            | models.Q(sent_at__isnull=True, queued_at__lt=grace)
            | models.Q(sent_at__lt=lost)
        )


class QueuedMedia(models.Model):
    """A file someone sent for prediction, kept under MEDIA_ROOT/<MEDIA_FOLDER>/<id>/.

    The id is a UUID: unguessable, so one sent through the API without a session or account can be
    fetched by whoever holds its id and by nobody else. Each kind adds what differs: its `Status`
    choices (at least PENDING, PROCESSING, DONE and FAILED) and `FINISHED`, and its `owner`, `status`,
    `queued_at`, `claimed_by` and `faces` fields, whose related name, choices and help texts are its own.
    (`owner` stays there too: a related_name of "%(class)ss" here would read to makemigrations as a change.)
    """

    MEDIA_FOLDER = ""  # "uploads", "videos": the folder under MEDIA_ROOT
    SEND_GRACE_SECONDS = 10

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A random token kept in the anonymous uploader's session data (not the session key, which Django
    # changes at login): their photos and videos follow them into the account they log in to.
    session_owner = models.CharField(max_length=64, blank=True, db_index=True)
    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=50)
    model = models.CharField(max_length=100, blank=True, help_text='"run <id>" or "shipped".')
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The broker took it at sent_at; queue_error says why the last send failed (the broker was down).
    sent_at = models.DateTimeField(null=True, blank=True)
    queue_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = QueuedMediaQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name or self._meta.model_name} ({self.pk})"

    @property
    def directory_name(self) -> str:
        return f"{self.MEDIA_FOLDER}/{self.pk}"

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.directory_name

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def no_face_found(self) -> bool:
        return self.status == self.Status.DONE and not self.faces

    def is_visible_to(self, user, session_owner: str | None) -> bool:
        """The account, else the browser session, else the id: OwnedQuerySet.owned_by's rule, for one row."""
        if self.owner_id is not None:
            return user is not None and user.is_authenticated and user.pk == self.owner_id
        if self.session_owner:
            return bool(session_owner) and session_owner == self.session_owner
        return True  # an anonymous API upload: holding the UUID is the permission

    # Status: every change is a conditional UPDATE, so a duplicate delivery, the web fallback, a cancel and
    # a stale worker never both run one nor undo one another.
    def _transition(self, from_statuses, **changes) -> bool:
        updated = type(self).objects.filter(pk=self.pk, status__in=from_statuses).update(**changes)
        self.refresh_from_db()
        return bool(updated)

    def _mine(self):
        """This row while still under the claim this object made: a claimant that was given up on (stale)
        cannot overwrite the one that took over."""
        return type(self).objects.filter(pk=self.pk, status=self.Status.PROCESSING, started_at=self.started_at)

    def _finish(self, **changes) -> bool:
        updated = self._mine().update(finished_at=timezone.now(), **changes)
        self.refresh_from_db()
        return bool(updated)

    def mark_sent(self) -> None:
        self.sent_at, self.queue_error = timezone.now(), ""
        type(self).objects.filter(pk=self.pk).update(sent_at=self.sent_at, queue_error="")

    def mark_send_failed(self, reason: str) -> None:
        self.queue_error = reason or "the queue is unreachable"
        type(self).objects.filter(pk=self.pk).update(queue_error=self.queue_error)

    def mark_failed(self, reason: str) -> bool:
        if self.status == self.Status.PROCESSING:
            return self._finish(status=self.Status.FAILED, error=reason)
        return self._transition([self.Status.PENDING], status=self.Status.FAILED, error=reason, finished_at=timezone.now())

    def delete_files(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
