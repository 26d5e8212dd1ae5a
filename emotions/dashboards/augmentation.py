"""The augmentation preview: one face through a recipe's training transforms several times.

It uses ml's own `FerTrainPreset`, the exact transforms training applies, and undoes only the final
normalisation so the result can be shown as a picture.
"""
from __future__ import annotations

import numpy as np


def augmented_copies(image: np.ndarray, config: dict, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """`count` uint8 images (input_size x input_size) of `image` as a run of `config` would see it."""
    import torch

    from ml.models import model_preprocessing
    from ml.train import TrainConfig
    from ml.transforms import FerTrainPreset

    train_config = TrainConfig.from_dict(config)
    preprocessing = model_preprocessing(train_config.model.name, **train_config.model.options)
    transform = FerTrainPreset(train_config.augment, preprocessing)
    mean = torch.tensor(preprocessing.mean).view(-1, 1, 1)
    std = torch.tensor(preprocessing.std).view(-1, 1, 1)
    copies = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the same preview on every view; torchvision's transforms draw from torch's RNG
        for _ in range(count):
            tensor = transform(image)
            if train_config.augment.normalize:
                tensor = tensor * std + mean
            copies.append((tensor.clamp(0, 1)[0] * 255).round().to(torch.uint8).numpy())
    return copies


def default_recipe(recipes: list[str]) -> str | None:
    """The first preset that augments at all, so the preview shows something on first view."""
    from django.core.exceptions import ValidationError

    from emotions.training import configs
    from ml.train import TrainConfig

    plain = TrainConfig().to_dict()["augment"]
    for name in recipes:
        try:
            if configs.load_preset(name)["augment"] != plain:
                return name
        except ValidationError:  # a broken preset file: the admin's form says what is wrong with it
            continue
    return recipes[0] if recipes else None
