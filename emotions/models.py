"""Experiment records: imported datasets, experiments (a config on a dataset), their training runs.

A TrainingRun's status is the one source of truth for the web app and the workers alike. Every change
of status is a conditional UPDATE (`filter(pk=..., status=...).update(...)`), so a duplicate task
delivery, a late worker and a cancel from the admin can race without one undoing another.
"""
from __future__ import annotations

import hashlib
import secrets
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from emotions import configs


class Dataset(models.Model):
    """An imported FER2013 store: one .npz under MEDIA_ROOT, made by `manage.py import_fer2013`."""

    name = models.CharField(max_length=100, unique=True)
    source_name = models.CharField(max_length=255, help_text="The file or folder it was imported from.")
    source_checksum = models.CharField(max_length=64, help_text="SHA-256 of the source.")
    store_file = models.FileField(upload_to="datasets/", max_length=255)
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

    def num_images(self, split: str | None = None) -> int:
        splits = [split] if split else self.counts.keys()
        return sum(sum(self.counts.get(name, {}).values()) for name in splits)

    def load_store(self):
        from ml.data import FerStore

        return FerStore.load(self.store_path)


class Experiment(models.Model):
    """A training config on a dataset. `config` holds the resolved config, every key spelt out."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    preset = models.CharField(max_length=100, blank=True, help_text="The configs/*.yaml it started from.")
    config = models.JSONField(default=dict)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="experiments")
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


class TrainingRunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=TrainingRun.ACTIVE)

    def stale(self, now=None):
        """Running runs whose worker has stopped beating: it was killed or ran out of memory."""
        now = now or timezone.now()
        cutoff = now - timedelta(seconds=settings.TRAINING_STALE_AFTER_SECONDS)
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
    def can_resume(self) -> bool:
        return self.status in (self.Status.FAILED, self.Status.CANCELLED) and self.last_checkpoint_path.is_file()

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
        now = timezone.now()
        return self._transition(
            [self.Status.QUEUED],
            status=self.Status.RUNNING, worker=worker, device=device, started_at=now, heartbeat_at=now,
            log_file=f"{self.out_dir_name}/train.log", epochs=self.config.get("epochs", 0), error="",
        )

    def beat(self) -> bool:
        """Record that the worker is alive. False when the run is no longer running (cancelled)."""
        return bool(
            TrainingRun.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(heartbeat_at=timezone.now())
        )

    def record_epoch(self, result) -> None:
        """Store one epoch of ml's EpochResult (idempotent per epoch) and move the progress on."""
        values = result.to_dict()
        EpochMetric.objects.update_or_create(
            run=self, epoch=values["epoch"], defaults={f: values[f] for f in EpochMetric.RESULT_FIELDS}
        )
        changes = {"epoch": values["epoch"], "epochs": values["epochs"], "heartbeat_at": timezone.now()}
        if values["is_best"]:
            changes["best_epoch"] = values["epoch"]
        TrainingRun.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(**changes)

    def record_stop(self, result, checkpoint: str = "") -> None:
        """What the training loop left behind, whatever the status is now (a cancel keeps its files)."""
        self.stop_reason, self.device = result.stop_reason, result.device
        self.best_epoch = result.best_epoch or None
        self.checkpoint = checkpoint
        self.save(update_fields=["stop_reason", "device", "best_epoch", "checkpoint"])

    def mark_succeeded(self, public_test_metrics: dict, private_test_metrics: dict) -> bool:
        return self._transition(
            [self.Status.RUNNING],
            status=self.Status.SUCCEEDED, finished_at=timezone.now(),
            public_test_metrics=public_test_metrics, private_test_metrics=private_test_metrics,
        )

    def mark_failed(self, reason: str) -> bool:
        return self._transition(
            self.ACTIVE, status=self.Status.FAILED, error=reason, finished_at=timezone.now()
        )

    def mark_cancelled(self) -> bool:
        return self._transition(self.ACTIVE, status=self.Status.CANCELLED, finished_at=timezone.now())

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
        "images_per_second", "is_best",
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

    class Meta:
        ordering = ["run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="one_metric_per_epoch")]

    def __str__(self) -> str:
        return f"{self.run} epoch {self.epoch}"


# Uploads ------------------------------------------------------------------------------------------
def upload_path(upload: Upload, filename: str) -> str:
    return f"{upload.directory_name}/{filename}"


class UploadQuerySet(models.QuerySet):
    def owned_by(self, user, session_owner: str | None):
        """A person's own uploads: their account's when logged in, else their browser session's."""
        if user is not None and user.is_authenticated:
            return self.filter(owner=user)
        if not session_owner:
            return self.none()
        return self.filter(owner__isnull=True, session_owner=session_owner)

    def expired(self, now=None):
        now = now or timezone.now()
        return self.filter(created_at__lt=now - timedelta(days=settings.UPLOAD_RETENTION_DAYS))

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


# API tokens and logins -------------------------------------------------------------------------------
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
    refused for a while (emotions.login_throttle)."""

    address = models.GenericIPAddressField()
    username = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now)

    objects = LoginFailureQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["address", "at"], name="login_failures_by_address")]

    def __str__(self) -> str:
        return f"{self.address} at {self.at:%Y-%m-%d %H:%M:%S}"
