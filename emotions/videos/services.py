"""Videos sent for analysis: checked whole before anything is stored (size, container, a decodable frame,
length), saved, sent to the `inference` queue after the commit, and analysed by a worker alone: unlike a
photo, a video is never analysed in the web request, however long anyone waits for it. A send the broker
refused, or a message it lost, is sent again by `sweep_videos`, as photos' are; so is a video whose
worker died mid-way (its heartbeat on the row went stale).

The frames go through `ml.video.analyse_video` (the photo path on sampled frames, faces followed across
them); the row gets the progress while it runs, and the faces, the annotated frames and a CSV at the end.
"""
from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from emotions.infra import worker_signals
from emotions.infra.heartbeat import Heartbeat
from emotions.uploads.services import (
    SESSION_OWNER,
    NoModelAvailable,
    UploadRefused,
    model_in_use,
    predictor_for,
    send_to_inference_queue,
    threads_for_inference,
)
from emotions.videos.models import Video

logger = logging.getLogger(__name__)

PROCESS_VIDEO_TASK = "emotions.process_video"  # emotions.videos.tasks.process_video, on the inference queue
CONTENT_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
                 ".mkv": "video/x-matroska", ".avi": "video/x-msvideo"}
CONTAINER_TYPES = {"MP4/MOV": "video/mp4", "WebM/Matroska": "video/webm", "AVI": "video/x-msvideo"}
DEFAULT_FPS = 4.0
MAX_FPS = 60.0
ANNOTATED_FRAMES = 240  # sampled frames kept, boxes drawn, for the scrubber: every one of a minute at 4 fps
BEAT_SECONDS = 1.0  # how often a worker beats on its video and looks for a cancel
WAIT_STEP_SECONDS = 0.5


@dataclass(frozen=True)
class CheckedVideo:
    name: str
    path: Path  # the upload on disk (Django's temporary file, or a copy of a small one), gone after the request
    size: int
    content_type: str
    fps: float
    frames_total: int  # frames to sample, as the header tells


# Checking and saving --------------------------------------------------------------------------------
def parse_fps(value) -> float:
    """The `fps` a person asked for (empty: DEFAULT_FPS), or UploadRefused saying what is wrong with it."""
    if value is None or str(value).strip() == "":
        return DEFAULT_FPS
    try:
        fps = float(value)
    except (TypeError, ValueError):
        raise UploadRefused(f"fps must be a number of frames per second, not {str(value)[:20]!r}.") from None
    if not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise UploadRefused(f"fps must be more than 0 and at most {MAX_FPS:g}.")
    return fps


@contextlib.contextmanager
def checked_video(file, fps: float):
    """The uploaded `file` copied to a temporary file and probed (ml.video.probe_video), as a CheckedVideo;
    UploadRefused (400, or 413 when too large) says why not. The copy is gone when the block ends."""
    from ml.video import VideoError, probe_video
    from ml.video.reader import planned_samples

    if file is None:
        raise UploadRefused("Choose a video (MP4, WebM, MOV or AVI).")
    name = Path(file.name or "video").name[:255]
    limit = settings.VIDEO_MAX_BYTES
    if file.size is not None and file.size > limit:  # refused before copying it anywhere
        raise UploadRefused(f"{name}: the file is {file.size / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB.", 413)
    with tempfile.TemporaryDirectory(prefix="fer-video-") as folder:
        if hasattr(file, "temporary_file_path"):  # Django wrote a large upload to disk already
            path = Path(file.temporary_file_path())
            size = path.stat().st_size
        else:
            path, size = Path(folder) / "video", 0
            with open(path, "wb") as copy:
                for chunk in file.chunks():
                    size += len(chunk)
                    copy.write(chunk)
        if size > limit:
            raise UploadRefused(f"{name}: the file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB.", 413)
        try:
            info = probe_video(path, max_seconds=settings.VIDEO_MAX_SECONDS)
        except VideoError as error:
            raise UploadRefused(f"{name}: {error}.") from None
        yield CheckedVideo(name, path, size, _content_type(name, path), fps, planned_samples(info, min(fps, info.fps)))


def _content_type(name: str, path: Path) -> str:
    from ml.video.reader import container_of

    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    with open(path, "rb") as file:
        return CONTAINER_TYPES.get(container_of(file.read(16)), "application/octet-stream")


def create_video(checked: CheckedVideo, *, user=None, session_owner: str = "") -> Video:
    """Save the checked video and, once committed, send it to the `inference` queue."""
    owner = user if user is not None and user.is_authenticated else None
    video = Video(owner=owner, session_owner="" if owner else session_owner, original_name=checked.name,
                  content_type=checked.content_type, size=checked.size, requested_fps=checked.fps,
                  frames_total=checked.frames_total)
    try:
        with transaction.atomic():
            with open(checked.path, "rb") as data:
                video.file.save("original" + Path(checked.name).suffix.lower()[:8], File(data), save=False)
            video.save()
            transaction.on_commit(lambda: send_video(video))
    except BaseException:
        video.delete_files()
        raise
    return video


def send_video(video: Video) -> bool:
    """Send to the `inference` queue. A failure is kept on the row and the sweep sends it again once the
    broker is back; nobody analyses it meanwhile (a web request never does)."""
    return send_to_inference_queue(
        video, PROCESS_VIDEO_TASK, "The queue is unreachable ({error}); it will be sent again when it is back."
    )


