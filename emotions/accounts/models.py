"""API tokens, a program's key to the API, and failed logins, counted to throttle guessing."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


def _token_hash(secret: str) -> str:
    # A token is 32 random bytes: unguessable, so one fast hash is enough (a password needs a slow one).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)

    def issue(self, user, name: str) -> tuple[ApiToken, str]:
        """A new token for `user`: the row, and the secret, which is shown once and kept only as a hash."""
        token = ApiToken(user=user, name=name)
        secret = token.set_secret()
        token.save()
        return token, secret

    def authenticate(self, secret: str) -> ApiToken | None:
        """The active token with this secret, its user loaded; None for a wrong or revoked one."""
        token = self.active().select_related("user").filter(key_hash=_token_hash(secret), user__is_active=True).first()
        if token is not None:
            now = timezone.now()
            if token.last_used_at is None or now - token.last_used_at > ApiToken.LAST_USED_PRECISION:
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token


class ApiToken(models.Model):
    """A program's key to the API, made by its user on /tokens/ (or by staff in the admin): requests with
    `Authorization: Bearer <secret>` act as that user. Only the secret's SHA-256 is stored."""

    PREFIX = "fer_"
    SHOWN_LENGTH = 12  # "fer_" and 8 characters, enough to tell a user's tokens apart
    LAST_USED_PRECISION = timedelta(minutes=1)  # no write per request

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'lab camera script'.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    shown = models.CharField(max_length=16, editable=False, help_text="The secret's start, to recognise it by.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.shown}...)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def set_secret(self) -> str:
        """A fresh random secret for this (unsaved) token; returned, and kept only as its hash."""
        secret = self.PREFIX + secrets.token_urlsafe(32)
        self.key_hash, self.shown = _token_hash(secret), secret[: self.SHOWN_LENGTH]
        return secret

    def revoke(self) -> bool:
        """False when it was revoked already."""
        now = timezone.now()
        revoked = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now)
        self.refresh_from_db(fields=["revoked_at"])
        return bool(revoked)


class LoginFailureQuerySet(models.QuerySet):
    def recent(self, address: str, now=None):
        now = now or timezone.now()
        return self.filter(address=address, at__gte=now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS))

    def record(self, address: str, username: str = "") -> None:
        now = timezone.now()
        self.create(address=address, username=username[:150], at=now)
        # Old rows only ever get read to be ignored: a failed login clears them as it goes.
        self.filter(at__lt=now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)).delete()

    def refused_for(self, address: str, now=None) -> float:
        """Seconds until `address` may try to log in again: 0 unless it failed LOGIN_FAILURE_LIMIT
        times within LOGIN_FAILURE_WINDOW_SECONDS, then until the oldest of those leaves the window."""
        now = now or timezone.now()
        recent = list(self.recent(address, now).order_by("-at").values_list("at", flat=True)[: settings.LOGIN_FAILURE_LIMIT])
        if len(recent) < settings.LOGIN_FAILURE_LIMIT:
            return 0.0
        free_at = recent[-1] + timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return max(0.0, (free_at - now).total_seconds())


class LoginFailure(models.Model):
    """A failed login from an address (the admin's or /login/): too many in a while and that address is
    refused for a while (emotions.accounts.login_throttle)."""

    address = models.GenericIPAddressField()
    username = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now)

    objects = LoginFailureQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["address", "at"], name="login_failures_by_address")]

    def __str__(self) -> str:
        return f"{self.address} at {self.at:%Y-%m-%d %H:%M:%S}"
