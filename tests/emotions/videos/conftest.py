"""Fixtures for the video tests: a tiny shipped model, real face videos, visitors with sessions of their
own, and the worker: in-process here (the task function called directly, as a worker would run it), or
a real `inference` worker on a real Redis for the tests marked `integration`.

The broker is not reached by the other tests: videos are sent to a recorder. A video is never analysed
in the web request, so without a worker it stays pending."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from emotions_test_support import Stack, point_celery_at
from videos_test_support import save_tiny_checkpoint

from emotions.videos import services


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("weights") / "default.pt")


@pytest.fixture(autouse=True)
def shipped_model(settings, tiny_model_path):
    settings.SHIPPED_MODEL_PATH = tiny_model_path
    return tiny_model_path


@pytest.fixture
def no_model(settings, tmp_path):
    settings.SHIPPED_MODEL_PATH = tmp_path / "missing" / "default.pt"


@pytest.fixture
def sent(monkeypatch) -> list:
    """Videos sent to the queue, recorded instead of sent."""
    recorded = []
    monkeypatch.setattr(services, "send_video", lambda video: recorded.append(video.pk) or True)
    return recorded


@pytest.fixture(autouse=True)
def _no_broker(request):
    if not request.node.get_closest_marker("integration"):  # those send to a Redis of their own
        request.getfixturevalue("sent")


@pytest.fixture
def worker():
    """`worker()` does what an `inference` worker would with every pending video: runs its task. (The
    sends happen at the commit, which these tests' transactions never reach.)"""
    from emotions.models import Video
    from emotions.videos.tasks import process_video

    def run() -> None:
        for pk in Video.objects.filter(status=Video.Status.PENDING).values_list("pk", flat=True):
            process_video(str(pk))

    return run


# Processes (integration tests) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def inference_stack(django_db_setup, redis_server, tmp_path_factory, tiny_model_path):
    """A prefork worker on the `inference` queue alone, as production runs it, serving the tiny model."""
    processes = Stack(redis_server, tmp_path_factory.mktemp("inference-stack"))
    processes.env["SHIPPED_MODEL_PATH"] = str(tiny_model_path)
    point_celery_at(redis_server.url)
    try:
        processes.start_inference_worker()
        yield processes
    finally:
        processes.stop()
        point_celery_at(django_settings.CELERY_BROKER_URL)


@pytest.fixture
def media_shared_with_inference_worker(settings, _media_in_tmp, inference_stack):
    settings.MEDIA_ROOT = inference_stack.media


# Personas ---------------------------------------------------------------------------------------
@pytest.fixture
def visitor(db) -> Client:
    """Someone who opened the site without logging in: their videos belong to their session."""
    return Client()


@pytest.fixture
def stranger(db) -> Client:
    """Another anonymous visitor, in a browser session of their own."""
    return Client()


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", password="member-password")


@pytest.fixture
def member_client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client
