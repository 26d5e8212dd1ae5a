"""Uploads' Celery tasks: thin, take a primary key, safe to deliver twice. The work is in
emotions.uploads.services; the outcome goes on the row. Nothing imports this module but Celery (and
tests): services send tasks by name."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError

from emotions.infra import worker_signals
from emotions.uploads import services

logger = logging.getLogger(__name__)


# Queues are set in settings.CELERY_TASK_ROUTES: all of these -> inference.
#
# The upload is claimed with a conditional update, so a redelivery, or the web process having
# predicted it already (no worker answered in time), makes this a no-op.
@shared_task(name="emotions.predict_upload", acks_late=True, ignore_result=True)
def predict_upload(upload_id: str) -> None:
    if services.predict(upload_id, "worker", claimant=predict_upload.request.hostname or "") is not None:
        worker_signals.announce_finished(upload_id)


@shared_task(
    name="emotions.sweep_uploads", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def sweep_uploads() -> dict[str, int]:
    return services.sweep_uploads()


@shared_task(name="emotions.purge_old_uploads", acks_late=True, ignore_result=True)
def purge_old_uploads() -> int:
    return services.purge_old_uploads()


@worker_ready.connect
def settle_uploads_at_start_up(sender, **kwargs) -> None:
    """An inference worker starts beating its heartbeat (the web process then leaves uploads to it); its
    node name's previous process is gone, so the uploads that one had claimed are pending again. Then
    the general sweep, so a restart also settles stale and unsent uploads at once."""
    if "inference" not in sender.app.amqp.queues.consume_from:
        return
    worker_signals.start_beating(sender.hostname)
    try:
        services.release_claims_of(sender.hostname)
        services.sweep_uploads()
    except Exception:  # never keep a worker from starting; the periodic sweep will try again
        logger.exception("start-up sweep of uploads failed")
