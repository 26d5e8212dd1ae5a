"""Photos sent for prediction: checked whole before anything is stored, saved, sent to the `inference`
queue after the commit, and predicted by a worker, or by the web process when no worker will soon (the
send failed, no worker is alive, or none claimed it in time): a single-process install still answers,
and so does a stack whose worker or Redis is down.

The worker and the web fallback both claim an upload with the same conditional update
(`Upload.claim`), so exactly one of them predicts it and the row says which (`predicted_by`). What the
broker lost or never got is sent again by `sweep_uploads`.
"""
from __future__ import annotations

import contextlib
import io
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from emotions.dashboards.faces import png_bytes
from emotions.infra import cpu_share, dispatch, worker_signals
from emotions.queued_media import QueuedMedia
from emotions.training.models import TrainingRun
from emotions.uploads.models import Upload

logger = logging.getLogger(__name__)

NO_MODEL = "no model is available: deploy a trained run or add ml/weights/default.pt"
CONTENT_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
                 "BMP": "image/bmp", "GIF": "image/gif"}
ANNOTATED_NAME = "annotated.jpg"
WAIT_STEP_SECONDS = 0.5  # a waiting request checks its row at least this often
PREDICT_UPLOAD_TASK = "emotions.predict_upload"  # emotions.uploads.tasks.predict_upload, on the inference queue
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
SESSION_OWNER = "upload_owner"  # the session data key holding the token that marks its uploads


class UploadRefused(ValueError):
    """An upload we turn away before storing anything; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class NoModelAvailable(RuntimeError):
    def __init__(self, message: str = NO_MODEL):
        super().__init__(message)


@dataclass(frozen=True)
class CheckedImage:
    name: str
    data: bytes
    content_type: str


# The model ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelChoice:
    path: Path
    description: str  # "run 12" or "shipped"
    run: TrainingRun | None = None  # the deployed run it is, if it is one


def model_in_use() -> ModelChoice:
    """The deployed run's checkpoint, else the shipped weights; NoModelAvailable when neither exists."""
    run = TrainingRun.objects.deployed()
    if run is not None and run.checkpoint:
        path = Path(run.checkpoint.path)
        if path.is_file():
            return ModelChoice(path, f"run {run.pk}", run)
        logger.warning("the deployed run %s has no checkpoint file at %s", run.pk, path)
    shipped = Path(settings.SHIPPED_MODEL_PATH)
    if shipped.is_file():
        return ModelChoice(shipped, "shipped")
    raise NoModelAvailable()


_predictors: dict[tuple[str, float], object] = {}
_predictors_lock = threading.Lock()
_threads_set = False


def predictor_for(path: Path):
    """One loaded EmotionPredictor per checkpoint (path and mtime) and process: loading takes a while."""
    import torch

    from ml.inference import EmotionPredictor

    global _threads_set
    key = (str(path), path.stat().st_mtime, settings.MODEL_INT8)
    with _predictors_lock:
        if not _threads_set:
            # With INFERENCE_SHARE_CORES each prediction sets its own share (threads_for_inference).
            import cv2

            torch.set_num_threads(settings.INFERENCE_THREADS)
            cv2.setNumThreads(settings.INFERENCE_THREADS)
            _threads_set = True
        if key not in _predictors:
            _predictors.clear()  # a new deployment replaces the old model rather than sitting beside it
            _predictors[key] = EmotionPredictor.from_checkpoint(path, device="cpu", detector=settings.FACE_DETECTOR,
                                                               int8=settings.MODEL_INT8)
        return _predictors[key]


