"""The whole path with real processes: a redis-server and a Celery worker (`--pool=solo`, as on a GPU
host) on random 127.0.0.1 ports, sharing the test database file and MEDIA_ROOT; runs launched through
the admin with the Django test client, as staff; a few hundred real FER2013 faces, on the CPU."""
import pytest
from django.contrib.messages import get_messages
from emotions_test_support import make_experiment, wait_for_run

from emotions.models import TrainingRun
from emotions.training import services
from ml.train.checkpoint import load_checkpoint

pytestmark = [
    pytest.mark.integration,
    pytest.mark.fer2013,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_shared_with_workers"),
]


def launch_from_admin(client, experiment) -> tuple[TrainingRun, list[str]]:
    response = client.post(
        "/admin/emotions/experiment/", {"action": "launch_training", "_selected_action": [experiment.pk]}, follow=True
    )
    assert response.status_code == 200
    return experiment.runs.latest("pk"), [str(m) for m in get_messages(response.wsgi_request)]


def test_a_run_launched_from_the_admin_trains_on_a_worker_to_success(staff_client, fer2013_tiny_dataset):
    experiment = make_experiment(fer2013_tiny_dataset, epochs=2)
    run, messages = launch_from_admin(staff_client, experiment)
    assert messages == [f"Run #{run.pk} of {experiment} is queued for training."]

    run = wait_for_run(run, lambda r: not r.is_active, 240, "the run to finish")
    assert run.status == "succeeded", run.error
    assert run.worker == "training@test" and run.stop_reason == "completed"
    assert list(run.epoch_metrics.values_list("epoch", flat=True)) == [1, 2]
    assert run.public_test_metrics["num_samples"] == 100 and run.private_test_metrics["num_samples"] == 100
    assert 0 <= run.private_test_metrics["accuracy"] <= 1
    checkpoint = load_checkpoint(run.checkpoint.path)
    assert checkpoint["model"]["name"] == "cnn3"
    assert checkpoint["class_names"] == fer2013_tiny_dataset.class_names
    assert checkpoint["data_checksum"] == fer2013_tiny_dataset.source_checksum


def test_cancelling_a_running_run_stops_the_worker_at_the_next_batch(staff_client, fer2013_tiny_dataset):
    run, _ = launch_from_admin(staff_client, make_experiment(fer2013_tiny_dataset, epochs=50))
    wait_for_run(run, lambda r: r.status == "running" and r.epoch >= 1, 120, "the run to train an epoch")

    staff_client.post("/admin/emotions/trainingrun/", {"action": "cancel_runs", "_selected_action": [run.pk]})
    assert TrainingRun.objects.get(pk=run.pk).status == "cancelled"

    # The worker's own word that it stopped: it records how the training loop ended.
    run = wait_for_run(run, lambda r: r.stop_reason == "cancelled", 75, "the worker to stop the run")
    assert run.status == "cancelled" and run.epoch_metrics.count() < 50
    assert run.can_resume


def test_a_run_whose_worker_is_killed_is_marked_failed_and_resumes_from_its_last_checkpoint(
    staff_client, staff, fer2013_tiny_dataset, worker_stack
):
    run, _ = launch_from_admin(staff_client, make_experiment(fer2013_tiny_dataset, epochs=50))
    run = wait_for_run(run, lambda r: r.status == "running" and r.epoch >= 1, 120, "the run to train an epoch")

    [worker] = worker_stack.running_workers()
    worker.kill()  # SIGKILL, as the kernel's OOM killer would
    # Its heartbeat stops. The replacement (another node name, so no restart check) takes beat's sweeps,
    # every second, and one finds the run silent for longer than 3 s.
    worker_stack.start_worker(name="training@replacement")
    run = wait_for_run(run, lambda r: r.status == "failed", 75, "the sweep to fail the run")
    assert "training@test stopped sending heartbeats" in run.error
    assert "can be resumed from its last checkpoint" in run.error
    assert run.can_resume

    resumed = services.resume_run(run, staff)
    resumed = wait_for_run(resumed, lambda r: r.epoch > run.epoch, 120, "the resumed run to train on")
    assert resumed.epoch_metrics.earliest("epoch").epoch == run.epoch + 1
    assert "resuming from" in resumed.log_tail()
    services.cancel_run(resumed)
    # Longer than SQLite's busy timeout (30 s): on a loaded machine the worker's last epoch may wait one out.
    wait_for_run(resumed, lambda r: r.stop_reason == "cancelled", 75, "the worker to stop the resumed run")


def test_a_run_launched_while_redis_is_down_is_sent_once_redis_is_back(
    staff_client, fer2013_tiny_dataset, worker_stack, redis_server
):
    redis_server.stop()
    run, messages = launch_from_admin(staff_client, make_experiment(fer2013_tiny_dataset, epochs=1))
    assert "is saved, but the queue is unreachable" in messages[0]
    assert run.status == "queued" and run.sent_at is None and run.queue_error

    redis_server.start()  # same port; beat's next sweep sends it, the worker trains it
    run = wait_for_run(run, lambda r: r.sent_at is not None, 60, "the sweep to send the run")
    assert run.queue_error == ""
    run = wait_for_run(run, lambda r: not r.is_active, 180, "the run to finish")
    assert run.status == "succeeded", run.error
