"""Training's Celery tasks: thin, take a primary key, safe to deliver twice. The work is in
emotions.training.runner and emotions.training.services; progress and outcome go on the rows, not in a
result backend. Nothing imports this module but Celery (and tests): services send tasks by name."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError

from emotions.training import runner, services

logger = logging.getLogger(__name__)


# Queues are set in settings.CELERY_TASK_ROUTES: train_run -> training; sweep_runs -> inference.
#
# acks_late: a run whose worker dies is redelivered, and the redelivery finds the run claimed (or
# failed by the sweep) and does nothing; no auto-retry, since a run that raised is recorded as failed.
@shared_task(name="emotions.train_run", acks_late=True, ignore_result=True)
def train_run(run_id: int) -> None:
    runner.execute_run(run_id, worker=train_run.request.hostname or runner.default_worker_name())


# On the CPU queue, whose worker is never busy with a long training run.
@shared_task(
    name="emotions.sweep_runs", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def sweep_runs() -> dict[str, int]:
    return services.sweep_runs()


@worker_ready.connect
def settle_runs_at_start_up(sender, **kwargs) -> None:
    """A worker starting under a node name proves that name's previous process is gone: its runs failed.
    Then the general sweep, so a restart also settles stale and unsent runs at once."""
    try:
        services.fail_runs_of_restarted_worker(sender.hostname)
        services.sweep_runs()
    except Exception:  # never keep a worker from starting; the periodic sweep will try again
        logger.exception("start-up sweep of runs failed")
