"""Runs whose worker and sweep sit on different hosts: the times they compare are the database's, never a
host's own clock, and a worker that has lost the database lets its run go before the sweep can give
the run to another worker, and writes nothing more to it."""
import logging
import time
from datetime import datetime, timedelta
from datetime import timezone as tz

import pytest
from django.db import OperationalError
from django.utils import timezone

import ml.train
from emotions.models import EpochMetric, TrainingRun
from emotions.training import runner, services

FIVE_MINUTES = timedelta(minutes=5)


class FakeEpoch:
    def __init__(self, epoch):
        self.epoch = epoch
        self.values = dict(
            epoch=epoch, epochs=2, train_loss=1.0, train_acc=0.4, val_loss=1.1, val_acc=0.5, val_macro_f1=0.3,
            lr=1e-3, seconds=1.5, images_per_second=200.0, is_best=True,
        )

    def to_dict(self):
        return dict(self.values)


@pytest.fixture
def run(experiment):
    return TrainingRun.objects.create(experiment=experiment, config=experiment.config, epochs=2)


def clock_off_by(monkeypatch, offset: timedelta):
    """This process's idea of now is `offset` from the truth (the database's clock is the truth)."""
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset)


def seconds_from_now(moment) -> float:
    return abs((datetime.now(tz.utc) - moment).total_seconds())


# The database's clock ------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.database
def test_a_worker_whose_clock_is_behind_beats_fresh_by_the_databases_clock(run, monkeypatch):
    clock_off_by(monkeypatch, -FIVE_MINUTES)  # gpu2's clock
    run.mark_running(worker="training-gpu0@gpu2")
    assert run.beat()
    run.refresh_from_db()
    assert seconds_from_now(run.started_at) < 60 and seconds_from_now(run.heartbeat_at) < 60
    monkeypatch.undo()
    assert list(TrainingRun.objects.stale()) == []
    assert services.fail_stale_runs() == []


@pytest.mark.django_db
@pytest.mark.database
def test_a_sweep_whose_clock_is_ahead_still_judges_silence_by_the_databases_clock(experiment, run, settings, monkeypatch):
    settings.TRAINING_STALE_AFTER_SECONDS = 60
    run.mark_running(worker="training-gpu0@gpu1")  # beat just now
    silent = TrainingRun.objects.create(experiment=experiment, status="running", worker="training-gpu0@gpu2",
                                        heartbeat_at=timezone.now() - timedelta(seconds=90))
    clock_off_by(monkeypatch, FIVE_MINUTES)  # the host the sweep runs on
    assert list(TrainingRun.objects.stale()) == [silent]
    assert services.fail_stale_runs() == [silent]
    run.refresh_from_db()
    assert run.status == "running"


@pytest.mark.django_db
@pytest.mark.database
def test_the_outcome_of_a_run_is_stamped_with_the_databases_clock(run, monkeypatch):
    clock_off_by(monkeypatch, -FIVE_MINUTES)
    run.mark_running(worker="training-gpu0@gpu2")
    run.mark_succeeded(public_test_metrics={}, private_test_metrics={})
    assert seconds_from_now(run.finished_at) < 60 and run.finished_at >= run.started_at


# Nothing written to a run given up on ------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.database
def test_an_epoch_of_a_run_failed_meanwhile_is_not_recorded(run):
    run.mark_running(worker="training-gpu0@gpu1")
    assert run.record_epoch(FakeEpoch(1))
    TrainingRun.objects.get(pk=run.pk).mark_failed("The worker stopped sending heartbeats")  # the sweep, elsewhere
    assert not run.record_epoch(FakeEpoch(2))
    run.refresh_from_db()
    assert run.epoch == 1 and list(EpochMetric.objects.filter(run=run).values_list("epoch", flat=True)) == [1]


