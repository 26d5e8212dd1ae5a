"""Running one TrainingRun through ml: the code path of the Celery task and of `manage.py train`.

The run is claimed first (a duplicate delivery or a cancelled run does nothing), then `ml.train.fit`
trains into MEDIA_ROOT/runs/<pk>/ while a heartbeat thread keeps the row's heartbeat fresh and watches
for a cancel; the best checkpoint is then scored on PublicTest and PrivateTest.

A worker cut off from the database cannot tell the sweep it is alive, and after
TRAINING_STALE_AFTER_SECONDS the sweep fails the run, which may then be resumed elsewhere. So the
worker holds the run on a lease: when no heartbeat has reached the database for half that time, it
stops at the next batch and writes nothing more to the run (row, log or checkpoint), before the sweep
could have given the run away.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from emotions.infra.heartbeat import Heartbeat
from emotions.photo_sets.evaluations import evaluate_run_later
from emotions.training import sources
from emotions.training.models import TrainingRun

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0
RECORD_RETRY_SECONDS = 1.0
LEASE_SHARE = 0.5  # of TRAINING_STALE_AFTER_SECONDS: the rest is the margin for the epoch under way to stop


def default_worker_name() -> str:
    return f"local@{socket.gethostname()}"


def execute_run(run_id: int, *, worker: str, echo=None) -> TrainingRun | None:
    """Claim run `run_id` for `worker` and train it to an outcome recorded on the row.

    Returns the run as it ends, or None if it no longer exists. `echo` also gets each log line.
    """
    run = TrainingRun.objects.select_related("experiment__dataset", "resumed_from").filter(pk=run_id).first()
    if run is None:
        logger.info("run %s is gone; nothing to do", run_id)
        return None
    claimed = time.monotonic()  # the lease starts when the claim, which sets the heartbeat, is sent
    if not run.mark_running(worker=worker):
        logger.info("run %s is %s, not queued; another delivery or a cancel got there first", run_id, run.status)
        return run

    with RunLog(run, echo=echo) as log, RunHeartbeat(run, claimed) as heartbeat:
        try:
            _train(run, log, heartbeat)
        except Exception as error:
            if heartbeat.lease_lost():
                _let_go(run, log, heartbeat, None if isinstance(error, LeaseLost) else error)
                return run
            log(traceback.format_exc())
            reason = f"{type(error).__name__}: {error}"
            run.mark_failed(reason)
            log(f"run failed: {reason}")
        except (KeyboardInterrupt, SystemExit):
            run.mark_failed("Interrupted: the worker was shut down during the run.")
            log("interrupted; the run can be resumed from its last checkpoint")
            raise
    run.refresh_from_db()
    return run


def _train(run: TrainingRun, log, heartbeat: RunHeartbeat) -> None:
    from ml.evaluate import evaluate_checkpoint, resolve_device
    from ml.train import TrainConfig, prepare_store

    config = TrainConfig.from_dict(run.config)
    TrainingRun.objects.filter(pk=run.pk).update(device=str(resolve_device(config.device)))
    stores = sources.training_stores(run, log)  # the one that validates and scores first
    start = sources.start_checkpoint(run)
    if start is not None:
        config = config.replace(init_from=str(start))  # this host's path to the model it fine-tunes
    resume_from = None
    if run.resumed_from is not None:
        if not run.resumed_from.can_resume:
            raise FileNotFoundError(f"the checkpoint to resume from is gone: {run.resumed_from.last_checkpoint_path}")
        resume_from = run.resumed_from.resume_point
    log(f"run {run.pk} of {run.experiment.name!r} on {run.worker}, dataset {run.experiment.dataset.name!r}")

    def on_epoch(result) -> bool:
        while not heartbeat.lease_lost():
            try:
                recorded = run.record_epoch(result)  # False once the run is cancelled or was given up on
            except (OperationalError, InterfaceError) as error:  # restarting, or out of reach: again, within the lease
                logger.warning("run %s: epoch %s not recorded yet: %s", run.pk, result.epoch, error)
                close_old_connections()
                time.sleep(RECORD_RETRY_SECONDS)
                continue
            return not recorded or heartbeat.should_stop()
        return True

    result = sources.train(  # ml's fit, or fine_tune for an ensemble to start from
        config, stores, run.out_dir,
        on_epoch=on_epoch, should_stop=heartbeat.should_stop, resume_from=resume_from, log=log,
    )
    if heartbeat.lease_lost():
        raise LeaseLost()
    best = result.best_checkpoint or _best_before_resuming(run)
    checkpoint = _media_name(best) if best else ""
    run.record_stop(result, checkpoint=checkpoint)
    if result.stop_reason == "cancelled":
        log(f"cancelled after {result.epochs_run} epoch(s); last checkpoint kept for a resume")
        return
    if best is None:
        raise RuntimeError("training finished without completing an epoch, so there is no checkpoint")

    # Scored on the data fit() trained on: the same classes, and for a quick run the same sample.
    eval_store = prepare_store(config, stores[0])
    metrics = {
        split: evaluate_checkpoint(best, eval_store, split=split, device=config.device)
        for split in ("public_test", "private_test")
    }
    if run.mark_succeeded(public_test_metrics=metrics["public_test"], private_test_metrics=metrics["private_test"]):
        log(
            f"succeeded: best epoch {result.best_epoch}, PublicTest accuracy {metrics['public_test']['accuracy']:.4f}, "
            f"PrivateTest accuracy {metrics['private_test']['accuracy']:.4f}"
        )
        evaluate_run_later(run)  # and on each evaluation set's photos, by an inference worker
    else:
        log(f"finished training, but the run is {run.status} now; its outcome is left as it is")


def _best_before_resuming(run: TrainingRun) -> Path | None:
    """A resumed run none of whose epochs beat the best one before it (the loop carries the best score on)
    has that epoch's weights as its own: copied into its folder from the run that saved them."""
    previous = run.resumed_from
    while previous is not None:
        saved = previous.out_dir / "best.pt"
        if saved.is_file():
            own = run.out_dir / "best.pt"
            partial = own.with_name("best.pt.partial")
            shutil.copyfile(saved, partial)
            os.replace(partial, own)
            return own
        previous = previous.resumed_from
    return None


