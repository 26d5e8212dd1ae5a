"""A torch Dataset over one split of a FER store's arrays."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset


def target_tensor(labels) -> torch.Tensor:
    """Class indices (N,) as long, or per-class probabilities (N, K) as float (ml/train/targets.py)."""
    labels = torch.as_tensor(labels)
    return labels.long() if labels.ndim == 1 else labels.float()


def target_classes(labels: torch.Tensor) -> torch.Tensor:
    """One class per row: the index itself, or the most likely class of a probability row."""
    return labels if labels.ndim == 1 else labels.argmax(dim=1)


class FerDataset(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable):
        self.images = images
        self.labels = target_tensor(labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]