# Checking and saving --------------------------------------------------------------------------------
def check_files(files) -> list[CheckedImage]:
    """Every uploaded file read and decoded, or UploadRefused naming the first bad one. Nothing is
    stored here, so a refused batch leaves nothing behind."""
    from PIL import Image

    from ml.inference import ImageError, load_image

    if not files:
        raise UploadRefused("Choose at least one image.")
    if len(files) > settings.UPLOAD_MAX_FILES:
        raise UploadRefused(f"{len(files)} files at once; the limit is {settings.UPLOAD_MAX_FILES}.")
    checked = []
    for file in files:
        name = Path(file.name or "image").name[:255]
        limit = settings.UPLOAD_MAX_BYTES
        if file.size is not None and file.size > limit:  # refused before reading it into memory
            raise UploadRefused(f"{name}: the file is {file.size / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB.", 413)
        data = file.read()
        try:
            load_image(data, max_bytes=limit, max_pixels=settings.UPLOAD_MAX_PIXELS)
        except ImageError as error:
            status = 413 if len(data) > limit else 400
            raise UploadRefused(f"{name}: {error}.", status) from None
        image_format = Image.open(io.BytesIO(data)).format
        checked.append(CheckedImage(name, data, CONTENT_TYPES.get(image_format, "application/octet-stream")))
    return checked


def create_uploads(images: list[CheckedImage], *, user=None, session_owner: str = "", whole_image: bool = False,
                   learn_from_corrections: bool = False) -> list[Upload]:
    """Save the checked images and, once committed, send each to the `inference` queue. With
    `learn_from_corrections` the faces their owner corrects are kept to learn from (emotions.photo_sets)."""
    owner = user if user is not None and user.is_authenticated else None
    uploads: list[Upload] = []
    try:
        with transaction.atomic():
            for image in images:
                upload = Upload(owner=owner, session_owner="" if owner else session_owner, original_name=image.name,
                                content_type=image.content_type, whole_image=whole_image,
                                learn_from_corrections=learn_from_corrections)
                uploads.append(upload)
                upload.image.save("original", ContentFile(image.data), save=False)
                upload.save()
                transaction.on_commit(lambda upload=upload: send_upload(upload))
    except BaseException:
        for upload in uploads:
            upload.delete_files()
        raise
    return uploads


def send_upload(upload: Upload) -> bool:
    """Send to the `inference` queue. A failure is kept on the row: the web process predicts the upload
    when someone waits for it, and the sweep sends it once the broker is back."""
    return send_to_inference_queue(upload, PREDICT_UPLOAD_TASK, "The queue is unreachable ({error}).")


def send_to_inference_queue(row: QueuedMedia, task_name: str, unreachable: str) -> bool:
    """Send `task_name(row.pk)` and note on the row that the broker took it (`mark_sent`), or why not:
    `unreachable`, the error in its "{error}" (`mark_send_failed`). A photo's and a video's send alike."""
    try:
        # One quick retry, which reconnects after a restart of Redis; no more: the web fallback (photos)
        # and the sweep take over anyway.
        dispatch.send(task_name, [str(row.pk)], retry_policy=SEND_RETRY_POLICY)
    except Exception as error:  # Redis down or unreachable
        logger.warning("%s %s saved but not queued: %s", row._meta.model_name, row.pk, error)
        row.mark_send_failed(unreachable.format(error=error))
        return False
    row.mark_sent()
    return True


# Predicting -----------------------------------------------------------------------------------------
def predict(upload_id, predicted_by: str, claimant: str = "") -> Upload | None:
    """Claim a pending upload for `predicted_by` (`claimant`: the worker's node name) and predict it.
    None when it is gone or someone else has it (a duplicate delivery, or the worker and the web
    fallback racing)."""
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None or not upload.claim(predicted_by, claimant):
        return None
    try:
        _predict_claimed(upload)
    except NoModelAvailable as error:
        upload.mark_failed(str(error))
    except Exception as error:
        logger.exception("prediction of upload %s failed", upload.pk)
        upload.mark_failed(f"The prediction failed: {error}")
    return upload


def threads_for_inference():
    """INFERENCE_THREADS (the machine's cores by default) shared among the predictions running on this
    machine at once, photos' and videos' (emotions.infra.cpu_share), or all of them every time with
    INFERENCE_SHARE_CORES off."""
    if not settings.INFERENCE_SHARE_CORES:
        return contextlib.nullcontext()
    return cpu_share.share_of_cores(settings.INFERENCE_THREADS)


def analyse_image(image, *, whole_image: bool = False):
    """(the model in use, its `ml.inference.Analysis` of a decoded image) on this prediction's share of
    the cores: an upload's prediction, and a live camera frame's (emotions.live)."""
    choice = model_in_use()
    predictor = predictor_for(choice.path)
    with threads_for_inference():
        return choice, predictor.analyse(image, whole_image=whole_image)


