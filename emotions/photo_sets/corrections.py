"""Corrections: the true emotion an uploader gives a face of their result, and the site's corrections dataset.

The label always goes on the upload (its face's `true_label`, shown on the page and in the API). A Correction
row, kept to learn from, is made only where the uploader ticked "let this site learn from my corrections"
when uploading: the 48x48 face the model saw (the crop kept with the prediction, else cut again from the
photo by ml's `cut_faces`), the label and the date, never the photo. The photo's purge for its age leaves
the correction (`keep_corrections_of`); deleting the upload or the account takes it away.

Every correction is one face of the per-site corrections dataset (Dataset kind "corrections"), whose
FerStore is built from the rows when it is read: a training run's start, the dataset page. Each correction
has a fixed split drawn from a hash of its id: 80% train, 10% validation (PublicTest), 10% test
(PrivateTest), so a face never moves between splits as others are added or dropped.
"""
from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from emotions.photo_sets.models import FACE_SIZE, Correction
from emotions.training.models import Dataset
from emotions.uploads.models import Upload
from ml.classes import FER_CLASSES, SPLITS

logger = logging.getLogger(__name__)

CORRECTIONS_DATASET_NAME = "Corrections from uploads"
TRUE_LABEL = "true_label"  # the key of a corrected face in Upload.faces


class CorrectionRefused(ValueError):
    """A correction that names no emotion, or no face of a finished upload."""


def split_of(correction_id: int) -> str:
    """The split a correction's face belongs to, for good: buckets 0-7 train, 8 validation, 9 test."""
    bucket = int.from_bytes(hashlib.sha256(f"correction:{correction_id}".encode()).digest()[:4], "big") % 10
    return "train" if bucket < 8 else "public_test" if bucket == 8 else "private_test"


def label_named(text) -> str:
    """One of the seven emotions, named in any case; CorrectionRefused otherwise."""
    by_lower = {name.lower(): name for name in FER_CLASSES}
    name = by_lower.get(str(text or "").strip().lower())
    if name is None:
        raise CorrectionRefused(f"Unknown emotion {text!r}; give one of {', '.join(FER_CLASSES)}.")
    return name


# Correcting -----------------------------------------------------------------------------------------
def correct_face(upload: Upload, index: int, label: str) -> Correction | None:
    """Record `label` (any case) as the true emotion of face `index` of `upload`: on the upload always, and as
    a Correction to learn from where its uploader allowed it (returned; None otherwise). Correcting a face
    again changes its label. CorrectionRefused for an unknown emotion or face, or an unfinished upload."""
    label = label_named(label)
    with transaction.atomic():
        locked = Upload.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None or locked.status != Upload.Status.DONE:
            raise CorrectionRefused("Only a finished prediction's faces can be corrected.")
        if not 0 <= index < len(locked.faces):
            raise CorrectionRefused(f"This upload has no face {index + 1}; it has {len(locked.faces)}.")
        faces = [dict(face) for face in locked.faces]
        faces[index][TRUE_LABEL] = label
        Upload.objects.filter(pk=locked.pk).update(faces=faces)
        upload.faces = faces
        if not locked.learn_from_corrections:
            return None
        corrections_dataset()  # made with the first face kept
        face = face_pixels(locked, index).tobytes()  # the face as it is now (a whole-image retry changes it)
        correction, _ = Correction.objects.update_or_create(
            upload=locked, face_index=index,
            defaults={"label": label, "owner_id": locked.owner_id, "face": face, "updated_at": timezone.now()},
        )
        refresh_counts()
    return correction


def face_pixels(upload: Upload, index: int) -> np.ndarray:
    """The (48, 48) uint8 face the model saw: the crop kept with the prediction, else cut again from the
    photo as the prediction cut it (the face whose box is the stored one)."""
    from PIL import Image

    path = upload.face_crop_path(index)
    if path.is_file():
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.uint8)
        if pixels.shape == (FACE_SIZE, FACE_SIZE):
            return pixels
    return _cut_again(upload, index)


