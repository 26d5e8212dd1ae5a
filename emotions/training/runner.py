"""Running one TrainingRun through ml: the code path of the Celery task and of `manage.py train`.

The run is claimed first (a duplicate delivery or a cancelled run does nothing), then `ml.train.fit`
trains into MEDIA_ROOT/runs/<pk>/ while a heartbeat thread keeps the row's heartbeat fresh and watches
for a cancel; the best checkpoint is then scored on PublicTest and PrivateTest.
"""
from __future__ import annotations

import logging
import socket
import traceback
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from emotions.infra.heartbeat import Heartbeat
from emotions.photo_sets.evaluations import evaluate_run_later
from emotions.training import sources
from emotions.training.models import TrainingRun

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0


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
    if not run.mark_running(worker=worker):
        logger.info("run %s is %s, not queued; another delivery or a cancel got there first", run_id, run.status)
        return run

    with RunLog(run, echo=echo) as log, RunHeartbeat(run) as heartbeat:
        try:
            _train(run, log, heartbeat)
        except Exception as error:
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
    resume_from = run.resumed_from.last_checkpoint_path if run.resumed_from else None
    if resume_from is not None and not resume_from.is_file():
        raise FileNotFoundError(f"the checkpoint to resume from is gone: {resume_from}")
    log(f"run {run.pk} of {run.experiment.name!r} on {run.worker}, dataset {run.experiment.dataset.name!r}")

    def on_epoch(result) -> bool:
        run.record_epoch(result)
        return heartbeat.stop_requested.is_set()

    result = sources.train(  # ml's fit, or fine_tune for an ensemble to start from
        config, stores, run.out_dir,
        on_epoch=on_epoch, should_stop=heartbeat.stop_requested.is_set, resume_from=resume_from, log=log,
    )
    checkpoint = _media_name(result.best_checkpoint) if result.best_checkpoint else ""
    run.record_stop(result, checkpoint=checkpoint)
    if result.stop_reason == "cancelled":
        log(f"cancelled after {result.epochs_run} epoch(s); last checkpoint kept for a resume")
        return
    if result.best_checkpoint is None:
        raise RuntimeError("training finished without completing an epoch, so there is no checkpoint")

    # Scored on the data fit() trained on: the same classes, and for a quick run the same sample.
    eval_store = prepare_store(config, stores[0])
    metrics = {
        split: evaluate_checkpoint(result.best_checkpoint, eval_store, split=split, device=config.device)
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


def _media_name(path: Path) -> str:
    return Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()).as_posix()


class RunLog:
    """Log lines go to the run's train.log (shown in the admin) and to `echo`, else the `emotions.training.runner` logger."""

    def __init__(self, run: TrainingRun, echo=None):
        self.path = Path(settings.MEDIA_ROOT) / run.log_file.name
        self.echo = echo
        self.handle = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a", encoding="utf-8", buffering=1)
        return self

    def __call__(self, line: str) -> None:
        line = str(line).rstrip("\n")
        self.handle.write(f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}\n")
        if self.echo is not None:
            self.echo(line)
        else:
            logger.info(line)

    def __exit__(self, *exc_info):
        self.handle.close()


class RunHeartbeat(Heartbeat):
    """Beats the run's heartbeat every TRAINING_HEARTBEAT_SECONDS and, between beats, looks every second for
    a cancel. A killed worker stops beating, and the sweep marks its run failed once the heartbeat is
    TRAINING_STALE_AFTER_SECONDS old."""

    def __init__(self, run: TrainingRun):
        self.run = run
        self.beat_every = settings.TRAINING_HEARTBEAT_SECONDS
        self.since_beat = 0.0
        super().__init__(f"heartbeat-run-{run.pk}", min(CANCEL_POLL_SECONDS, self.beat_every))

    def still_wanted(self) -> bool:
        self.since_beat += self.poll_seconds
        if self.since_beat >= self.beat_every:
            self.since_beat = 0.0
            return self.run.beat()
        return TrainingRun.objects.filter(pk=self.run.pk, status=TrainingRun.Status.RUNNING).exists()