def face_result(face) -> dict:
    """One `ml.inference.FacePrediction` as uploads store it and the API and the live page show it."""
    box = face.box
    return {"box": [box.x, box.y, box.w, box.h], "label": face.label, "probabilities": face.probabilities}


def _predict_claimed(upload: Upload) -> None:
    from ml.inference import draw_boxes, load_image

    image = load_image(Path(upload.image.path).read_bytes(), max_bytes=max(settings.UPLOAD_MAX_BYTES, upload.image.size),
                       max_pixels=settings.UPLOAD_MAX_PIXELS)
    choice, analysis = analyse_image(image, whole_image=upload.whole_image)
    faces = []
    for index, face in enumerate(analysis.faces):
        upload.face_crop_path(index).write_bytes(png_bytes(face.crop))
        faces.append(face_result(face))
    annotated = draw_boxes(image, analysis.faces)
    annotated.save(upload.directory / ANNOTATED_NAME, format="JPEG", quality=90)
    # analysis.whole_image is also true for a small image, which ml takes to be a face crop.
    upload.mark_done(model=choice.description, faces=faces, annotated=f"{upload.directory_name}/{ANNOTATED_NAME}",
                     width=analysis.width, height=analysis.height, whole_image=analysis.whole_image)


def needs_the_web_process(upload: Upload) -> bool:
    """Whether this process should predict `upload` now: its send failed, no `inference` worker is
    alive, none has claimed it within INFERENCE_WORKER_TIMEOUT_SECONDS, or its claimant died on it (no
    heartbeat from it, or held past INFERENCE_STALE_SECONDS: released here). A worker that is alive
    and merely busy is waited for."""
    if upload.status == Upload.Status.PROCESSING:
        if upload.release_if_stale():
            logger.warning("upload %s: its claimant held it too long; predicting it here", upload.pk)
            return True
        if _claimant_is_dead(upload) and upload.release_claim():
            logger.warning("upload %s: its worker %s stopped beating; predicting it here", upload.pk, upload.claimed_by)
            return True
        return False
    if upload.status != Upload.Status.PENDING:
        return False
    waited = (timezone.now() - upload.queued_at).total_seconds()
    return bool(upload.queue_error) or waited >= settings.INFERENCE_WORKER_TIMEOUT_SECONDS or not worker_signals.workers_alive()


# One web prediction at a time per process. Its threads mostly wait for workers; with the worker down, a
# burst of them predicting at once would only fight over the cores. The others stay pending meanwhile,
# so a worker that is back takes them.
_web_prediction_slot = threading.Lock()


def _predict_here(upload_id, wait: float) -> bool:
    """Predict in this process once the slot is free within `wait` seconds; False if it was not."""
    if not _web_prediction_slot.acquire(timeout=wait):
        return False
    try:
        predict(upload_id, Upload.PredictedBy.WEB)
    finally:
        _web_prediction_slot.release()
    return True


class WebProcessBusy(RuntimeError):
    """This process's prediction slot stayed taken (another prediction here) for as long as we could wait."""


def analyse_here(image, *, wait: float):
    """`analyse_image` in this process's web-prediction slot, once it is free within `wait` seconds, else
    WebProcessBusy: a live camera frame, predicted in its request and never stored."""
    if not _web_prediction_slot.acquire(timeout=wait):
        raise WebProcessBusy("The server is busy with another prediction; the next frame will try again.")
    try:
        return analyse_image(image)
    finally:
        _web_prediction_slot.release()


def _claimant_is_dead(upload: Upload) -> bool:
    """A worker claimed it, has had time to beat since, and has not (killed mid-prediction)."""
    if upload.predicted_by != Upload.PredictedBy.WORKER or not upload.claimed_by or upload.started_at is None:
        return False
    held = (timezone.now() - upload.started_at).total_seconds()
    return held > worker_signals.ALIVE_SECONDS and not worker_signals.worker_alive(upload.claimed_by)


def settle(upload: Upload) -> Upload:
    """Predict in this process an upload no worker will predict soon (`needs_the_web_process`).
    Called whenever someone looks at it (page, status, API)."""
    if needs_the_web_process(upload) and _predict_here(upload.pk, WAIT_STEP_SECONDS):
        upload.refresh_from_db()
    return upload


