"""A single-process install: Redis takes the upload but no worker consumes the `inference` queue (none
beats its heartbeat), so the web process predicts it itself and says so."""
import pytest
from django.conf import settings as django_settings
from emotions_test_support import point_celery_at
from uploads_test_support import file

from emotions.models import Upload

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker_without_workers(redis_server, settings):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 1
    point_celery_at(redis_server.url)
    yield redis_server
    point_celery_at(django_settings.CELERY_BROKER_URL)


def queued_messages(redis_server) -> int:
    import redis

    return redis.Redis.from_url(redis_server.url).llen("inference")


def test_an_upload_no_worker_claims_is_predicted_by_the_web_process(client, broker_without_workers, astronaut_jpeg):
    body = client.post("/api/predictions/?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)}).json()
    assert queued_messages(broker_without_workers) == 1  # it was sent; nobody took it
    assert body["status"] == "done" and body["predicted_by"] == "web" and len(body["faces"]) == 1
    assert Upload.objects.get(pk=body["id"]).predicted_by == "web"


def test_an_unreachable_broker_still_gets_an_answer_from_the_web_process(client, settings, astronaut_jpeg):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 0
    from emotions.infra import stack

    point_celery_at(f"redis://127.0.0.1:{stack.free_port()}/0")
    try:
        body = client.post("/api/predictions/?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)}).json()
    finally:
        point_celery_at(django_settings.CELERY_BROKER_URL)
    assert body["status"] == "done" and body["predicted_by"] == "web"
