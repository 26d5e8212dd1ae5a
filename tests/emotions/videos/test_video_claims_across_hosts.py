"""A video analysed by the worker on one host and swept from another: its beats are stamped, and their
silence judged, by the database's clock, so a worker whose clock is behind is not taken for dead and its
video is not analysed a second time."""
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from emotions.models import Video

pytestmark = [pytest.mark.django_db, pytest.mark.database]


@pytest.fixture(autouse=True)
def _two_hosts():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serves one host, whose clock is the only one")


def video() -> Video:
    return Video.objects.create(file="videos/elsewhere/original.avi", requested_fps=2)


def test_a_worker_whose_clock_is_behind_beats_fresh_by_the_databases_clock(monkeypatch, settings):
    settings.INFERENCE_STALE_SECONDS = 30
    analysed = video()
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() - timedelta(minutes=5))  # the CPU host's clock
    assert analysed.claim("inference@cpu")
    assert analysed.record_progress(3, 10) and analysed.beat()
    monkeypatch.undo()

    analysed.refresh_from_db()
    assert abs((timezone.now() - analysed.beat_at).total_seconds()) < 60
    assert not Video.objects.stale_claims().exists()
    assert analysed.mark_done(frames_done=10, frames_total=10)


def test_a_sweep_whose_clock_is_ahead_leaves_a_beating_worker_alone(monkeypatch, settings):
    settings.INFERENCE_STALE_SECONDS = 30
    analysed = video()
    assert analysed.claim("inference@cpu")
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(minutes=5))  # the sweeping host's clock
    assert not Video.objects.stale_claims().exists()
    monkeypatch.undo()
    Video.objects.filter(pk=analysed.pk).update(beat_at=timezone.now() - timedelta(seconds=31))
    assert list(Video.objects.stale_claims()) == [analysed]