def wait_for_result(upload: Upload, timeout: float | None = None) -> Upload:
    """Wait for a worker to predict it (woken by its announcement), or predict it here when no worker
    will soon, up to `timeout`."""
    timeout = settings.INFERENCE_WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        upload.refresh_from_db()
        left = deadline - time.monotonic()
        if upload.is_finished or left <= 0:
            return upload
        if needs_the_web_process(upload):
            _predict_here(upload.pk, min(WAIT_STEP_SECONDS, left))
            continue
        worker_signals.wait_for_finished(upload.pk, min(WAIT_STEP_SECONDS, left))


# Keeping uploads from getting lost ------------------------------------------------------------------
def release_claims_of(worker: str) -> int:
    """At a worker's start-up: uploads still claimed under its node name belong to its previous life
    (killed mid-prediction). Back to pending, and sent again."""
    claimed = list(Upload.objects.filter(status=Upload.Status.PROCESSING, claimed_by=worker).values_list("pk", flat=True))
    released = Upload.objects.filter(pk__in=claimed, status=Upload.Status.PROCESSING, claimed_by=worker).update(
        status=Upload.Status.PENDING, predicted_by="", claimed_by="", started_at=None
    )
    for upload in Upload.objects.filter(pk__in=claimed, status=Upload.Status.PENDING):
        send_upload(upload)
    return released


def sweep_uploads() -> dict[str, int]:
    """Release claims whose claimant died, and send again what no worker would otherwise get (see
    UploadQuerySet.to_send_again): beat runs it every SWEEP_INTERVAL_SECONDS, workers at start-up."""
    released = Upload.objects.stale_claims().update(
        status=Upload.Status.PENDING, predicted_by="", claimed_by="", started_at=None
    )
    sent = sum(send_upload(upload) for upload in Upload.objects.to_send_again())
    return {"released": released, "sent": sent}


def classify_whole_image(upload: Upload) -> bool:
    """Predict a finished upload again as one face (no face was found in it). False if still running."""
    from emotions.photo_sets.models import Correction

    with transaction.atomic():
        if not upload.reset_for_whole_image():
            return False
        Correction.objects.filter(upload=upload).delete()  # the faces they named are gone
    for path in upload.directory.iterdir():
        if path.name.startswith("face-") or path.name == ANNOTATED_NAME:
            path.unlink(missing_ok=True)
    transaction.on_commit(lambda: send_upload(upload))
    return True


def adopt_session_uploads(sender, request, user, **kwargs) -> None:
    """At login (the `user_logged_in` signal): the uploads this browser made before it become the
    account's, so they stay in the history."""
    from emotions.photo_sets.models import Correction

    token = request.session.get(SESSION_OWNER) if request is not None and hasattr(request, "session") else None
    if token:
        with transaction.atomic():
            adopted = list(Upload.objects.filter(owner__isnull=True, session_owner=token).values_list("pk", flat=True))
            Upload.objects.filter(pk__in=adopted).update(owner=user, session_owner="")
            # Their kept faces too: they must go with the account even once the photos are purged.
            Correction.objects.filter(upload__in=adopted, owner__isnull=True).update(owner=user)


# Deleting -------------------------------------------------------------------------------------------
def delete_upload(upload: Upload) -> None:
    upload.delete()  # the files go with it: remove_upload_files


def remove_upload_files(sender, instance: Upload, **kwargs) -> None:
    """Upload's post_delete: its folder goes once the delete is committed, however the row went (this
    service, the admin, its owner's account being deleted)."""
    directory = instance.directory  # now: delete() clears the pk that names the folder afterwards
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


def purge_old_uploads(now=None) -> int:
    """Delete uploads older than UPLOAD_RETENTION_DAYS, files and rows. The faces their owners corrected to
    let the site learn from stay (emotions.photo_sets.corrections), without the photo."""
    from emotions.photo_sets.corrections import keep_corrections_of

    count = 0
    for upload in Upload.objects.expired(now):
        keep_corrections_of(upload)
        delete_upload(upload)
        count += 1
    return count
