"""Videos' Celery tasks: thin, take a primary key, safe to deliver twice. The work is in
emotions.videos.services; progress and outcome go on the row. Nothing imports this module but Celery (and
tests): services send tasks by name."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError

from emotions.infra import worker_signals
from emotions.videos import services

logger = logging.getLogger(__name__)


# Queues are set in settings.CELERY_TASK_ROUTES: all of these -> inference.
#
# The video is claimed with a conditional update, so a redelivery, or a cancel before it started, makes
# this a no-op.
@shared_task(name="emotions.process_video", acks_late=True, ignore_result=True)
def process_video(video_id: str) -> None:
    if services.process(video_id, claimant=process_video.request.hostname or "") is not None:
        worker_signals.announce_finished(video_id)


@shared_task(
    name="emotions.sweep_videos", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
)
def sweep_videos() -> dict[str, int]:
    return services.sweep_videos()


@shared_task(name="emotions.purge_old_videos", acks_late=True, ignore_result=True)
def purge_old_videos() -> int:
    return services.purge_old_videos()


@worker_ready.connect
def settle_videos_at_start_up(sender, **kwargs) -> None:
    """An inference worker's node name's previous process is gone: the videos it had claimed are pending
    again and sent anew; then the general sweep. (The uploads' handler starts the worker's heartbeat.)"""
    if "inference" not in sender.app.amqp.queues.consume_from:
        return
    try:
        services.release_claims_of(sender.hostname)
        services.sweep_videos()
    except Exception:  # never keep a worker from starting; the periodic sweep will try again
        logger.exception("start-up sweep of videos failed")
