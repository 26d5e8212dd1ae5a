"""Faces of a dataset's store, as the dashboards show them: the store kept loaded, PNGs, samples per class."""
from __future__ import annotations

import base64
import io
from functools import lru_cache

import numpy as np
from PIL import Image

from emotions.training.models import Dataset


def load_store(dataset: Dataset):
    """The dataset's FerStore, loaded once per process and again only when its file changes (the corrections':
    built from their rows, again only when they change)."""
    if dataset.kind == Dataset.Kind.CORRECTIONS:
        from emotions.photo_sets.corrections import cached_corrections_store

        return cached_corrections_store(dataset)
    path = dataset.store_path
    return _load(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=2)  # FER2013 is ~80 MB in memory: the one or two datasets being looked at
def _load(path: str, mtime_ns: int):
    from ml.data import FerStore

    return FerStore.load(path)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def png_data_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def sample_indices(store, split: str = "train", per_class: int = 8, seed: int = 0) -> dict[str, list[int]]:
    """{class name: up to `per_class` store rows of that class in `split`}: a fixed random pick per seed."""
    from ml.classes import SPLITS

    rng = np.random.default_rng(seed)
    in_split = store.splits == SPLITS.index(split)
    samples = {}
    for label, name in enumerate(store.class_names):
        rows = np.flatnonzero(in_split & (store.labels == label))
        picked = rng.choice(rows, size=min(per_class, len(rows)), replace=False) if len(rows) else rows
        samples[name] = sorted(int(row) for row in picked)
    return samples
