"""TrainingRun's state changes: each is a conditional update, so racing parties never undo each other."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from emotions.models import EpochMetric, TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.database]


@pytest.fixture
def run(experiment):
    return TrainingRun.objects.create(experiment=experiment, config=experiment.config, epochs=2)


class FakeEpoch:
    def __init__(self, epoch, is_best=True, val_acc=0.5):
        self.values = dict(
            epoch=epoch, epochs=2, train_loss=1.0, train_acc=0.4, val_loss=1.1, val_acc=val_acc, val_macro_f1=0.3,
            lr=1e-3, seconds=1.5, images_per_second=200.0, is_best=is_best,
        )

    def to_dict(self):
        return dict(self.values)


def test_a_queued_run_is_claimed_only_once(run):
    assert run.mark_running(worker="training@a")
    assert not run.mark_running(worker="training@b")
    run.refresh_from_db()
    assert run.status == "running" and run.worker == "training@a"
    assert run.started_at and run.heartbeat_at
    assert run.log_file.name == f"runs/{run.pk}/train.log"


def test_a_cancelled_run_is_never_claimed(run):
    assert run.mark_cancelled()
    assert not run.mark_running(worker="training@a")
    assert run.status == "cancelled"


def test_a_run_cancelled_while_running_is_not_turned_into_a_success(run):
    run.mark_running(worker="training@a")
    TrainingRun.objects.get(pk=run.pk).mark_cancelled()  # the admin, in another process
    assert not run.mark_succeeded(public_test_metrics={"accuracy": 1}, private_test_metrics={"accuracy": 1})
    assert run.status == "cancelled" and run.private_test_metrics is None


def test_a_failed_run_stays_failed_even_if_cancelled_later(run):
    run.mark_running(worker="training@a")
    assert run.mark_failed("boom")
    assert not run.mark_cancelled()
    assert run.status == "failed" and run.error == "boom"


def test_recording_an_epoch_twice_keeps_one_row_and_moves_progress_on(run):
    run.mark_running(worker="training@a")
    run.record_epoch(FakeEpoch(1, val_acc=0.5))
    run.record_epoch(FakeEpoch(1, val_acc=0.6))  # a redelivered callback
    run.refresh_from_db()
    assert list(EpochMetric.objects.filter(run=run).values_list("epoch", "val_acc")) == [(1, 0.6)]
    assert (run.epoch, run.epochs, run.best_epoch) == (1, 2, 1)
    assert run.progress_label == "epoch 1/2" and run.progress == 0.5


def test_the_heartbeat_says_when_the_run_is_no_longer_running(run):
    run.mark_running(worker="training@a")
    assert run.beat()
    run.mark_cancelled()
    assert not run.beat()


def test_only_one_run_is_deployed_at_a_time(experiment):
    first, second = (
        TrainingRun.objects.create(experiment=experiment, status="succeeded", checkpoint=f"runs/{i}/best.pt")
        for i in (1, 2)
    )
    first.deploy()
    second.deploy()
    assert TrainingRun.objects.deployed() == second
    assert TrainingRun.objects.filter(is_deployed=True).count() == 1


def test_a_run_without_success_cannot_be_deployed(run):
    with pytest.raises(ValidationError, match="only a succeeded run"):
        run.deploy()
    assert TrainingRun.objects.deployed() is None


def test_stale_runs_are_running_runs_whose_heartbeat_is_too_old(experiment, settings):
    settings.TRAINING_STALE_AFTER_SECONDS = 60
    now = timezone.now()
    silent = TrainingRun.objects.create(experiment=experiment, status="running", heartbeat_at=now - timedelta(seconds=61))
    TrainingRun.objects.create(experiment=experiment, status="running", heartbeat_at=now - timedelta(seconds=5))
    TrainingRun.objects.create(experiment=experiment, status="failed", heartbeat_at=now - timedelta(hours=1))
    assert list(TrainingRun.objects.stale(now)) == [silent]


def test_unsent_runs_are_queued_runs_the_broker_never_took(experiment):
    now = timezone.now()
    failed_send = TrainingRun.objects.create(experiment=experiment, queue_error="unreachable")
    never_sent = TrainingRun.objects.create(experiment=experiment, created_at=now - timedelta(minutes=5))
    TrainingRun.objects.create(experiment=experiment)  # being sent right now
    TrainingRun.objects.create(experiment=experiment, sent_at=now, created_at=now - timedelta(minutes=5))
    TrainingRun.objects.create(experiment=experiment, status="cancelled", queue_error="unreachable")
    assert set(TrainingRun.objects.unsent(now)) == {failed_send, never_sent}


def test_active_runs_are_queued_or_running(experiment):
    for status in TrainingRun.Status.values:
        TrainingRun.objects.create(experiment=experiment, status=status)
    assert sorted(TrainingRun.objects.active().values_list("status", flat=True)) == ["queued", "running"]


def test_a_run_can_be_resumed_only_when_it_stopped_with_a_last_checkpoint(run):
    run.mark_running(worker="training@a")
    run.mark_failed("killed")
    assert not run.can_resume
    run.last_checkpoint_path.parent.mkdir(parents=True)
    run.last_checkpoint_path.write_bytes(b"checkpoint")
    assert run.can_resume
