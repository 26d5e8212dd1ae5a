"""Every run scored on real photos: each evaluation set's held-out split (PrivateTest) against every succeeded
run with a checkpoint, the shipped model's recorded run included.

A run is queued for every set when it succeeds (trained here or recorded), a set for every run when it is
marked; each pair is one `emotions.evaluate_run_on_set` task on the `inference` queue that claims its
RunEvaluation row (queued -> running) before scoring, so a duplicate delivery does nothing. The periodic
sweep queues the pairs nobody asked for yet and sends again what the broker lost.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from emotions.infra import dispatch
from emotions.photo_sets.models import RunEvaluation
from emotions.training.models import Dataset, TrainingRun

logger = logging.getLogger(__name__)

EVALUATE_TASK = "emotions.evaluate_run_on_set"  # emotions.photo_sets.tasks.evaluate_run_on_set, inference queue
SPLIT = "private_test"
SEND_GRACE_SECONDS = 30  # a pair saved this recently may still be on its way to the broker
RESEND_AFTER_SECONDS = 600  # a pair sent, or started, longer ago was lost on the way (or its worker died)


def evaluation_sets():
    return Dataset.objects.filter(is_evaluation_set=True, kind=Dataset.Kind.PHOTOS).order_by("name", "pk")


def scorable_runs():
    return TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).exclude(checkpoint="")


def set_evaluation_set(dataset: Dataset, flag: bool) -> None:
    """Mark `dataset` an evaluation set (every run is then scored on it) or no longer one (its scores stay
    kept, out of sight, for if it is marked again)."""
    if flag and dataset.kind != Dataset.Kind.PHOTOS:
        raise ValidationError(f"{dataset.name} is not a photo dataset: only photo datasets can be evaluation sets.")
    with transaction.atomic():
        Dataset.objects.filter(pk=dataset.pk).update(is_evaluation_set=flag)
        dataset.is_evaluation_set = flag
        if flag:
            evaluate_runs_on_set_later(dataset)


def evaluate_runs_on_set_later(dataset: Dataset) -> int:
    return sum(_queue(run, dataset) for run in scorable_runs())


def evaluate_run_later(run: TrainingRun) -> int:
    if not run.can_start_another:
        return 0
    return sum(_queue(run, dataset) for dataset in evaluation_sets())


def _queue(run: TrainingRun, dataset: Dataset) -> bool:
    """The pair queued (again, if it failed before) and sent after the commit; False when scored already."""
    try:
        with transaction.atomic():
            evaluation, created = RunEvaluation.objects.get_or_create(run=run, dataset=dataset)
    except IntegrityError:  # the same pair queued at the same moment elsewhere
        return False
    if not created:
        if not RunEvaluation.objects.filter(pk=evaluation.pk, status=RunEvaluation.Status.FAILED).update(
                status=RunEvaluation.Status.QUEUED, error="", sent_at=None):
            return False
    transaction.on_commit(lambda: send_evaluation(evaluation))
    return True


def send_evaluation(evaluation: RunEvaluation) -> bool:
    try:
        dispatch.send(EVALUATE_TASK, [evaluation.run_id, evaluation.dataset_id])
    except Exception as error:  # Redis down: the sweep sends it again
        logger.warning("evaluation of run %s on set %s not queued: %s", evaluation.run_id, evaluation.dataset_id, error)
        return False
    RunEvaluation.objects.filter(pk=evaluation.pk).update(sent_at=Now())
    return True


def evaluate_run_on_set(run_id: int, dataset_id: int) -> RunEvaluation | None:
    """Score run `run_id` on evaluation set `dataset_id`'s held-out split and keep the metrics; nothing when
    either is gone, the run cannot be scored, the dataset is no longer a set, or the pair is scored or being
    scored already."""
    from ml.evaluate import evaluate_checkpoint

    run = TrainingRun.objects.filter(pk=run_id).first()
    dataset = Dataset.objects.filter(pk=dataset_id, is_evaluation_set=True).first()
    if run is None or dataset is None or not run.can_start_another:
        return None
    evaluation, _ = RunEvaluation.objects.get_or_create(run=run, dataset=dataset)
    claimed = RunEvaluation.objects.filter(pk=evaluation.pk, status=RunEvaluation.Status.QUEUED).update(
        status=RunEvaluation.Status.RUNNING, started_at=Now())
    if not claimed:
        return evaluation
    try:
        metrics = evaluate_checkpoint(run.checkpoint.path, dataset.load_store(), SPLIT, device="cpu")
    except Exception as error:
        logger.warning("run %s on evaluation set %s: %s", run.pk, dataset.pk, error)
        RunEvaluation.objects.filter(pk=evaluation.pk).update(
            status=RunEvaluation.Status.FAILED, error=f"{type(error).__name__}: {error}", finished_at=Now())
    else:
        RunEvaluation.objects.filter(pk=evaluation.pk).update(
            status=RunEvaluation.Status.DONE, metrics=metrics, error="", finished_at=Now())
    evaluation.refresh_from_db()
    return evaluation


def sweep_evaluations(now=None) -> dict[str, int]:
    """Send again the queued pairs the broker lost and the running ones whose worker died, then queue the
    pairs of a scorable run and an evaluation set that have no row yet."""
    # Sending and starting are stamped by the database's clock, creation by the host's: each is judged by its own.
    lost = (now or Now()) - timedelta(seconds=RESEND_AFTER_SECONDS)
    RunEvaluation.objects.filter(status=RunEvaluation.Status.RUNNING, started_at__lt=lost).update(
        status=RunEvaluation.Status.QUEUED, sent_at=None)
    unsent_since = (now or timezone.now()) - timedelta(seconds=SEND_GRACE_SECONDS)
    resend = RunEvaluation.objects.filter(status=RunEvaluation.Status.QUEUED).filter(
        Q(sent_at__isnull=True, created_at__lt=unsent_since) | Q(sent_at__lt=lost))
    sent = sum(send_evaluation(evaluation) for evaluation in resend)
    queued = 0
    for dataset in evaluation_sets():
        queued += sum(_queue(run, dataset) for run in scorable_runs().exclude(photo_evaluations__dataset=dataset))
    return {"evaluations_queued": queued, "evaluations_sent_again": sent}


def evaluations_of(run: TrainingRun) -> list[RunEvaluation]:
    """The run's scores on the current evaluation sets, by set name (what its page shows)."""
    return list(RunEvaluation.objects.filter(run=run, dataset__is_evaluation_set=True).select_related("dataset")
                .order_by("dataset__name", "dataset_id"))
