"""Photo datasets: a labelled photo folder imported through ml (`import_photo_folder`, the faces cut as
uploads are) into a store under MEDIA_ROOT and recorded as a Dataset of kind "photos".

From the command line (`manage.py import_photos NAME FOLDER`) the import runs in the command. From the
admin, staff upload a zip: it is checked (emotions.photo_sets.archives) and kept with a PhotoImport row, sent
after the commit to the `inference` queue, unpacked by the worker into a temporary folder and imported;
the row holds the status, step, progress and any error. Whatever goes wrong leaves no Dataset and no store
file behind, and the zip and the unpacked folder are removed once the import ends, whichever way.
"""
from __future__ import annotations

import logging
import re
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from emotions.infra import dispatch
from emotions.photo_sets.archives import ArchiveRefused, remove_tree, unpack_zip
from emotions.photo_sets.models import PhotoImport
from emotions.training.models import Dataset

logger = logging.getLogger(__name__)

IMPORT_PHOTOS_TASK = "emotions.import_photos"  # emotions.photo_sets.tasks.import_photos, on the inference queue
SEND_GRACE_SECONDS = 30
PROGRESS_EVERY = 10  # photos between progress writes


def import_photo_dataset(folder: str | Path, name: str, *, group_column: str | None = None,
                         test_groups: list[str] | None = None, test_share: float = 0.2, val_share: float = 0.1,
                         seed: int = 0, source_name: str | None = None, is_evaluation_set: bool = False,
                         progress=None) -> Dataset:
    """Import the labelled photo folder `folder` as the dataset `name`. Raises ml's DataImportError for bad
    input (naming the file and row) and ValidationError for a taken name; either way nothing is left behind."""
    from ml.data.photos import import_photo_folder

    folder = Path(folder)
    _check_name_free(name)
    store = import_photo_folder(folder, group_column=group_column or None, test_groups=test_groups or None,
                                test_share=test_share, val_share=val_share, seed=seed,
                                detector=settings.FACE_DETECTOR, progress=progress)
    relative = f"datasets/{_slug(name)}-{store.source_checksum[:12]}.npz"
    path = store.save(Path(settings.MEDIA_ROOT) / relative)
    try:
        with transaction.atomic():
            _check_name_free(name)
            dataset = Dataset.objects.create(
                name=name, kind=Dataset.Kind.PHOTOS, source_name=source_name or folder.name,
                source_checksum=store.source_checksum, store_file=relative, class_names=list(store.class_names),
                counts=store.counts(), report=store.report, is_evaluation_set=is_evaluation_set,
            )
            if is_evaluation_set:
                from emotions.photo_sets.evaluations import evaluate_runs_on_set_later

                evaluate_runs_on_set_later(dataset)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return dataset


def _check_name_free(name: str) -> None:
    if Dataset.objects.filter(name=name).exists():
        raise ValidationError(f"A dataset named {name!r} exists already; choose another name.")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "photos"


# From the admin: a zip, imported by a worker ---------------------------------------------------------
def start_photo_import(photo_import: PhotoImport, archive) -> PhotoImport:
    """Save the new `photo_import` (name and options set) with its uploaded zip, checked already
    (archives.check_zip), and send it to a worker after the commit."""
    photo_import.archive_name = Path(archive.name or "photos.zip").name[:255]
    try:
        with transaction.atomic():
            photo_import.save()
            photo_import.archive.save(f"{photo_import.pk}/photos.zip", File(archive), save=True)
            transaction.on_commit(lambda: send_photo_import(photo_import))
    except BaseException:
        if photo_import.archive:
            photo_import.archive.delete(save=False)
        raise
    return photo_import


def send_photo_import(photo_import: PhotoImport) -> bool:
    try:
        result = dispatch.send(IMPORT_PHOTOS_TASK, [photo_import.pk])
    except Exception as error:  # Redis down: the sweep sends it again
        logger.warning("photo import %s saved but not queued: %s", photo_import.pk, error)
        photo_import.mark_send_failed(f"The queue is unreachable ({error}).")
        return False
    photo_import.mark_sent(result.id)
    return True