@pytest.mark.django_db
@pytest.mark.database
def test_the_training_loops_outcome_is_not_written_over_a_run_failed_meanwhile(run):
    run.mark_running(worker="training-gpu0@gpu1")
    TrainingRun.objects.get(pk=run.pk).mark_failed("The worker stopped sending heartbeats")
    outcome = ml.train.FitResult(best_checkpoint=None, last_checkpoint=None, best_epoch=3, epochs_run=3,
                                 stop_reason="cancelled", history=[], device="cpu")
    assert not run.record_stop(outcome, checkpoint=f"runs/{run.pk}/best.pt")
    assert (run.status, run.stop_reason, run.checkpoint.name, run.best_epoch) == ("failed", "", "", None)


@pytest.mark.django_db
@pytest.mark.database
def test_a_cancelled_run_still_keeps_what_its_loop_left(run):
    run.mark_running(worker="training-gpu0@gpu1")
    run.mark_cancelled()
    outcome = ml.train.FitResult(best_checkpoint=None, last_checkpoint=None, best_epoch=1, epochs_run=1,
                                 stop_reason="cancelled", history=[], device="cpu")
    assert run.record_stop(outcome, checkpoint=f"runs/{run.pk}/best.pt")
    assert (run.stop_reason, run.checkpoint.name, run.best_epoch) == ("cancelled", f"runs/{run.pk}/best.pt", 1)


# The worker's lease ----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_worker_cut_off_from_the_database_lets_its_run_go_before_the_sweep_could(run, monkeypatch, settings, caplog):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.1
    settings.TRAINING_STALE_AFTER_SECONDS = 2  # the lease: 1 s

    def unreachable(self):
        raise OperationalError("connection to server at 10.0.0.10 failed: timeout expired")

    seen = {}

    def fit_until_stopped(config, store, out_dir, *, should_stop, log, **kwargs):
        started = time.monotonic()
        while not should_stop():  # before each batch
            assert time.monotonic() - started < 10, "should_stop never turned True"
            time.sleep(0.02)
        seen["stopped_after"] = time.monotonic() - started
        return ml.train.FitResult(best_checkpoint=None, last_checkpoint=None, best_epoch=0, epochs_run=0,
                                  stop_reason="cancelled", history=[], device="cpu")

    monkeypatch.setattr(TrainingRun, "beat", unreachable)
    monkeypatch.setattr(ml.train, "fit", fit_until_stopped)
    with caplog.at_level(logging.WARNING, logger="emotions.training.runner"):
        finished = runner.execute_run(run.pk, worker="training-gpu0@gpu1")

    assert 0.9 < seen["stopped_after"] < 2, seen  # within its lease, before the sweep may see it stale
    assert f"run {run.pk} let go: no heartbeat reached the database" in caplog.text
    finished.refresh_from_db()
    # The database was only slow for this worker's heartbeats: the run is failed by the worker itself.
    assert finished.status == "failed" and "lost the database" in finished.error
    assert "resumed from its last checkpoint" in finished.error
    assert finished.stop_reason == "" and "cancelled after" not in finished.log_tail()


@pytest.mark.django_db(transaction=True)
def test_an_epoch_the_database_could_not_take_is_recorded_once_it_answers_again(run, monkeypatch, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.1
    monkeypatch.setattr(runner, "RECORD_RETRY_SECONDS", 0.05)
    record_epoch, failures = TrainingRun.record_epoch, []

    def restarting_database(self, result):
        if len(failures) < 2:
            failures.append(result.epoch)
            raise OperationalError("the database system is starting up")
        return record_epoch(self, result)

    answers = []

    def one_epoch(config, store, out_dir, *, on_epoch, **kwargs):
        answers.append(on_epoch(FakeEpoch(1)))
        return ml.train.FitResult(best_checkpoint=None, last_checkpoint=None, best_epoch=1, epochs_run=1,
                                  stop_reason="cancelled", history=[], device="cpu")

    monkeypatch.setattr(TrainingRun, "record_epoch", restarting_database)
    monkeypatch.setattr(ml.train, "fit", one_epoch)
    runner.execute_run(run.pk, worker="training-gpu0@gpu1")
    assert failures == [1, 1] and answers == [False]  # recorded on the third try; the loop goes on
    assert list(EpochMetric.objects.filter(run=run).values_list("epoch", flat=True)) == [1]
