"""Launching, sending, cancelling, resuming, and the sweep that leaves no run stuck or lost."""
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from emotions_test_support import point_celery_at

from emotions.infra import dispatch, stack
from emotions.models import TrainingRun
from emotions.training import services
from emotions.training.tasks import train_run
from fer_site.celery import app as celery_app

pytestmark = pytest.mark.django_db


class FakeSend:
    """Stands in for the broker: records the runs dispatch.send was asked to send to train_run."""

    def __init__(self):
        self.sent = []

    def __call__(self, task_name, args, **kwargs):
        assert task_name == train_run.name
        self.sent.append(args[0])
        return type("AsyncResult", (), {"id": f"task-{len(self.sent)}"})()


class FakeConnection:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def ensure_connection(self, **kwargs):
        pass


@pytest.fixture
def fake_send(monkeypatch):
    send = FakeSend()
    monkeypatch.setattr(dispatch, "send", send)
    return send


@pytest.fixture
def broker_down():
    """The broker URL points at a port where nothing listens."""
    point_celery_at(f"redis://127.0.0.1:{stack.free_port()}/0")
    yield
    from django.conf import settings

    point_celery_at(settings.CELERY_BROKER_URL)


def test_launching_saves_a_queued_run_and_sends_it_after_the_commit(experiment, staff, fake_send,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.launch_training(experiment, staff)
    assert run.status == "queued" and fake_send.sent == []  # nothing leaves before the commit
    callbacks[0]()
    run.refresh_from_db()
    assert fake_send.sent == [run.pk]
    assert run.task_id == "task-1" and run.sent_at and not run.queue_error
    assert run.launched_by == staff and run.config == experiment.config and run.epochs == 2


def test_launching_with_the_broker_down_keeps_the_run_and_says_why(experiment, broker_down,
                                                                   django_capture_on_commit_callbacks):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.launch_training(experiment)
    assert time.monotonic() - started < 10  # fails fast rather than hanging the admin
    run.refresh_from_db()
    assert run.status == "queued" and run.sent_at is None
    assert "queue is unreachable" in run.queue_error
    assert list(TrainingRun.objects.unsent()) == [run]


def test_an_experiment_whose_config_is_no_longer_valid_is_not_launched(experiment):
    experiment.config["optimizer"]["lr"] = -1
    experiment.save()
    with pytest.raises(ValidationError, match="optimizer.lr"):
        services.launch_training(experiment)
    assert not TrainingRun.objects.exists()


def test_the_sweep_sends_runs_the_broker_did_not_take(experiment, fake_send):
    unsent = TrainingRun.objects.create(experiment=experiment, queue_error="The queue is unreachable.")
    assert services.sweep_runs() == {"failed": 0, "sent": 1}
    unsent.refresh_from_db()
    assert fake_send.sent == [unsent.pk] and unsent.sent_at and unsent.queue_error == ""
    assert services.sweep_runs() == {"failed": 0, "sent": 0}


def test_the_sweep_fails_running_runs_whose_worker_went_silent(experiment, settings):
    settings.TRAINING_STALE_AFTER_SECONDS = 60
    silent = TrainingRun.objects.create(
        experiment=experiment, status="running", worker="training@gpu1",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    beating = TrainingRun.objects.create(experiment=experiment, status="running", heartbeat_at=timezone.now())
    assert services.sweep_runs()["failed"] == 1
    silent.refresh_from_db()
    beating.refresh_from_db()
    assert silent.status == "failed" and silent.finished_at
    assert "training@gpu1 stopped sending heartbeats" in silent.error
    assert beating.status == "running"


def test_a_worker_starting_again_fails_the_runs_of_its_previous_life(experiment):
    mine = TrainingRun.objects.create(
        experiment=experiment, status="running", worker="training@gpu1", heartbeat_at=timezone.now(), epoch=3
    )
    mine.last_checkpoint_path.parent.mkdir(parents=True)
    mine.last_checkpoint_path.write_bytes(b"checkpoint")
    other = TrainingRun.objects.create(
        experiment=experiment, status="running", worker="training@gpu2", heartbeat_at=timezone.now()
    )
    assert services.fail_runs_of_restarted_worker("training@gpu1") == [mine]
    mine.refresh_from_db()
    assert mine.status == "failed"
    assert "training@gpu1 stopped while running" in mine.error
    assert "resumed from its last checkpoint (epoch 3)" in mine.error
    other.refresh_from_db()
    assert other.status == "running"


def test_cancelling_a_queued_run_revokes_its_task(experiment, monkeypatch):
    revoked = []
    monkeypatch.setattr(celery_app, "connection_for_write", FakeConnection)
    monkeypatch.setattr(celery_app.control, "revoke", lambda task_id, connection: revoked.append(task_id))
    run = TrainingRun.objects.create(experiment=experiment, task_id="task-7")
    assert services.cancel_run(run)
    assert run.status == "cancelled" and revoked == ["task-7"]
    assert not services.cancel_run(run)  # nothing left to cancel


def test_cancelling_with_the_broker_down_still_cancels_at_once(experiment, broker_down):
    run = TrainingRun.objects.create(experiment=experiment, status="running", task_id="task-7")
    started = time.monotonic()
    assert services.cancel_run(run)
    assert time.monotonic() - started < 2
    assert TrainingRun.objects.get(pk=run.pk).status == "cancelled"


def test_resuming_continues_a_failed_run_from_its_last_checkpoint(experiment, fake_send,
                                                                  django_capture_on_commit_callbacks):
    failed = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="failed", epoch=1, epochs=2)
    failed.last_checkpoint_path.parent.mkdir(parents=True)
    failed.last_checkpoint_path.write_bytes(b"checkpoint")
    with django_capture_on_commit_callbacks(execute=True):
        resumed = services.resume_run(failed)
    assert resumed.resumed_from == failed and resumed.config == failed.config
    assert resumed.status == "queued" and fake_send.sent == [resumed.pk]


def test_a_run_without_a_last_checkpoint_cannot_be_resumed(experiment):
    failed = TrainingRun.objects.create(experiment=experiment, status="failed")
    with pytest.raises(ValidationError, match="cannot be resumed"):
        services.resume_run(failed)
    assert TrainingRun.objects.count() == 1
