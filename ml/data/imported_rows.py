"""The hand-over between a source reader (CSV, folder, zip) and the store it becomes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImportedRows:
    images: np.ndarray  # uint8 (N, 48, 48)
    labels: np.ndarray  # int64 (N,), index into FER_CLASSES
    splits: np.ndarray  # uint8 (N,), index into SPLITS
    report: dict = field(default_factory=dict)  # the reader's own counters for the import report
    paths: np.ndarray | None = None  # str (N,): each face's path inside the source, where it has one
