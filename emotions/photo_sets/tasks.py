"""Photo datasets' Celery tasks: thin, take primary keys, safe to deliver twice (each claims its row with a
conditional update). The work is in emotions.photo_sets.imports and .evaluations; progress and outcome go
on the rows. Nothing imports this module but Celery (and tests): services send tasks by name."""
from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from emotions.photo_sets import evaluations, imports


# Queues are set in settings.CELERY_TASK_ROUTES: all of these -> inference (CPU work).
@shared_task(name="emotions.import_photos", acks_late=True, ignore_result=True)
def import_photos(import_id: int) -> None:
    imports.run_photo_import(import_id, worker=import_photos.request.hostname or "")


@shared_task(name="emotions.evaluate_run_on_set", acks_late=True, ignore_result=True)
def evaluate_run_on_set(run_id: int, dataset_id: int) -> None:
    evaluations.evaluate_run_on_set(run_id, dataset_id)


@shared_task(
    name="emotions.sweep_photo_sets", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def sweep_photo_sets() -> dict[str, int]:
    return {**imports.sweep_photo_imports(), **evaluations.sweep_evaluations()}
