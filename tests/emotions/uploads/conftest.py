"""Fixtures for the upload tests: a tiny shipped model, photos, and visitors with sessions of their own.

The broker is not reached here: uploads are sent to a recorder, and since no worker claims them the
web process predicts them as soon as someone looks (INFERENCE_WORKER_TIMEOUT_SECONDS=0). The tests
on real workers (test_uploads_on_workers.py) send them for real."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from emotions_test_support import Stack, point_celery_at
from uploads_test_support import astronaut, coffee, encode, save_tiny_checkpoint

from emotions.infra import worker_signals
from emotions.uploads import services


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("weights") / "default.pt")


@pytest.fixture(autouse=True)
def shipped_model(settings, tiny_model_path):
    settings.SHIPPED_MODEL_PATH = tiny_model_path
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 0
    return tiny_model_path


@pytest.fixture
def no_model(settings, tmp_path):
    settings.SHIPPED_MODEL_PATH = tmp_path / "missing" / "default.pt"


@pytest.fixture
def sent(monkeypatch) -> list:
    """Uploads sent to the queue, recorded instead of sent: no worker runs in these tests."""
    recorded = []
    monkeypatch.setattr(services, "send_upload", lambda upload: recorded.append(upload.pk) or True)
    return recorded


@pytest.fixture(autouse=True)
def _no_broker(request):
    if not request.node.get_closest_marker("integration"):  # those send to a Redis of their own
        request.getfixturevalue("sent")
        request.getfixturevalue("worker_expected")


@pytest.fixture
def worker_expected(monkeypatch):
    """As if an `inference` worker were alive: the web process steps in only after
    INFERENCE_WORKER_TIMEOUT_SECONDS (0 here unless a test sets it)."""
    monkeypatch.setattr(worker_signals, "workers_alive", lambda: True)
    monkeypatch.setattr(worker_signals, "worker_alive", lambda node: True)


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    return encode(astronaut(), "JPEG", quality=90)


@pytest.fixture(scope="session")
def coffee_jpeg() -> bytes:
    return encode(coffee(), "JPEG", quality=90)


# Processes (integration tests) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def inference_stack(django_db_setup, redis_server, tmp_path_factory):
    """A prefork worker on the `inference` queue alone, as production runs it, on the module's Redis."""
    processes = Stack(redis_server, tmp_path_factory.mktemp("inference-stack"))
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
    """Someone who opened the site without logging in: their uploads belong to their session."""
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