class LeaseLost(Exception):
    """The training loop stopped because no heartbeat reached the database in time."""


def _let_go(run: TrainingRun, log: RunLog, heartbeat: RunHeartbeat, error: Exception | None = None) -> None:
    """The lease ran out: the sweep may have given the run to another worker. Not another word to the run's
    log; the row is marked failed only if it is still running (the database was slow, not gone)."""
    log.detach()
    silent = heartbeat.seconds_since_confirmed()
    why = f" ({type(error).__name__}: {error})" if error is not None else ""
    logger.warning(
        "run %s let go: no heartbeat reached the database for %.0fs%s, so the sweep may give the run to another "
        "worker; nothing more is written to it", run.pk, silent, why,
    )
    reason = (f"The worker {run.worker} lost the database for {silent:.0f}s and stopped, so as not to write beside "
              f"a worker that may have taken the run over. It can be resumed from its last checkpoint.")
    try:
        run.mark_failed(reason)
    except Exception as failure:  # still unreachable: the sweep will say it
        logger.warning("run %s: could not record that it was let go: %s", run.pk, failure)


def _media_name(path: Path) -> str:
    return Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()).as_posix()


class RunLog:
    """Log lines go to the run's train.log (shown in the admin) and to `echo`, else the `emotions.training.runner` logger."""

    def __init__(self, run: TrainingRun, echo=None):
        self.path = Path(settings.MEDIA_ROOT) / run.log_file.name
        self.echo = echo
        self.handle = None
        self.detached = False

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a", encoding="utf-8", buffering=1)
        return self

    def __call__(self, line: str) -> None:
        line = str(line).rstrip("\n")
        if not self.detached:
            self.handle.write(f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}\n")
        if self.echo is not None:
            self.echo(line)
        else:
            logger.info(line)

    def detach(self) -> None:
        """From now on lines go to `echo` or the logger only: the run's file is no longer this worker's."""
        self.detached = True
        self.handle.close()

    def __exit__(self, *exc_info):
        self.handle.close()


class RunHeartbeat(Heartbeat):
    """Beats the run's heartbeat every TRAINING_HEARTBEAT_SECONDS and, between beats, looks every second for
    a cancel. A killed worker stops beating, and the sweep marks its run failed once the heartbeat is
    TRAINING_STALE_AFTER_SECONDS old.

    The lease: `lease_lost()` once no beat sent within the last LEASE_SHARE of that time has reached the
    database. Measured on this host's monotonic clock from when the last good beat was sent, which is no
    later than the time the database stamped on it, so the worker stops before the sweep can see it stale
    (and a beat stuck on a dead connection counts for nothing)."""

    def __init__(self, run: TrainingRun, claimed: float | None = None):
        self.run = run
        self.beat_every = settings.TRAINING_HEARTBEAT_SECONDS
        self.since_beat = 0.0
        self.lease_seconds = settings.TRAINING_STALE_AFTER_SECONDS * LEASE_SHARE
        self.confirmed = time.monotonic() if claimed is None else claimed
        super().__init__(f"heartbeat-run-{run.pk}", min(CANCEL_POLL_SECONDS, self.beat_every))

    def still_wanted(self) -> bool:
        self.since_beat += self.poll_seconds
        if self.since_beat >= self.beat_every:
            self.since_beat = 0.0
            sent = time.monotonic()
            if not self.run.beat():
                return False
            self.confirmed = sent
            return True
        return TrainingRun.objects.filter(pk=self.run.pk, status=TrainingRun.Status.RUNNING).exists()

    def seconds_since_confirmed(self) -> float:
        return time.monotonic() - self.confirmed

    def lease_lost(self) -> bool:
        return self.seconds_since_confirmed() > self.lease_seconds

    def should_stop(self) -> bool:
        """Asked by the training loop before every batch: cancelled, given up on, or the lease ran out."""
        return self.stop_requested.is_set() or self.lease_lost()
