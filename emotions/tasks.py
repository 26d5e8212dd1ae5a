"""Celery tasks: thin, take a primary key, safe to deliver twice. The work is in emotions.training and
emotions.services; progress and outcome go on the rows, not in a result backend."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError

from emotions import services, training, uploads, worker_signals

logger = logging.getLogger(__name__)


# Queues are set in settings.CELERY_TASK_ROUTES: train_run -> training; sweep_runs, predict_upload,
# sweep_uploads and purge_old_uploads -> inference.
#
# acks_late: a run whose worker dies is redelivered, and the redelivery finds the run claimed (or
# failed by the sweep) and does nothing; no auto-retry, since a run that raised is recorded as failed.
@shared_task(name="emotions.train_run", acks_late=True, ignore_result=True)
def train_run(run_id: int) -> None:
    training.execute_run(run_id, worker=train_run.request.hostname or training.default_worker_name())


# On the CPU queue, whose worker is never busy with a long training run.
@shared_task(
    name="emotions.sweep_runs", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def sweep_runs() -> dict[str, int]:
    return services.sweep_runs()


# The upload is claimed with a conditional update, so a redelivery, or the web process having
# predicted it already (no worker answered in time), makes this a no-op.
@shared_task(name="emotions.predict_upload", acks_late=True, ignore_result=True)
def predict_upload(upload_id: str) -> None:
    if uploads.predict(upload_id, "worker", claimant=predict_upload.request.hostname or "") is not None:
        worker_signals.announce_finished(upload_id)


@shared_task(
    name="emotions.sweep_uploads", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def sweep_uploads() -> dict[str, int]:
    return uploads.sweep_uploads()


@shared_task(name="emotions.purge_old_uploads", acks_late=True, ignore_result=True)
def purge_old_uploads() -> int:
    return uploads.purge_old_uploads()


@worker_ready.connect
def sweep_at_start_up(sender, **kwargs) -> None:
    """A worker starting under a node name proves that name's previous process is gone: its runs
    failed, and the uploads it had claimed are pending again. Then the general sweeps, so a restart
    also settles stale and unsent runs and uploads at once."""
    consumes_inference = "inference" in sender.app.amqp.queues.consume_from
    if consumes_inference:
        worker_signals.start_beating(sender.hostname)
    try:
        services.fail_runs_of_restarted_worker(sender.hostname)
        services.sweep_runs()
        if consumes_inference:
            uploads.release_claims_of(sender.hostname)
            uploads.sweep_uploads()
    except Exception:  # never keep a worker from starting; the periodic sweep will try again
        logger.exception("start-up sweep failed")
