"""A torch Dataset over one split of a FER store's arrays."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset


class FerDataset(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable):
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]
