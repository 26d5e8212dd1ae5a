"""Fixtures for the upload tests: the tiny shipped model and photos (visitors and members, with sessions
of their own, are tests/emotions/conftest.py's).

The broker is not reached here: uploads are sent to a recorder, and since no worker claims them the
web process predicts them as soon as someone looks (INFERENCE_WORKER_TIMEOUT_SECONDS=0). The tests
on real workers (test_uploads_on_workers.py) send them for real."""
from __future__ import annotations

import pytest
from uploads_test_support import astronaut, coffee, encode

from emotions.infra import worker_signals
from emotions.uploads import services


@pytest.fixture(autouse=True)
def shipped_model(settings, tiny_model_path):
    settings.SHIPPED_MODEL_PATH = tiny_model_path
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 0
    return tiny_model_path


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

