"""emotions.runner.execute_run, the code path of the Celery task and of `manage.py train`, run in
this process on a few random faces (the worker-based tests use real FER2013)."""
import time

import pytest
from django.core.management import CommandError, call_command
from emotions_test_support import make_experiment

import ml.train
from emotions.models import TrainingRun
from emotions.training import runner
from emotions.training.tasks import train_run
from fer_site.celery import app as celery_app
from ml.train.checkpoint import load_checkpoint

# The heartbeat thread has its own database connection: rows must be committed for it to see them.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(experiment):
    return TrainingRun.objects.create(experiment=experiment, config=experiment.config, epochs=2)


def test_a_run_trains_to_success_with_epoch_rows_test_metrics_and_a_checkpoint(run):
    finished = runner.execute_run(run.pk, worker="training@here")

    assert finished.status == "succeeded", finished.error
    assert finished.worker == "training@here" and finished.device.startswith("cpu")
    assert finished.stop_reason == "completed" and finished.finished_at
    assert list(finished.epoch_metrics.values_list("epoch", flat=True)) == [1, 2]
    assert (finished.epoch, finished.epochs) == (2, 2)
    for metrics in (finished.public_test_metrics, finished.private_test_metrics):
        assert set(metrics) >= {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "num_samples"}
    assert finished.private_test_metrics["split"] == "private_test"
    checkpoint = load_checkpoint(finished.checkpoint.path)
    assert checkpoint["model"]["name"] == "cnn3" and checkpoint["epoch"] == finished.best_epoch
    assert "succeeded: best epoch" in finished.log_tail()


def test_a_run_on_a_subset_of_classes_is_scored_on_those_classes(noise_dataset):
    experiment = make_experiment(noise_dataset, name="four classes", epochs=1, classes=["Angry", "Happy", "Sad", "Neutral"])
    run = TrainingRun.objects.create(experiment=experiment, config=experiment.config)
    finished = runner.execute_run(run.pk, worker="training@here")
    assert finished.status == "succeeded", finished.error
    assert finished.private_test_metrics["class_names"] == ["Angry", "Happy", "Sad", "Neutral"]
    assert finished.private_test_metrics["num_samples"] == 8  # two faces of each of the four per split


def test_a_run_that_raises_is_failed_with_the_message_and_the_traceback_goes_to_the_log(run, monkeypatch):
    def broken_fit(*args, **kwargs):
        raise ValueError("the training split is empty")

    monkeypatch.setattr(ml.train, "fit", broken_fit)
    finished = runner.execute_run(run.pk, worker="training@here")
    assert finished.status == "failed"
    assert finished.error == "ValueError: the training split is empty"
    assert "Traceback (most recent call last)" in finished.log_tail()


def test_a_second_delivery_of_a_claimed_run_does_nothing(run, monkeypatch):
    run.mark_running(worker="training@first")
    monkeypatch.setattr(ml.train, "fit", lambda *a, **k: pytest.fail("trained twice"))
    again = runner.execute_run(run.pk, worker="training@second")
    assert again.status == "running" and again.worker == "training@first"


def test_a_deleted_run_is_skipped_quietly():
    assert runner.execute_run(123456, worker="training@here") is None


def test_cancelling_a_running_run_makes_the_training_loop_stop(run, monkeypatch, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.2
    seen = {}

    def fit_until_stopped(config, store, out_dir, *, should_stop, **kwargs):
        TrainingRun.objects.get(pk=run.pk).mark_cancelled()  # staff click 'Cancel' mid-epoch
        deadline = time.monotonic() + 10
        while not should_stop():  # what fit does before each batch
            assert time.monotonic() < deadline, "should_stop never turned True"
            time.sleep(0.05)
        seen["stopped"] = True
        return ml.train.FitResult(
            best_checkpoint=None, last_checkpoint=None, best_epoch=0, epochs_run=0, stop_reason="cancelled",
            history=[], device="cpu",
        )

    monkeypatch.setattr(ml.train, "fit", fit_until_stopped)
    finished = runner.execute_run(run.pk, worker="training@here")
    assert seen == {"stopped": True}
    assert finished.status == "cancelled" and finished.stop_reason == "cancelled"


def test_the_task_runs_the_same_code_path(run, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "execute_run", lambda run_id, worker: calls.append((run_id, worker)))
    train_run.apply(args=[run.pk])
    assert calls and calls[0][0] == run.pk


def test_training_goes_to_the_training_queue_and_the_sweep_to_the_cpu_queue():
    router = celery_app.amqp.router
    assert router.route({}, "emotions.train_run")["queue"].name == "training"
    assert router.route({}, "emotions.sweep_runs")["queue"].name == "inference"


def test_manage_py_train_trains_an_experiment_by_name_without_workers(experiment, capsys):
    call_command("train", experiment.name)
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.sent_at is None
    assert f"Run #{run.pk} succeeded" in capsys.readouterr().out


def test_manage_py_train_names_an_unknown_experiment(db):
    with pytest.raises(CommandError, match="No experiment named 'nope'"):
        call_command("train", "nope")
