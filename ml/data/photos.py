"""A labelled photo folder made into a store like FER2013's: the user's own faces as training data.

    store = import_photo_folder("my_faces", group_column="person", test_share=0.2)

The folder is what `python -m ml evaluate-photos` reads: `<class>/<image>` sub-folders, or a `labels.csv`
with `path,label` and any other columns. Every photo goes through the served path (decode, the detector,
the measured framing, the largest face: ml/inference/predictor.py `cut_faces`), so a model trained on the
store sees faces cut exactly as uploads are cut. Three splits, as FER2013 has:

- `private_test`, the held-out test: the `test_groups` when given, else `test_share` of the photos drawn
  group by group when there is a `group_column` (no person in two splits), else drawn per class;
- `public_test`, the validation split: `val_share` of the rest, drawn the same way;
- `train`: the rest.

The report counts, per class, the photos imported, those with no face found and those with several (the
largest is kept), and lists the unreadable ones, which are skipped. A bad label stops the import with its
file and row.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from ml.classes import FER_CLASSES, SPLITS
from ml.data.errors import DataImportError
from ml.data.sampling import stratified_holdout
from ml.data.store import FerStore


def import_photo_folder(
    folder: str | os.PathLike,
    *,
    group_column: str | None = None,
    test_groups: list[str] | None = None,
    test_share: float = 0.2,
    val_share: float = 0.1,
    seed: int = 0,
    detector: str = "mtcnn",
    progress: Callable[[int, int], None] | None = None,
) -> FerStore:
    from ml.inference.images import ImageError, load_image
    from ml.inference.photo_eval import PhotoFolderError, read_labelled_folder
    from ml.inference.predictor import cut_faces

    for name, share in (("test_share", test_share), ("val_share", val_share)):
        if not 0 <= share < 1:
            raise ValueError(f"{name} must be at least 0 and below 1, got {share}")
    source = os.fspath(folder)
    try:
        photos, labels_from = read_labelled_folder(folder)
    except PhotoFolderError as error:
        raise DataImportError(str(error)) from None
    if (group_column or test_groups) and labels_from != "labels.csv":
        raise DataImportError("groups are read from a labels.csv column; this folder has class sub-folders only",
                              source=source)
    group_column = group_column.strip().lower() if group_column else None
    if group_column and group_column not in dict(photos[0].columns):
        raise DataImportError(f"labels.csv has no column {group_column!r}; it has "
                              f"{', '.join(name for name, _ in photos[0].columns)}", source=source)
    if test_groups and not group_column:
        raise DataImportError("test groups need a group column (--group-column)", source=source)

    digest = hashlib.sha256()
    crops, labels, paths, groups = [], [], [], []
    counted = {key: Counter() for key in ("imported", "no_face", "several_faces")}
    unreadable = []
    for done, photo in enumerate(photos, start=1):
        try:
            data = photo.path.read_bytes()
            digest.update(photo.name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
            image = load_image(data)
        except (OSError, ImageError) as error:
            unreadable.append({"path": photo.name, "row": photo.row, "label": photo.label, "reason": str(error)})
        else:
            cut = cut_faces(image, detector=detector)
            if not cut.boxes:
                counted["no_face"][photo.label] += 1
            else:
                if len(cut.boxes) > 1:
                    counted["several_faces"][photo.label] += 1
                largest = max(range(len(cut.boxes)), key=lambda i: cut.boxes[i].w * cut.boxes[i].h)
                crops.append(cut.crops[largest])
                labels.append(FER_CLASSES.index(photo.label))
                paths.append(photo.name)
                groups.append(dict(photo.columns).get(group_column, "") if group_column else "")
                counted["imported"][photo.label] += 1
        if progress:
            progress(done, len(photos))
    if not crops:
        raise DataImportError(f"no face was found in any of the {len(photos)} photos", source=source)

    labels = np.array(labels, dtype=np.int64)
    groups = np.array(groups, dtype=str)
    if test_groups:
        missing = sorted(set(test_groups) - set(groups.tolist()))
        if missing:
            raise DataImportError(f"test groups not in column {group_column!r}: {', '.join(missing)}", source=source)
    splits = _draw_splits(labels, groups if group_column else None, test_groups, test_share, val_share, seed)
    store = FerStore(
        images=np.stack(crops).astype(np.uint8), labels=labels, splits=splits, class_names=FER_CLASSES,
        source_checksum=digest.hexdigest(), paths=np.array(paths, dtype=str),
        groups=groups if group_column else None,
    )
    store.report = {
        "source": os.path.abspath(source),
        "format": "photos",
        "labels_from": labels_from,
        "detector": detector,
        "rows": len(store),
        "photos": len(photos),
        "counts": {split: int((splits == code).sum()) for code, split in enumerate(SPLITS)},
        "per_class": {name: {key: counted[key][name] for key in counted} for name in FER_CLASSES},
        "no_face": sum(counted["no_face"].values()),
        "several_faces": sum(counted["several_faces"].values()),
        "unreadable": unreadable,
        "group_column": group_column,
        "test_groups": list(test_groups or []),
        "test_share": test_share,
        "val_share": val_share,
        "seed": seed,
    }
    return store


def _draw_splits(labels, groups, test_groups, test_share, val_share, seed) -> np.ndarray:
    splits = np.full(len(labels), SPLITS.index("train"), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    if test_groups:
        test = np.isin(groups, list(test_groups))
    elif groups is not None:
        test = _groups_holdout(groups, np.ones(len(labels), bool), test_share, rng)
    else:
        test = stratified_holdout(labels, test_share, seed)
    splits[test] = SPLITS.index("private_test")
    rest = ~test
    if groups is not None:
        val = _groups_holdout(groups, rest, val_share, rng)
    else:
        val = np.zeros(len(labels), dtype=bool)
        val[np.flatnonzero(rest)] = stratified_holdout(labels[rest], val_share, seed + 1)
    splits[val] = SPLITS.index("public_test")
    return splits


def _groups_holdout(groups: np.ndarray, among: np.ndarray, share: float, rng) -> np.ndarray:
    """Whole groups drawn at random among `among` until they hold `share` of its photos (never every group)."""
    chosen = np.zeros(len(groups), dtype=bool)
    names = sorted(set(groups[among].tolist()))
    if share <= 0 or len(names) < 2:
        return chosen
    target = share * among.sum()
    taken = 0
    for name in rng.permutation(names)[:-1]:
        if taken >= target:
            break
        rows = among & (groups == name)
        chosen |= rows
        taken += rows.sum()
    return chosen
