"""Photos sent for prediction: checked whole before anything is stored, saved, sent to the `inference`
queue after the commit, and predicted by a worker, or by the web process when no worker claims them in
time (a single-process install still answers).

The worker and the web fallback both claim an upload with the same conditional update
(`Upload.claim`), so exactly one of them predicts it and the row says which (`predicted_by`).
"""
from __future__ import annotations

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

from emotions.faces import png_bytes
from emotions.models import TrainingRun, Upload

logger = logging.getLogger(__name__)

NO_MODEL = "no model is available: deploy a trained run or add ml/weights/default.pt"
CONTENT_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
                 "BMP": "image/bmp", "GIF": "image/gif"}
ANNOTATED_NAME = "annotated.jpg"
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


def model_in_use() -> ModelChoice:
    """The deployed run's checkpoint, else the shipped weights; NoModelAvailable when neither exists."""
    run = TrainingRun.objects.deployed()
    if run is not None and run.checkpoint:
        path = Path(run.checkpoint.path)
        if path.is_file():
            return ModelChoice(path, f"run {run.pk}")
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
    key = (str(path), path.stat().st_mtime)
    with _predictors_lock:
        if not _threads_set:
            torch.set_num_threads(settings.INFERENCE_THREADS)
            _threads_set = True
        if key not in _predictors:
            _predictors.clear()  # a new deployment replaces the old model rather than sitting beside it
            _predictors[key] = EmotionPredictor.from_checkpoint(path, device="cpu")
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


def create_uploads(images: list[CheckedImage], *, user=None, session_owner: str = "", whole_image: bool = False) -> list[Upload]:
    """Save the checked images and, once committed, send each to the `inference` queue."""
    owner = user if user is not None and user.is_authenticated else None
    uploads: list[Upload] = []
    try:
        with transaction.atomic():
            for image in images:
                upload = Upload(owner=owner, session_owner="" if owner else session_owner, original_name=image.name,
                                content_type=image.content_type, whole_image=whole_image)
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
    """Send to the `inference` queue; a failure only logs, since the web fallback predicts it anyway."""
    from emotions.tasks import predict_upload

    try:
        predict_upload.apply_async(args=[str(upload.pk)])
    except Exception as error:  # Redis down or unreachable
        logger.warning("upload %s saved but not queued: %s", upload.pk, error)
        return False
    return True


# Predicting -----------------------------------------------------------------------------------------
def predict(upload_id, predicted_by: str) -> Upload | None:
    """Claim a pending upload for `predicted_by` and predict it. None when it is gone or someone else
    has it (a duplicate delivery, or the worker and the web fallback racing)."""
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None or not upload.claim(predicted_by):
        return None
    try:
        _predict_claimed(upload)
    except NoModelAvailable as error:
        upload.mark_failed(str(error))
    except Exception as error:
        logger.exception("prediction of upload %s failed", upload.pk)
        upload.mark_failed(f"The prediction failed: {error}")
    return upload


def _predict_claimed(upload: Upload) -> None:
    from ml.inference import draw_boxes, load_image

    choice = model_in_use()
    predictor = predictor_for(choice.path)
    image = load_image(Path(upload.image.path).read_bytes(), max_bytes=max(settings.UPLOAD_MAX_BYTES, upload.image.size),
                       max_pixels=settings.UPLOAD_MAX_PIXELS)
    analysis = predictor.analyse(image, whole_image=upload.whole_image)
    faces = []
    for index, face in enumerate(analysis.faces):
        upload.face_crop_path(index).write_bytes(png_bytes(face.crop))
        box = face.box
        faces.append({"box": [box.x, box.y, box.w, box.h], "label": face.label, "probabilities": face.probabilities})
    annotated = draw_boxes(image, analysis.faces)
    annotated.save(upload.directory / ANNOTATED_NAME, format="JPEG", quality=90)
    # analysis.whole_image is also true for a small image, which ml takes to be a face crop.
    upload.mark_done(model=choice.description, faces=faces, annotated=f"{upload.directory_name}/{ANNOTATED_NAME}",
                     width=analysis.width, height=analysis.height, whole_image=analysis.whole_image)


def settle(upload: Upload) -> Upload:
    """Predict in this process an upload no worker has claimed within INFERENCE_WORKER_TIMEOUT_SECONDS
    of its sending, or whose worker died on it. Called whenever someone looks at it (page, status, API)."""
    if upload.status == Upload.Status.PROCESSING and upload.release_if_stale():
        logger.warning("upload %s: its claimant held it too long; predicting it here", upload.pk)
        predict(upload.pk, Upload.PredictedBy.WEB)
        upload.refresh_from_db()
    if upload.status == Upload.Status.PENDING:
        waited = (timezone.now() - upload.queued_at).total_seconds()
        if waited >= settings.INFERENCE_WORKER_TIMEOUT_SECONDS:
            predict(upload.pk, Upload.PredictedBy.WEB)
            upload.refresh_from_db()
    return upload


def wait_for_result(upload: Upload, timeout: float | None = None) -> Upload:
    """Wait for a worker to claim it (else predict it here), then for it to finish, up to `timeout`."""
    timeout = settings.INFERENCE_WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    claim_deadline = time.monotonic() + settings.INFERENCE_WORKER_TIMEOUT_SECONDS
    while True:
        upload.refresh_from_db()
        if upload.is_finished or time.monotonic() > deadline:
            return upload
        if upload.status == Upload.Status.PENDING and time.monotonic() >= claim_deadline:
            predict(upload.pk, Upload.PredictedBy.WEB)
            continue
        time.sleep(0.1)


def classify_whole_image(upload: Upload) -> bool:
    """Predict a finished upload again as one face (no face was found in it). False if still running."""
    if not upload.reset_for_whole_image():
        return False
    for path in upload.directory.iterdir():
        if path.name.startswith("face-") or path.name == ANNOTATED_NAME:
            path.unlink(missing_ok=True)
    transaction.on_commit(lambda: send_upload(upload))
    return True


def adopt_session_uploads(sender, request, user, **kwargs) -> None:
    """At login (the `user_logged_in` signal): the uploads made in this session before it become the
    account's, so they stay in the history."""
    token = request.session.get(SESSION_OWNER) if request is not None and hasattr(request, "session") else None
    if token:
        Upload.objects.filter(owner__isnull=True, session_owner=token).update(owner=user, session_owner="")


# Deleting -------------------------------------------------------------------------------------------
def delete_upload(upload: Upload) -> None:
    upload.delete()  # the files go with it: remove_upload_files


def remove_upload_files(sender, instance: Upload, **kwargs) -> None:
    """Upload's post_delete: its folder goes once the delete is committed, however the row went (this
    service, the admin, its owner's account being deleted)."""
    directory = instance.directory  # now: delete() clears the pk that names the folder afterwards
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


def purge_old_uploads(now=None) -> int:
    """Delete uploads older than UPLOAD_RETENTION_DAYS, files and rows."""
    count = 0
    for upload in Upload.objects.expired(now):
        delete_upload(upload)
        count += 1
    return count