def _cut_again(upload: Upload, index: int) -> np.ndarray:
    from django.conf import settings

    from ml.inference import load_image
    from ml.inference.predictor import cut_faces

    data = Path(upload.image.path).read_bytes()
    image = load_image(data, max_bytes=max(settings.UPLOAD_MAX_BYTES, len(data)), max_pixels=settings.UPLOAD_MAX_PIXELS)
    cut = cut_faces(image, detector=settings.FACE_DETECTOR, whole_image=upload.whole_image)
    if not cut.boxes:
        raise CorrectionRefused(f"Face {index + 1} cannot be found in the photo again.")
    wanted = upload.faces[index]["box"]
    nearest = min(range(len(cut.boxes)), key=lambda i: _box_distance(cut.boxes[i], wanted))
    return np.asarray(cut.crops[nearest], dtype=np.uint8)


def _box_distance(box, wanted) -> float:
    return sum(abs(a - b) for a, b in zip((box.x, box.y, box.w, box.h), wanted))


def keep_corrections_of(upload: Upload) -> int:
    """Before an upload is purged for its age: its corrections stay, no longer tied to the photo."""
    return Correction.objects.filter(upload=upload).update(upload=None)


def correction_removed(sender, instance: Correction, **kwargs) -> None:
    """Correction's post_delete (a staff's drop, an upload or account deleted): the counts follow."""
    transaction.on_commit(refresh_counts)


# The dataset ----------------------------------------------------------------------------------------
def corrections_dataset() -> Dataset:
    """The site's corrections dataset, made on first use."""
    dataset = Dataset.objects.filter(kind=Dataset.Kind.CORRECTIONS).order_by("pk").first()
    if dataset is None:
        dataset, _ = Dataset.objects.get_or_create(
            name=CORRECTIONS_DATASET_NAME,
            defaults={"kind": Dataset.Kind.CORRECTIONS, "source_name": "the faces uploaders corrected",
                      "class_names": list(FER_CLASSES), "counts": _counts([])},
        )
    return dataset


def _counts(rows) -> dict[str, dict[str, int]]:
    """{split: {class: faces}} from (id, label) pairs, as FerStore.counts() gives them."""
    counts = {split: {name: 0 for name in FER_CLASSES} for split in SPLITS}
    for pk, label in rows:
        counts[split_of(pk)][label] += 1
    return counts


def refresh_counts() -> None:
    Dataset.objects.filter(kind=Dataset.Kind.CORRECTIONS).update(
        counts=_counts(Correction.objects.values_list("pk", "label"))
    )


def corrections_store(dataset: Dataset | None = None):
    """Every correction as a FerStore (one face each, its split fixed by its id). Also brings the dataset's
    counts up to date."""
    from ml.data import FerStore

    rows = list(Correction.objects.order_by("pk").values_list("pk", "label", "face"))
    digest = hashlib.sha256()
    for pk, label, face in rows:
        digest.update(f"{pk}:{label}:".encode() + bytes(face))
    faces = [np.frombuffer(bytes(face), dtype=np.uint8).reshape(FACE_SIZE, FACE_SIZE) for _, _, face in rows]
    images = np.stack(faces) if faces else np.zeros((0, FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    store = FerStore(
        images=images,
        labels=np.array([FER_CLASSES.index(label) for _, label, _ in rows], dtype=np.int64),
        splits=np.array([SPLITS.index(split_of(pk)) for pk, _, _ in rows], dtype=np.uint8),
        class_names=FER_CLASSES,
        source_checksum=digest.hexdigest(),
        paths=np.array([f"correction-{pk}" for pk, _, _ in rows], dtype=str),
    )
    counts = store.counts()
    store.report = {"source": CORRECTIONS_DATASET_NAME, "format": "corrections", "rows": len(store),
                    "counts": {split: sum(per_class.values()) for split, per_class in counts.items()},
                    "splits": "by a hash of each correction's id: 80% train, 10% PublicTest, 10% PrivateTest"}
    if dataset is not None and dataset.counts != counts:
        Dataset.objects.filter(pk=dataset.pk).update(counts=counts, source_checksum=store.source_checksum)
        dataset.counts = counts
    return store


def cached_corrections_store(dataset: Dataset):
    """corrections_store, built again only when a correction was added, changed or dropped (the pages that
    show its faces ask for it once per face)."""
    fingerprint = Correction.objects.aggregate(count=Count("pk"), last=Max("pk"), changed=Max("updated_at"))
    return _cached_store(dataset.pk, tuple(fingerprint.values()))


@lru_cache(maxsize=1)
def _cached_store(dataset_id: int, fingerprint: tuple):
    return corrections_store(Dataset.objects.get(pk=dataset_id))


