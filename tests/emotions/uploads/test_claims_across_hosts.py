"""A photo claimed by the worker on one host and looked at on another: whether the claim is stale is
judged by the database's clock, which also stamped the claim, so a worker whose clock is behind is not
taken for dead, and its photo is not predicted a second time by the web host."""
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from emotions.models import Upload

pytestmark = [pytest.mark.django_db, pytest.mark.database]


@pytest.fixture(autouse=True)
def _two_hosts():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serves one host, whose clock is the only one")


def test_a_claim_by_a_worker_whose_clock_is_behind_is_not_taken_for_stale(monkeypatch, settings):
    settings.INFERENCE_STALE_SECONDS = 30
    upload = Upload.objects.create(image="uploads/elsewhere/original", content_type="image/jpeg")
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() - timedelta(minutes=5))  # the CPU host's clock
    assert upload.claim("worker", "inference@cpu")
    monkeypatch.undo()

    assert abs((timezone.now() - upload.started_at).total_seconds()) < 60
    assert not Upload.objects.stale_claims().exists() and not upload.release_if_stale()
    assert upload.mark_done(model="shipped", faces=[], annotated="", width=1, height=1, whole_image=False)


def test_a_claim_held_past_the_stale_time_by_the_databases_clock_is_released(settings):
    settings.INFERENCE_STALE_SECONDS = 30
    upload = Upload.objects.create(image="uploads/elsewhere/original", content_type="image/jpeg")
    assert upload.claim("worker", "inference@cpu")
    Upload.objects.filter(pk=upload.pk).update(started_at=timezone.now() - timedelta(seconds=31))
    assert list(Upload.objects.stale_claims()) == [upload]
    assert upload.release_if_stale() and upload.status == "pending"
