"""A split kept on the training device and served as augmented batches: the GPU's answer to a DataLoader.

All of FER2013 is 83 MB as uint8, so it is copied to the device once; each batch is then an index into it
followed by `BatchAugment`, with no workers, pickling or host-to-device copies per step. The epoch's
order and augmentation come from one generator seeded per epoch, as in `make_train_loader`.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Literal

import numpy as np
import torch

from ml.models import Preprocessing
from ml.train.batch_augment import BatchAugment, batch_eval_transform
from ml.train.config import TrainConfig
from ml.train.dataset import target_classes, target_tensor

BatchTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
Order = Literal["shuffle", "weighted", "sequential"]


class DeviceBatches:
    """(images, labels) batches of one split held on `device`; iterating it is one epoch."""

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        transform: BatchTransform,
        *,
        batch_size: int,
        device: torch.device | str,
        order: Order = "shuffle",
        drop_last: bool = False,
        seed: int = 0,
        weights: np.ndarray | None = None,
        draws: int | None = None,
    ):
        self.device = torch.device(device)
        self.images = torch.as_tensor(images, dtype=torch.uint8).to(self.device)
        self.labels = target_tensor(labels).to(self.device)
        self.transform = transform
        self.batch_size = batch_size
        self.order = order
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0
        # order "weighted": each face's chance of being drawn, `draws` times per epoch (all faces' count by default)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64).to(self.device)
        self.draws = draws or len(self.labels)

    @classmethod
    def for_training(cls, images, labels, config: TrainConfig, preprocessing: Preprocessing, device,
                     sample_weights: np.ndarray | None = None) -> "DeviceBatches":
        from ml.train.loop import draw_weights

        classes = target_classes(target_tensor(labels)).numpy()
        weights = draw_weights(config, classes, int(classes.max()) + 1, sample_weights)
        draws = config.samples_per_epoch or len(labels)
        return cls(
            images,
            labels,
            BatchAugment(config.augment, preprocessing),
            batch_size=config.batch_size,
            device=device,
            order="weighted" if weights is not None else "shuffle",
            drop_last=draws > config.batch_size,  # as make_train_loader: a batch of one breaks BatchNorm
            seed=config.seed,
            weights=weights,
            draws=draws,
        )

    @classmethod
    def for_evaluation(
        cls, images, labels, preprocessing: Preprocessing, *, batch_size: int, device, normalize: bool = True
    ) -> "DeviceBatches":
        def transform(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            return batch_eval_transform(batch, preprocessing, normalize)

        return cls(images, labels, transform, batch_size=batch_size, device=device, order="sequential")

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next pass draws (as DistributedSampler does)."""
        self.epoch = epoch

    def __len__(self) -> int:
        count = self.draws if self.order == "weighted" else len(self.labels)
        if self.drop_last:
            return count // self.batch_size
        return math.ceil(count / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + self.epoch)
        indices = self._indices(generator)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            chosen = indices[start : start + self.batch_size]
            images = self.transform(self.images[chosen], generator)
            if self.device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, self.labels[chosen]

    def _indices(self, generator: torch.Generator) -> torch.Tensor:
        count = len(self.labels)
        if self.order == "sequential":
            return torch.arange(count, device=self.device)
        if self.order == "shuffle":
            return torch.randperm(count, generator=generator, device=self.device)
        # As WeightedRandomSampler: each face drawn by its weight (its store's, its class's inverse frequency).
        weights = self.weights
        if weights is None:
            classes = target_classes(self.labels)
            weights = 1.0 / torch.bincount(classes).double()[classes]
        return torch.multinomial(weights, self.draws, replacement=True, generator=generator)
