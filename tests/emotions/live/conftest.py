"""Fixtures for the live page: the tiny shipped model, the uploads' real photos as a camera frames them, and
no broker (a saved moment is an upload, sent to a recorder here). Visitors are tests/emotions/conftest.py's."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The upload tests' photos, imported by name as they import them (tests/ has no packages).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uploads"))
from live_test_support import camera_picture  # noqa: E402
from uploads_test_support import astronaut, coffee, encode  # noqa: E402

from emotions.infra import worker_signals  # noqa: E402
from emotions.uploads import services  # noqa: E402


@pytest.fixture(autouse=True)
def shipped_model(settings, tiny_model_path):
    settings.SHIPPED_MODEL_PATH = tiny_model_path
    return tiny_model_path


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

