"""Kaggle's folder layout, `train/<class>/<image>` and `test/<class>/<image>`, read into arrays.

The split comes from the file-name prefix (Training_, PublicTest_, PrivateTest_). Where names carry
no prefix, `test/` is the held-out test split and a seeded, stratified fraction of `train/` becomes
validation (stored as public_test).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from ml.classes import FER_CLASSES, SPLIT_LABELS, SPLITS
from ml.data.entry_sources import DirectoryEntries, ZipEntries
from ml.data.errors import DataImportError
from ml.data.images import IMAGE_EXTENSIONS, decode_face
from ml.data.imported_rows import ImportedRows
from ml.data.sampling import stratified_holdout

TOP_FOLDERS = ("train", "test")
_CLASS_BY_FOLDER = {name.lower(): index for index, name in enumerate(FER_CLASSES)}
_SPLIT_BY_PREFIX = {label.lower(): SPLITS.index(split) for split, label in SPLIT_LABELS.items()}
_UNASSIGNED = 255  # un-prefixed train files until the validation draw


@dataclass(frozen=True)
class PlannedFace:
    name: str  # the entry's path inside the source, as the user would look for it
    label: int
    split: int


def read_folder_layout(
    entries: DirectoryEntries | ZipEntries, *, val_fraction: float, seed: int
) -> tuple[ImportedRows, str]:
    """The faces and a sha256 over their sorted paths and bytes."""
    image_names = [name for name in entries.names if PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS]
    if not image_names:
        raise DataImportError(
            "no images found (expected train/<class>/<image> and test/<class>/<image>)", source=entries.source
        )
    # Every path is checked before any image is read, so a bad layout fails fast.
    plan = _plan_faces(image_names, entries.source)
    splits = np.array([face.split for face in plan], dtype=np.uint8)
    labels = np.array([face.label for face in plan], dtype=np.int64)
    unassigned = splits == _UNASSIGNED
    val_from_train = bool(unassigned.any())
    if val_from_train:
        to_validation = stratified_holdout(labels[unassigned], val_fraction, seed)
        splits[np.flatnonzero(unassigned)] = np.where(
            to_validation, SPLITS.index("public_test"), SPLITS.index("train")
        )

    images = np.empty((len(plan), 48, 48), dtype=np.uint8)
    digest = hashlib.sha256()
    converted = resized = 0
    for row, face in enumerate(plan):
        data = entries.read(face.name)
        digest.update(face.name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
        try:
            decoded = decode_face(data)
        except ValueError as error:
            raise DataImportError(str(error), source=entries.source, location=f"entry {face.name}") from error
        images[row] = decoded.pixels
        converted += decoded.converted_to_grayscale
        resized += decoded.resized

    report = {
        "converted_to_grayscale": converted,
        "resized": resized,
        "skipped_non_image": len(entries.names) - len(image_names),
        "val_from_train": val_from_train,
    }
    if val_from_train:
        report.update(val_fraction=val_fraction, val_seed=seed)
    paths = np.array([face.name for face in plan], dtype=str)
    return ImportedRows(images=images, labels=labels, splits=splits, report=report, paths=paths), digest.hexdigest()


def _plan_faces(image_names: list[str], source: str) -> list[PlannedFace]:
    wrapper_depth = _wrapper_depth(image_names)
    return [_plan_face(name, name.split("/")[wrapper_depth:], source) for name in image_names]


def _wrapper_depth(image_names: list[str]) -> int:
    """1 when everything sits in one folder (e.g. `fer2013/train/...`) with train/ or test/ inside it."""
    firsts = {name.split("/")[0].lower() for name in image_names}
    if firsts & set(TOP_FOLDERS):
        return 0
    seconds = {name.split("/")[1].lower() for name in image_names if name.count("/") >= 1}
    if len(firsts) == 1 and seconds & set(TOP_FOLDERS):
        return 1
    return 0


def _plan_face(name: str, parts: list[str], source: str) -> PlannedFace:
    where = f"entry {name}"
    if len(parts) != 3 or parts[0].lower() not in TOP_FOLDERS:
        raise DataImportError(
            "image outside the expected layout train/<class>/<image> or test/<class>/<image>",
            source=source,
            location=where,
        )
    top, class_folder, file_name = parts
    if class_folder.lower() not in _CLASS_BY_FOLDER:
        raise DataImportError(
            f"unknown class folder {class_folder!r}; expected one of {', '.join(_CLASS_BY_FOLDER)}",
            source=source,
            location=where,
        )
    prefix = file_name.split("_", 1)[0].lower() if "_" in file_name else ""
    if prefix in _SPLIT_BY_PREFIX:
        split = _SPLIT_BY_PREFIX[prefix]
    elif top.lower() == "test":
        split = SPLITS.index("private_test")
    else:
        split = _UNASSIGNED
    return PlannedFace(name=name, label=_CLASS_BY_FOLDER[class_folder.lower()], split=split)
