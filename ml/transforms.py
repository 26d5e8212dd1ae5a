"""Transform presets: the one place that turns a 48x48 uint8 face into a model's input tensor.

`FerEvalPreset` is what evaluation and the web app's inference use; `FerTrainPreset` adds the
augmentations a recipe asks for. Both end in the model's own size and normalisation, which travel
with every checkpoint, so a model is always fed the way it was trained.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torchvision.transforms import v2

from ml.models import Preprocessing

if TYPE_CHECKING:  # a runtime import would be circular: ml.train uses these presets
    from ml.train.config import AugmentConfig


def _to_uint8_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(image, dtype=np.uint8))
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor  # (1, H, W)


class FerEvalPreset:
    def __init__(self, preprocessing: Preprocessing, normalize: bool = True):
        steps = [v2.Lambda(_to_uint8_tensor)]
        steps.append(v2.Resize((preprocessing.input_size, preprocessing.input_size), antialias=True))
        steps.append(v2.ToDtype(torch.float32, scale=True))
        if normalize:
            steps.append(v2.Normalize(list(preprocessing.mean), list(preprocessing.std)))
        self.transform = v2.Compose(steps)

    def __call__(self, image) -> torch.Tensor:
        return self.transform(image)


class FerTrainPreset:
    """Augment in the order the seed recipes do: geometry on the uint8 image, then photometry, erasing, normalise."""

    def __init__(self, augment: AugmentConfig, preprocessing: Preprocessing):
        size = preprocessing.input_size
        steps = [v2.Lambda(_to_uint8_tensor)]
        if augment.equalize > 0:
            steps.append(v2.RandomEqualize(p=augment.equalize))
        if augment.hflip:
            steps.append(v2.RandomHorizontalFlip())
        if augment.rotation > 0:
            steps.append(v2.RandomRotation(augment.rotation))
        if augment.crop_padding > 0:
            steps.append(v2.RandomCrop(48, padding=augment.crop_padding))
        if augment.random_resized_crop is not None:
            steps.append(v2.RandomResizedCrop(size, scale=tuple(augment.random_resized_crop), antialias=True))
        else:
            steps.append(v2.Resize((size, size), antialias=True))
        steps.append(v2.ToDtype(torch.float32, scale=True))
        jitter = augment.color_jitter
        if jitter.brightness > 0 or jitter.contrast > 0:
            steps.append(v2.ColorJitter(brightness=jitter.brightness or None, contrast=jitter.contrast or None))
        if augment.random_erasing > 0:
            steps.append(v2.RandomErasing(p=augment.random_erasing, scale=tuple(augment.erasing_scale), value=0))
        if augment.normalize:
            steps.append(v2.Normalize(list(preprocessing.mean), list(preprocessing.std)))
        self.transform = v2.Compose(steps)

    def __call__(self, image) -> torch.Tensor:
        return self.transform(image)