def run_photo_import(import_id: int, worker: str = "") -> PhotoImport | None:
    """The worker's side: claim the import, unpack the zip into a temporary folder, import it, record the
    outcome. A duplicate delivery or an import already ended does nothing."""
    from ml.data import DataImportError

    photo_import = PhotoImport.objects.filter(pk=import_id).first()
    if photo_import is None or not photo_import.claim(worker):
        return photo_import
    unpacked = Path(tempfile.mkdtemp(prefix=f"photo-import-{photo_import.pk}-"))
    dataset, failure = None, ""
    try:
        root = unpack_zip(Path(photo_import.archive.path), unpacked)
        photo_import.record_progress("finding the faces")

        def progress(done: int, total: int) -> None:
            if done == 1 or done == total or done % PROGRESS_EVERY == 0:
                photo_import.record_progress("finding the faces", done, total)

        dataset = import_photo_dataset(
            root, photo_import.name, group_column=photo_import.group_column or None,
            test_groups=photo_import.test_group_list(), test_share=photo_import.test_share,
            val_share=photo_import.val_share, seed=photo_import.seed, source_name=photo_import.archive_name,
            is_evaluation_set=photo_import.is_evaluation_set, progress=progress,
        )
    except (ArchiveRefused, DataImportError, ValidationError, ValueError) as error:
        failure = _readable(error, unpacked, photo_import.archive_name)
    except Exception as error:
        logger.exception("photo import %s failed", photo_import.pk)
        failure = f"{type(error).__name__}: {_readable(error, unpacked, photo_import.archive_name)}"
    finally:  # the zip and what it unpacked to go first, so an ended import has left nothing else behind
        remove_tree(unpacked)
        _remove_archive(photo_import)
    if failure:
        photo_import.mark_failed(failure)
    elif not photo_import.mark_succeeded(dataset):  # failed meanwhile by the sweep: leave no dataset behind
        _drop(dataset)
    photo_import.refresh_from_db()
    return photo_import


def _readable(error: Exception, unpacked: Path, archive_name: str) -> str:
    """The error as staff can use it: paths inside the temporary folder named inside the zip instead."""
    text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
    for folder in sorted({str(unpacked), str(unpacked.resolve())}, key=len, reverse=True):
        text = text.replace(folder + "/", "").replace(folder, archive_name)
    return text


def _remove_archive(photo_import: PhotoImport) -> None:
    if photo_import.archive:
        photo_import.archive.delete(save=False)
        PhotoImport.objects.filter(pk=photo_import.pk).update(archive="")


def _drop(dataset: Dataset) -> None:
    path = dataset.store_path
    dataset.delete()
    path.unlink(missing_ok=True)


def sweep_photo_imports(now=None) -> dict[str, int]:
    """Fail the imports whose worker went silent (killed mid-import), and send again those never sent.
    A heartbeat is judged by the database's clock, which stamped it, unless `now` is given."""
    failed = 0
    stale = PhotoImport.objects.filter(
        status=PhotoImport.Status.RUNNING,
        heartbeat_at__lt=(now or Now()) - timedelta(seconds=settings.PHOTO_IMPORT_STALE_SECONDS),
    )
    for photo_import in stale:
        if photo_import.mark_failed(f"The worker {photo_import.worker or '(unknown)'} stopped during the import; "
                                    "upload the zip again."):
            _remove_archive(photo_import)
            failed += 1
    unsent = PhotoImport.objects.filter(status=PhotoImport.Status.QUEUED, sent_at__isnull=True,
                                        created_at__lt=(now or timezone.now()) - timedelta(seconds=SEND_GRACE_SECONDS))
    sent = sum(send_photo_import(photo_import) for photo_import in unsent)
    return {"failed": failed, "sent": sent}