# Analysing (on a worker) ------------------------------------------------------------------------------
def process(video_id, claimant: str = "") -> Video | None:
    """Claim a pending video for the worker `claimant` and analyse it. None when it is gone or someone
    else has it (a duplicate delivery) or it was cancelled."""
    from ml.video import VideoError

    video = Video.objects.filter(pk=video_id).first()
    if video is None or not video.claim(claimant):
        return None
    try:
        _process_claimed(video)
    except NoModelAvailable as error:
        video.mark_failed(str(error))
    except VideoError as error:  # what the header hid: frames past the length limit, say
        video.mark_failed(f"{error}.")
    except Exception as error:
        logger.exception("analysis of video %s failed", video.pk)
        video.mark_failed(f"The analysis failed: {error}")
    return video


def _process_claimed(video: Video) -> None:
    from ml.video import analyse_video

    choice = model_in_use()
    predictor = predictor_for(choice.path)
    with VideoHeartbeat(video) as heartbeat, threads_for_inference():
        analysis = analyse_video(
            video.file.path, predictor, fps=video.requested_fps, max_seconds=settings.VIDEO_MAX_SECONDS,
            progress=video.record_progress, should_stop=heartbeat.stop_requested.is_set,
            annotated_frames=ANNOTATED_FRAMES,
        )
    if analysis.cancelled:
        logger.info("video %s stopped after %s of %s frames: cancelled or deleted", video.pk, analysis.frames_done,
                    analysis.frames_total)
        return
    frames = video.directory / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(analysis.annotated):
        video.frame_path(index).write_bytes(frame.jpeg)
    analysis.write_csv(video.csv_path)
    done = video.mark_done(
        model=choice.description, duration=analysis.duration, fps=analysis.fps, video_fps=analysis.video_fps,
        width=analysis.width, height=analysis.height, faces=analysis.to_json()["faces"],
        class_names=analysis.class_names, frame_times=[frame.t for frame in analysis.annotated],
        frames_done=analysis.frames_done, frames_total=analysis.frames_total,
    )
    if not done and not Video.objects.filter(pk=video.pk).exists():
        video.delete_files()  # deleted while the files were written: none may outlive the row


class VideoHeartbeat(Heartbeat):
    """Beats on the video's row every BEAT_SECONDS and asks the analysis to stop once the row is no longer
    this worker's (cancelled, deleted, or taken over after it was thought dead)."""

    def __init__(self, video: Video):
        self.video = video
        super().__init__(f"heartbeat-video-{video.pk}", BEAT_SECONDS)

    def still_wanted(self) -> bool:
        return self.video.beat()


# Waiting ----------------------------------------------------------------------------------------------
def wait_for_result(video: Video, timeout: float | None = None) -> Video:
    """Wait up to `timeout` (INFERENCE_WAIT_SECONDS) for a worker to finish it, woken by its announcement."""
    timeout = settings.INFERENCE_WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        video.refresh_from_db()
        left = deadline - time.monotonic()
        if video.is_finished or left <= 0:
            return video
        worker_signals.wait_for_finished(video.pk, min(WAIT_STEP_SECONDS, left))


# Keeping videos from getting lost ---------------------------------------------------------------------
def _back_to_pending(queryset) -> int:
    return queryset.update(status=Video.Status.PENDING, claimed_by="", started_at=None, beat_at=None, frames_done=0)


def release_claims_of(worker: str) -> int:
    """At a worker's start-up: videos still claimed under its node name belong to its previous life
    (killed mid-video). Back to pending, and sent again."""
    claimed = list(Video.objects.filter(status=Video.Status.PROCESSING, claimed_by=worker).values_list("pk", flat=True))
    released = _back_to_pending(Video.objects.filter(pk__in=claimed, status=Video.Status.PROCESSING, claimed_by=worker))
    for video in Video.objects.filter(pk__in=claimed, status=Video.Status.PENDING):
        send_video(video)
    return released


def sweep_videos() -> dict[str, int]:
    """Release videos whose worker stopped beating, and send again what no worker would otherwise get
    (VideoQuerySet.to_send_again): beat runs it every SWEEP_INTERVAL_SECONDS, workers at start-up."""
    stale = list(Video.objects.stale_claims().values_list("pk", flat=True))
    released = _back_to_pending(Video.objects.stale_claims().filter(pk__in=stale))
    again = Video.objects.to_send_again() | Video.objects.filter(pk__in=stale, status=Video.Status.PENDING)
    sent = sum(send_video(video) for video in again.distinct())
    return {"released": released, "sent": sent}


def adopt_session_videos(sender, request, user, **kwargs) -> None:
    """At login (`user_logged_in`): the videos this browser made before it become the account's, as photos do."""
    token = request.session.get(SESSION_OWNER) if request is not None and hasattr(request, "session") else None
    if token:
        Video.objects.filter(owner__isnull=True, session_owner=token).update(owner=user, session_owner="")


# Cancelling and deleting ------------------------------------------------------------------------------
def cancel_video(video: Video) -> bool:
    return video.cancel()


def delete_video(video: Video) -> None:
    video.delete()  # the files go with it (remove_video_files); a worker on it stops at its next beat


def remove_video_files(sender, instance: Video, **kwargs) -> None:
    """Video's post_delete: its folder goes once the delete is committed, however the row went."""
    directory = instance.directory
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


def purge_old_videos(now=None) -> int:
    """Delete videos older than UPLOAD_RETENTION_DAYS, files and rows: photos' retention."""
    count = 0
    for video in Video.objects.expired(now or timezone.now()):
        delete_video(video)
        count += 1
    return count
