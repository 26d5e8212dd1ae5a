"""When the web process predicts an upload itself, and how nothing is lost while the broker or a worker
is down: the rules of emotions.uploads.services.needs_the_web_process and the upload sweep."""
from datetime import timedelta

import pytest
from django.utils import timezone
from uploads_test_support import file

from emotions.infra import dispatch, worker_signals
from emotions.models import Upload
from emotions.uploads import services

pytestmark = [pytest.mark.django_db, pytest.mark.database]

API = "/api/predictions/"


@pytest.fixture
def busy_worker(settings):
    """A worker is alive but has not got to the upload yet."""
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 3600


@pytest.fixture
def no_live_worker(monkeypatch):
    monkeypatch.setattr(worker_signals, "workers_alive", lambda: False)


REAL_SEND_UPLOAD = services.send_upload  # the conftest records sends instead; these tests send for real


@pytest.fixture
def broker_down(monkeypatch):
    """Sends fail as they do with Redis down."""

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(services, "send_upload", REAL_SEND_UPLOAD)
    monkeypatch.setattr(dispatch, "send", refuse)


@pytest.fixture
def broker_up(monkeypatch) -> list:
    sent = []
    monkeypatch.setattr(services, "send_upload", REAL_SEND_UPLOAD)
    monkeypatch.setattr(dispatch, "send", lambda task_name, args, **kwargs: sent.append(args[0]))
    return sent


def pending_upload(astronaut_jpeg, **changes) -> Upload:
    [upload] = services.create_uploads([services.CheckedImage("astronaut.jpg", astronaut_jpeg, "image/jpeg")])
    Upload.objects.filter(pk=upload.pk).update(**changes)
    upload.refresh_from_db()
    return upload


def test_a_busy_worker_is_waited_for(busy_worker, astronaut_jpeg):
    upload = pending_upload(astronaut_jpeg)
    assert not services.needs_the_web_process(upload)
    assert services.settle(upload).status == "pending"


def test_with_no_live_worker_the_web_process_predicts_at_once(busy_worker, no_live_worker, client, astronaut_jpeg):
    body = client.post(f"{API}?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)}).json()
    assert body["status"] == "done" and body["predicted_by"] == "web"


def test_a_live_worker_that_leaves_it_unclaimed_too_long_is_stepped_in_for(settings, astronaut_jpeg):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 20
    upload = pending_upload(astronaut_jpeg, queued_at=timezone.now() - timedelta(seconds=21))
    assert services.settle(upload).predicted_by == "web"


@pytest.mark.django_db(transaction=True)  # the send happens at the commit, inside the request
def test_an_upload_the_broker_refused_is_predicted_at_once_by_whoever_waits(
    busy_worker, broker_down, client, astronaut_jpeg
):
    body = client.post(f"{API}?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)}).json()
    assert body["status"] == "done" and body["predicted_by"] == "web"
    assert "The queue is unreachable" in Upload.objects.get().queue_error


def test_uploads_saved_while_the_broker_was_down_are_sent_by_the_sweep_once_it_is_back(
    busy_worker, monkeypatch, client, astronaut_jpeg, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "send_upload", REAL_SEND_UPLOAD)
    monkeypatch.setattr(dispatch, "send", lambda *a, **k: (_ for _ in ()).throw(ConnectionRefusedError()))
    with django_capture_on_commit_callbacks(execute=True):
        body = client.post(API, {"image": file("astronaut.jpg", astronaut_jpeg)}).json()  # nobody waits for it
    upload = Upload.objects.get()
    assert body["status"] == "pending" and upload.queue_error and upload.sent_at is None

    sent = []
    monkeypatch.setattr(dispatch, "send", lambda task_name, args, **kwargs: sent.append(args[0]))
    assert services.sweep_uploads() == {"released": 0, "sent": 1}
    upload.refresh_from_db()
    assert sent == [str(upload.pk)] and upload.queue_error == "" and upload.sent_at is not None
    assert services.sweep_uploads() == {"released": 0, "sent": 0}  # sent once is enough


def test_the_sweep_sends_again_uploads_never_sent_or_whose_message_was_lost(busy_worker, broker_up, settings,
                                                                           astronaut_jpeg):
    long_ago = timezone.now() - timedelta(seconds=settings.INFERENCE_STALE_SECONDS + 1)
    just_now = pending_upload(astronaut_jpeg, sent_at=None)  # its send is under way
    never_sent = pending_upload(astronaut_jpeg, sent_at=None, queued_at=long_ago)  # the web process died
    lost = pending_upload(astronaut_jpeg, sent_at=long_ago, queued_at=long_ago)  # Redis lost the message
    broker_up.clear()
    assert services.sweep_uploads()["sent"] == 2
    assert sorted(broker_up) == sorted([str(never_sent.pk), str(lost.pk)]) and str(just_now.pk) not in broker_up


def test_claims_of_a_dead_worker_are_released_when_it_starts_again(busy_worker, broker_up, astronaut_jpeg):
    upload = pending_upload(astronaut_jpeg)
    assert upload.claim("worker", "inference@host")
    other = pending_upload(astronaut_jpeg)
    assert other.claim("worker", "inference@elsewhere")
    broker_up.clear()
    assert services.release_claims_of("inference@host") == 1
    upload.refresh_from_db()
    other.refresh_from_db()
    assert upload.status == "pending" and upload.claimed_by == "" and broker_up == [str(upload.pk)]
    assert other.status == "processing"


def test_a_claimant_given_up_on_cannot_overwrite_the_one_that_took_over(busy_worker, settings, astronaut_jpeg):
    upload = pending_upload(astronaut_jpeg)
    late_worker = Upload.objects.get(pk=upload.pk)
    assert late_worker.claim("worker", "inference@host")
    Upload.objects.filter(pk=upload.pk).update(
        started_at=timezone.now() - timedelta(seconds=settings.INFERENCE_STALE_SECONDS + 1))
    late_worker.refresh_from_db()
    upload.refresh_from_db()
    assert services.settle(upload).status == "done" and upload.predicted_by == "web"
    assert not late_worker.mark_done(model="late", faces=[], annotated="", width=1, height=1, whole_image=False)
    upload.refresh_from_db()
    assert upload.model == "shipped" and upload.predicted_by == "web"


def test_an_upload_whose_worker_stopped_beating_is_redone_at_once(busy_worker, monkeypatch, astronaut_jpeg):
    upload = pending_upload(astronaut_jpeg)
    assert upload.claim("worker", "inference@killed")
    Upload.objects.filter(pk=upload.pk).update(started_at=timezone.now() - timedelta(seconds=5))
    upload.refresh_from_db()
    assert services.settle(upload).status == "processing"  # its worker still beats: it is working on it

    monkeypatch.setattr(worker_signals, "worker_alive", lambda node: node != "inference@killed")
    assert services.settle(upload).status == "done" and upload.predicted_by == "web"


def test_a_fresh_claim_is_not_taken_for_dead_before_its_worker_could_beat(busy_worker, monkeypatch, astronaut_jpeg):
    monkeypatch.setattr(worker_signals, "worker_alive", lambda node: False)
    upload = pending_upload(astronaut_jpeg)
    assert upload.claim("worker", "inference@new")
    assert services.settle(upload).status == "processing"
