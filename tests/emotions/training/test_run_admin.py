"""Launching, watching, cancelling, resuming and deploying runs from the admin (broker faked here;
test_training_on_workers.py does the same against a real Redis and worker)."""
import pytest
from django.contrib.messages import get_messages
from emotions_test_support import point_celery_at

from emotions.infra import dispatch, stack
from emotions.models import EpochMetric, TrainingRun
from emotions.training.tasks import train_run

RUNS_URL = "/admin/emotions/trainingrun/"


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def act_on_runs(client, action, *runs):
    return client.post(RUNS_URL, {"action": action, "_selected_action": [run.pk for run in runs]}, follow=True)


@pytest.fixture
def sent(monkeypatch):
    sent = []

    def fake_send(task_name, args, **kwargs):
        assert task_name == train_run.name
        sent.append(args[0])
        return type("AsyncResult", (), {"id": f"task-{len(sent)}"})()

    monkeypatch.setattr(dispatch, "send", fake_send)
    return sent


# Transactional: the send happens on commit, as it does for a real request.
@pytest.mark.django_db(transaction=True)
def test_staff_launch_training_from_the_experiments_list(staff_client, staff, experiment, sent):
    response = staff_client.post(
        "/admin/emotions/experiment/",
        {"action": "launch_training", "_selected_action": [experiment.pk]}, follow=True,
    )
    run = TrainingRun.objects.get()
    assert sent == [run.pk]
    assert run.status == "queued" and run.sent_at and run.launched_by == staff
    assert messages_of(response) == [f"Run #{run.pk} of {experiment} is queued for training."]


@pytest.mark.django_db(transaction=True)
def test_launching_while_redis_is_down_saves_the_run_and_says_the_queue_is_unreachable(staff_client, experiment):
    point_celery_at(f"redis://127.0.0.1:{stack.free_port()}/0")
    try:
        response = staff_client.post(
            "/admin/emotions/experiment/",
            {"action": "launch_training", "_selected_action": [experiment.pk]}, follow=True,
        )
    finally:
        from django.conf import settings

        point_celery_at(settings.CELERY_BROKER_URL)
    run = TrainingRun.objects.get()
    assert run.status == "queued" and run.queue_error and run.sent_at is None
    [message] = messages_of(response)
    assert f"Run #{run.pk} of {experiment} is saved, but the queue is unreachable" in message
    assert "not sent: queue unreachable" in staff_client.get(RUNS_URL).content.decode()


@pytest.mark.django_db
def test_the_runs_list_shows_status_and_progress(staff_client, experiment):
    TrainingRun.objects.create(experiment=experiment, status="running", epoch=3, epochs=10)
    page = staff_client.get(RUNS_URL).content.decode()
    assert "Running" in page
    assert '<progress value="3" max="10"' in page and "epoch 3/10" in page


@pytest.mark.django_db
def test_a_run_page_shows_its_error_metrics_epochs_and_log(staff_client, experiment, settings):
    run = TrainingRun.objects.create(
        experiment=experiment, status="failed", error="NonFiniteLossError: loss became nan",
        log_file="runs/1/train.log",
        private_test_metrics={
            "accuracy": 0.5, "macro_f1": 0.4, "weighted_f1": 0.45, "num_samples": 10,
            "per_class": {"Angry": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 10}},
        },
    )
    EpochMetric.objects.create(run=run, epoch=1, train_loss=1.2, train_acc=0.3, val_loss=1.3, val_acc=0.25,
                               val_macro_f1=0.2, lr=0.001, seconds=2, images_per_second=100, is_best=True)
    log = settings.MEDIA_ROOT / "runs/1/train.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback (most recent call last):\n  ...\n")
    page = staff_client.get(f"{RUNS_URL}{run.pk}/change/").content.decode()
    assert "NonFiniteLossError: loss became nan" in page
    assert "accuracy 0.5000, macro-F1 0.4000" in page
    assert "Traceback (most recent call last)" in page
    assert "1.2" in page  # the epoch row


@pytest.mark.django_db
def test_staff_cancel_a_running_run(staff_client, experiment):
    running = TrainingRun.objects.create(experiment=experiment, status="running")
    finished = TrainingRun.objects.create(experiment=experiment, status="succeeded")
    response = act_on_runs(staff_client, "cancel_runs", running, finished)
    running.refresh_from_db()
    finished.refresh_from_db()
    assert running.status == "cancelled" and finished.status == "succeeded"
    assert f"Cancelled #{running.pk}." in messages_of(response)


@pytest.mark.django_db
def test_staff_deploy_one_succeeded_run_at_a_time(staff_client, experiment):
    old, new = (TrainingRun.objects.create(experiment=experiment, status="succeeded", checkpoint="runs/x/best.pt")
                for _ in range(2))
    old.deploy()
    response = act_on_runs(staff_client, "deploy_model", new)
    assert TrainingRun.objects.deployed() == new
    assert messages_of(response) == [f"Run #{new.pk} is now the deployed model."]


@pytest.mark.django_db
def test_a_failed_run_cannot_be_deployed(staff_client, experiment):
    failed = TrainingRun.objects.create(experiment=experiment, status="failed")
    response = act_on_runs(staff_client, "deploy_model", failed)
    assert TrainingRun.objects.deployed() is None
    assert "cannot be deployed" in messages_of(response)[0]


@pytest.mark.django_db(transaction=True)
def test_staff_resume_a_failed_run(staff_client, experiment, sent):
    failed = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="failed")
    failed.last_checkpoint_path.parent.mkdir(parents=True)
    failed.last_checkpoint_path.write_bytes(b"checkpoint")
    response = act_on_runs(staff_client, "resume_runs", failed)
    resumed = TrainingRun.objects.get(resumed_from=failed)
    assert sent == [resumed.pk]
    assert messages_of(response) == [f"Run #{resumed.pk} resumes run #{failed.pk}."]


@pytest.mark.django_db(transaction=True)
def test_staff_send_an_unsent_run_again(staff_client, experiment, sent):
    unsent = TrainingRun.objects.create(experiment=experiment, queue_error="The queue is unreachable.")
    response = act_on_runs(staff_client, "send_again", unsent)
    unsent.refresh_from_db()
    assert sent == [unsent.pk] and unsent.sent_at and not unsent.queue_error
    assert messages_of(response) == [f"Run #{unsent.pk} sent to the queue."]


@pytest.mark.django_db
def test_runs_are_launched_from_experiments_not_added_by_hand(staff_client):
    assert staff_client.get(f"{RUNS_URL}add/").status_code == 403
