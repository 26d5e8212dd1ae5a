"""Who may see a photo or a video, and how long it is kept: one rule for every kind of upload.

A person's uploads are their account's when logged in, else their browser session's (an API token acts
as its user). Everything is purged UPLOAD_RETENTION_DAYS after it was uploaded.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class OwnedQuerySet(models.QuerySet):
    """For a model with `owner` (a user or null), `session_owner` and `created_at`."""

    def owned_by(self, user, session_owner: str | None):
        """A person's own: their account's when logged in, else their browser session's."""
        if user is not None and user.is_authenticated:
            return self.filter(owner=user)
        if not session_owner:
            return self.none()
        return self.filter(owner__isnull=True, session_owner=session_owner)

    def expired(self, now=None):
        """Older than UPLOAD_RETENTION_DAYS: photos and videos are kept exactly as long."""
        now = now or timezone.now()
        return self.filter(created_at__lt=now - timedelta(days=settings.UPLOAD_RETENTION_DAYS))
