"""`FerStore`: imported faces as plain arrays, saved to and loaded from one .npz file.

The .npz is written uncompressed on purpose: 48x48 faces deflate by only ~5% (83 MB -> 79 MB for
FER2013) while inflating them makes every load ~7x slower (0.55 s against 0.08 s).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ml.classes import FER_CLASSES, SPLITS
from ml.data.errors import DataImportError
from ml.data.sampling import stratified_subset

# Bumped when the file layout changes, so an old store is refused rather than misread.
STORE_FORMAT_VERSION = 1
# Read once: os.umask can only be read by setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_ARRAY_KEYS = ("images", "labels", "splits", "class_names", "source_checksum", "report", "format_version")


@dataclass(eq=False)
class FerStore:
    images: np.ndarray  # uint8 (N, 48, 48)
    labels: np.ndarray  # int64 (N,), index into class_names
    splits: np.ndarray  # uint8 (N,), index into ml.classes.SPLITS
    class_names: tuple[str, ...] = FER_CLASSES
    source_checksum: str = ""
    report: dict = field(default_factory=dict)
    # Where each face came from inside the source (archive member path), "" where the source has none.
    paths: np.ndarray | None = None  # str (N,)
    # FER+ raters' vote counts in ml.data.ferplus.VOTE_COLUMNS order, -1 for a face without votes;
    # None for a store imported without them.
    votes: np.ndarray | None = None  # int16 (N, 10)
    # Who or what each face belongs to (a person, a session) in a photo data set, "" where unknown: splits
    # drawn by group keep one person out of two splits.
    groups: np.ndarray | None = None  # str (N,)

    def __post_init__(self):
        self.class_names = tuple(self.class_names)
        if not (len(self.images) == len(self.labels) == len(self.splits)):
            raise ValueError(
                f"images, labels and splits differ in length: "
                f"{len(self.images)}, {len(self.labels)}, {len(self.splits)}"
            )
        for name in ("paths", "votes", "groups"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.labels):
                raise ValueError(f"{name} has {len(value)} rows for {len(self.labels)} faces")

    @property
    def has_votes(self) -> bool:
        return self.votes is not None

    def split_rows(self, name: str) -> np.ndarray:
        return self.splits == _split_code(name)

    def split_votes(self, name: str) -> np.ndarray | None:
        return None if self.votes is None else self.votes[self.split_rows(name)]

    def _rows(self, rows: np.ndarray, **changes) -> "FerStore":
        """A copy keeping `rows` of every per-face array."""
        return replace(
            self,
            images=self.images[rows],
            labels=changes.pop("labels", self.labels[rows]),
            splits=self.splits[rows],
            paths=None if self.paths is None else self.paths[rows],
            votes=None if self.votes is None else self.votes[rows],
            groups=None if self.groups is None else self.groups[rows],
            **changes,
        )

    def subset(self, rows: np.ndarray) -> "FerStore":
        """The faces at `rows` (a boolean mask or indices), every per-face array kept aligned."""
        return self._rows(np.asarray(rows))

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.splits == _split_code(name)
        return self.images[rows], self.labels[rows]

    def counts(self) -> dict[str, dict[str, int]]:
        result = {}
        for code, split_name in enumerate(SPLITS):
            per_class = np.bincount(self.labels[self.splits == code], minlength=len(self.class_names))
            result[split_name] = {name: int(n) for name, n in zip(self.class_names, per_class)}
        return result

    def select_classes(self, names: Sequence[str]) -> FerStore:
        """Keep only `names` (any case), relabelled 0..k-1 in the order given."""
        if isinstance(names, str):
            names = [names]
        by_lower = {name.lower(): index for index, name in enumerate(self.class_names)}
        old_labels = []
        for name in names:
            if name.lower() not in by_lower:
                raise ValueError(f"unknown class {name!r}; valid classes: {', '.join(self.class_names)}")
            if by_lower[name.lower()] in old_labels:
                raise ValueError(f"class {name!r} is listed twice")
            old_labels.append(by_lower[name.lower()])
        if not old_labels:
            raise ValueError("select_classes needs at least one class name")

        relabel = np.full(len(self.class_names), -1, dtype=np.int64)
        relabel[old_labels] = np.arange(len(old_labels))
        new_labels = relabel[self.labels]
        rows = new_labels >= 0
        return self._rows(
            rows,
            labels=new_labels[rows],
            class_names=tuple(self.class_names[i] for i in old_labels),
            report={**self.report, "selected_classes": [self.class_names[i] for i in old_labels]},
        )

    def subsample(self, max_per_split: int, seed: int = 0) -> FerStore:
        """At most `max_per_split` random rows per split, class proportions kept; same seed, same rows."""
        if max_per_split < 1:
            raise ValueError(f"max_per_split must be at least 1, got {max_per_split}")
        rng = np.random.default_rng(seed)
        kept = []
        for code in range(len(SPLITS)):
            in_split = np.flatnonzero(self.splits == code)
            kept.append(in_split[stratified_subset(self.labels[in_split], max_per_split, rng)])
        rows = np.sort(np.concatenate(kept))
        return self._rows(
            rows,
            report={**self.report, "subsample": {"max_per_split": max_per_split, "seed": seed}},
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a temp file beside `path`, then os.replace, so readers never see half a store."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide the store from other users
            with os.fdopen(handle, "wb") as temp_file:
                optional = {}
                if self.paths is not None:
                    optional["paths"] = np.asarray(self.paths, dtype=str)
                if self.votes is not None:
                    optional["votes"] = np.asarray(self.votes, dtype=np.int16)
                if self.groups is not None:
                    optional["groups"] = np.asarray(self.groups, dtype=str)
                np.savez(
                    temp_file,
                    **optional,
                    images=np.ascontiguousarray(self.images, dtype=np.uint8),
                    labels=np.asarray(self.labels, dtype=np.int64),
                    splits=np.asarray(self.splits, dtype=np.uint8),
                    class_names=np.array(self.class_names, dtype=str),
                    source_checksum=np.array(self.source_checksum),
                    report=np.array(json.dumps(self.report, sort_keys=True)),
                    format_version=np.array(STORE_FORMAT_VERSION),
                )
                temp_file.flush()
                os.fsync(temp_file.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FerStore:
        source = os.fspath(path)
        if not Path(path).is_file():
            raise DataImportError("no store file here", source=source)
        try:
            with np.load(path, allow_pickle=False) as npz:
                missing = [key for key in _ARRAY_KEYS if key not in npz.files]
                if missing:
                    raise DataImportError(f"not a FER store (missing {', '.join(missing)})", source=source)
                if int(npz["format_version"]) != STORE_FORMAT_VERSION:
                    raise DataImportError(
                        f"store format {int(npz['format_version'])} is not the supported {STORE_FORMAT_VERSION}; "
                        "import the source again",
                        source=source,
                    )
                store = cls(
                    images=npz["images"],
                    labels=npz["labels"],
                    splits=npz["splits"],
                    class_names=tuple(str(name) for name in npz["class_names"]),
                    source_checksum=str(npz["source_checksum"]),
                    report=json.loads(str(npz["report"])),
                    paths=npz["paths"] if "paths" in npz.files else None,
                    votes=npz["votes"] if "votes" in npz.files else None,
                    groups=npz["groups"] if "groups" in npz.files else None,
                )
        except DataImportError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise DataImportError(f"not a FER store ({error})", source=source) from error
        if store.images.dtype != np.uint8 or store.images.shape[1:] != (48, 48):
            raise DataImportError(
                f"not a FER store (images are {store.images.dtype} {store.images.shape})", source=source
            )
        return store


def _split_code(name: str) -> int:
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; valid splits: {', '.join(SPLITS)}")
    return SPLITS.index(name)
