"""Fixtures for the video tests: the tiny shipped model, and the worker: in-process here (the task function
called directly, as a worker would run it), or a real `inference` worker on a real Redis for the tests
marked `integration` (tests/emotions/conftest.py's `inference_stack`, as are the visitors).

The broker is not reached by the other tests: videos are sent to a recorder. A video is never analysed
in the web request, so without a worker it stays pending."""
from __future__ import annotations

import pytest

from emotions.videos import services


@pytest.fixture(autouse=True)
def shipped_model(settings, tiny_model_path):
    settings.SHIPPED_MODEL_PATH = tiny_model_path
    return tiny_model_path


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


@pytest.fixture(scope="module")
def inference_worker_env(tiny_model_path) -> dict:
    """The `inference` worker of the integration tests serves the tiny model."""
    return {"SHIPPED_MODEL_PATH": str(tiny_model_path)}
