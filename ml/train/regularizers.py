"""Batch-level regularisers the strongest FER2013 recipes use: mixup / cutmix and an EMA of weights."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ml.train.config import MixConfig


class BatchMixer:
    """Mixes each batch with a shuffled copy of itself: mixup blends whole images, cutmix pastes a box.

    Returns the mixed images, both label sets and the weight `lam` of the first, so the loss is
    lam * loss(y_a) + (1 - lam) * loss(y_b). Random draws use torch's generators, so seeding covers them.
    """

    def __init__(self, config: MixConfig):
        self.config = config

    @property
    def enabled(self) -> bool:
        return self.config.mixup_alpha > 0 or self.config.cutmix_alpha > 0

    def __call__(self, images: torch.Tensor, labels: torch.Tensor):
        config = self.config
        if not self.enabled or torch.rand(()) >= config.prob:
            return images, labels, labels, 1.0
        use_cutmix = config.cutmix_alpha > 0 and (config.mixup_alpha <= 0 or torch.rand(()) < 0.5)
        alpha = config.cutmix_alpha if use_cutmix else config.mixup_alpha
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        permutation = torch.randperm(len(labels), device=images.device)
        if use_cutmix:
            images, lam = _paste_box(images, images[permutation], lam)
        else:
            images = lam * images + (1 - lam) * images[permutation]
        return images, labels, labels[permutation], lam


def _paste_box(images: torch.Tensor, others: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
    height, width = images.shape[-2:]
    cut = (1 - lam) ** 0.5
    box_h, box_w = int(height * cut), int(width * cut)
    center_y = int(torch.randint(height, ()))
    center_x = int(torch.randint(width, ()))
    top, bottom = max(center_y - box_h // 2, 0), min(center_y + box_h // 2, height)
    left, right = max(center_x - box_w // 2, 0), min(center_x + box_w // 2, width)
    mixed = images.clone()
    mixed[..., top:bottom, left:right] = others[..., top:bottom, left:right]
    # The box may be clipped at the border: weight the labels by the area actually pasted.
    return mixed, 1 - (bottom - top) * (right - left) / (height * width)


def mixed_loss(criterion: nn.Module, logits: torch.Tensor, labels_a, labels_b, lam: float) -> torch.Tensor:
    if lam == 1.0:
        return criterion(logits, labels_a)
    return lam * criterion(logits, labels_a) + (1 - lam) * criterion(logits, labels_b)


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of the weights (and BatchNorm statistics), updated every step."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
