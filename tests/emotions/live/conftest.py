"""Fixtures for the live page: the uploads' tiny shipped model and real photos, no broker (a saved moment
is an upload, sent to a recorder here), and visitors with sessions of their own."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.test import Client

# The upload tests' photos and tiny model, imported by name as they import it (tests/ has no packages).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uploads"))
from live_test_support import camera_picture  # noqa: E402
from uploads_test_support import astronaut, coffee, encode, save_tiny_checkpoint  # noqa: E402

from emotions.infra import worker_signals  # noqa: E402
from emotions.uploads import services  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("live-weights") / "default.pt")


@pytest.fixture(autouse=True)
def shipped_model(settings, tiny_model_path):
    settings.SHIPPED_MODEL_PATH = tiny_model_path
    return tiny_model_path


@pytest.fixture
def no_model(settings, tmp_path):
    settings.SHIPPED_MODEL_PATH = tmp_path / "missing" / "default.pt"


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list:
    """Saved moments sent to the queue, recorded instead: no worker runs here, as if one were alive."""
    recorded = []
    monkeypatch.setattr(services, "send_upload", lambda upload: recorded.append(upload.pk) or True)
    monkeypatch.setattr(worker_signals, "workers_alive", lambda: True)
    monkeypatch.setattr(worker_signals, "worker_alive", lambda node: True)
    return recorded


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    """A camera frame as the page sends it: the astronaut's portrait at 480x360 (letterboxed), a JPEG."""
    return encode(camera_picture(astronaut(), 480, 360), "JPEG", quality=80)


@pytest.fixture(scope="session")
def coffee_jpeg() -> bytes:
    return encode(camera_picture(coffee(), 480, 360), "JPEG", quality=80)


@pytest.fixture
def visitor(db) -> Client:
    """Someone who opened the site without logging in."""
    return Client()


@pytest.fixture
def stranger(db) -> Client:
    return Client()


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", password="member-password")


@pytest.fixture
def member_client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client
