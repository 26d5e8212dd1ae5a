"""Work that spans several records or leaves the process: importing datasets, launching, cancelling,
resuming and deploying runs, and the sweep that keeps runs from getting stuck or lost.

Runs are saved first and sent to the broker after the commit (`transaction.on_commit`), so a worker
never gets a run it cannot read. When Redis is unreachable the run stays saved as queued with the
reason in `queue_error`; the sweep (Celery beat, and every worker at start-up) sends it again.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from emotions.infra import dispatch
from emotions.training import configs
from emotions.training.models import Dataset, Experiment, TrainingRun
from emotions.training.sources import launch_fields

logger = logging.getLogger(__name__)

TRAIN_RUN_TASK = "emotions.train_run"  # emotions.training.tasks.train_run, on the training queue


# Datasets ---------------------------------------------------------------------------------------
def import_dataset(source: str | Path, name: str | None = None, ferplus: str | Path | None = None) -> Dataset:
    """Import FER2013 (CSV, folder or zip) through ml into a store under MEDIA_ROOT and record it; with
    `ferplus`, a FER+ votes file, each face keeps its raters' votes too.

    Raises ml's DataImportError for bad input and ValidationError for a taken name; either way no
    row and no file is left behind.
    """
    from ml.data import import_fer2013

    source = Path(source)
    name = name or source.stem
    if Dataset.objects.filter(name=name).exists():
        raise ValidationError(f"A dataset named {name!r} exists already; choose another name with --name.")
    store = import_fer2013(source, ferplus=ferplus)
    relative = f"datasets/{_slug(name)}-{store.source_checksum[:12]}.npz"
    path = store.save(Path(settings.MEDIA_ROOT) / relative)
    try:
        return Dataset.objects.create(
            name=name,
            source_name=source.name,
            source_checksum=store.source_checksum,
            store_file=relative,
            class_names=list(store.class_names),
            counts=store.counts(),
            report=store.report,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "dataset"


# Launching --------------------------------------------------------------------------------------
def launch_training(experiment: Experiment, user=None, *, send: bool = True) -> TrainingRun:
    """Save a queued run of `experiment` and, once committed, send it to the `training` queue.

    With send=False the caller runs it itself (`manage.py train`). Check `run.queue_error` afterwards
    (outside an atomic block the send has happened by then): non-empty means Redis was unreachable.
    """
    changes, fields = launch_fields(experiment)  # its datasets, their weights and the run it starts from
    config = configs.resolve({**experiment.config, **changes})  # the stored config may predate a change in ml
    with transaction.atomic():
        run = TrainingRun.objects.create(
            experiment=experiment, config=config, launched_by=user, epochs=config["epochs"], **fields
        )
        if send:
            transaction.on_commit(lambda: send_run(run))
    return run


def resume_run(run: TrainingRun, user=None) -> TrainingRun:
    """A new queued run that continues `run` from its last checkpoint (an ensemble fine-tune: from the members
    it finished and the one it stopped in), with the same config."""
    if not run.can_resume:
        raise ValidationError(
            f"Run #{run.pk} cannot be resumed: only a failed or cancelled run with a last checkpoint can."
        )
    with transaction.atomic():
        resumed = TrainingRun.objects.create(
            experiment=run.experiment, config=run.config, launched_by=user, resumed_from=run,
            epoch=run.epoch, epochs=run.epochs, training_data=run.training_data, start_from=run.start_from,
        )
        transaction.on_commit(lambda: send_run(resumed))
    return resumed


def send_run(run: TrainingRun) -> bool:
    """Send a queued run to the broker; on failure keep the reason on the row. True if sent.

    Sending twice is harmless: the task claims the run with a conditional update.
    """
    try:
        result = dispatch.send(TRAIN_RUN_TASK, [run.pk])
    except Exception as error:  # kombu's OperationalError, redis' ConnectionError, a DNS failure...
        logger.warning("run %s saved but not queued: %s", run.pk, error)
        run.mark_send_failed(f"The queue is unreachable ({error}).")
        return False
    run.mark_sent(result.id)
    return True


def cancel_run(run: TrainingRun) -> bool:
    """Stop a queued or running run. The row says 'cancelled' at once; a worker that has the run
    sees it before its next batch, and a queued message is revoked (and would be refused anyway)."""
    if not run.mark_cancelled():
        return False
    if run.task_id:
        from fer_site.celery import app

        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, interval_start=0)  # fail in ms, not seconds
                app.control.revoke(run.task_id, connection=connection)
        except Exception as error:  # the broker is down: the status alone stops the run
            logger.warning("could not revoke task %s of run %s: %s", run.task_id, run.pk, error)
    return True


def deploy_run(run: TrainingRun) -> None:
    run.deploy()


# Keeping runs from getting stuck or lost ----------------------------------------------------------
def fail_stale_runs() -> list[TrainingRun]:
    """Mark failed the running runs whose worker stopped beating (killed, out of memory, host down)."""
    failed = []
    for run in TrainingRun.objects.stale():
        reason = (
            f"The worker {run.worker or '(unknown)'} stopped sending heartbeats (last at "
            f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC): it was killed, ran out of memory or lost its host."
        )
        if run.mark_failed(_with_resume_hint(run, reason)):
            logger.warning("run %s: %s", run.pk, reason)
            failed.append(run)
    return failed


def fail_runs_of_restarted_worker(worker: str) -> list[TrainingRun]:
    """At a worker's start-up: runs still 'running' under its node name belong to its previous life."""
    failed = []
    for run in TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, worker=worker):
        reason = f"The worker {worker} stopped while running this run (it has restarted since)."
        if run.mark_failed(_with_resume_hint(run, reason)):
            logger.warning("run %s: %s", run.pk, reason)
            failed.append(run)
    return failed


def _with_resume_hint(run: TrainingRun, reason: str) -> str:
    if run.last_checkpoint_path.is_file():
        return f"{reason} It can be resumed from its last checkpoint (epoch {run.epoch})."
    return reason


def resend_unsent_runs() -> list[TrainingRun]:
    return [run for run in TrainingRun.objects.unsent() if send_run(run)]


def sweep_runs() -> dict[str, int]:
    failed = fail_stale_runs()
    sent = resend_unsent_runs()
    return {"failed": len(failed), "sent": len(sent)}


def score_runs_on_ferplus(runs=None) -> list[TrainingRun]:
    """Add FER+ majority scores to succeeded runs recorded without them, where the weights are at hand and
    the run's data set has votes. Returns the runs scored."""
    from ml.evaluate import evaluate_checkpoint

    runs = runs if runs is not None else TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED)
    scored = []
    stores = {}
    for run in runs.select_related("experiment__dataset").exclude(checkpoint=""):
        dataset = run.experiment.dataset
        if not dataset.has_votes or all("ferplus" in (m or {}) for m in (run.public_test_metrics, run.private_test_metrics)):
            continue
        if not Path(run.checkpoint.path).is_file():
            continue
        if dataset.pk not in stores:
            stores[dataset.pk] = dataset.load_store()
        from ml.train import TrainConfig, prepare_store

        try:
            store = prepare_store(TrainConfig.from_dict(run.config), stores[dataset.pk])
        except ValueError:
            store = stores[dataset.pk]  # an ensemble's or imported run's config: scored on the whole store
        metrics = {split: evaluate_checkpoint(run.checkpoint.path, store, split, device="cpu")
                   for split in ("public_test", "private_test")}
        TrainingRun.objects.filter(pk=run.pk).update(
            public_test_metrics=metrics["public_test"], private_test_metrics=metrics["private_test"])
        scored.append(run)
    return scored
