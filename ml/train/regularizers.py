"""Batch-level regularisers the strongest FER2013 recipes use: mixup / cutmix and an EMA of weights."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

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


class WeightEMA(nn.Module):
    """An exponential moving average of a model's weights and BatchNorm statistics, updated every step.

    The decay warms up as min(decay, (1 + n) / (10 + n)) over the first updates n: with a fixed 0.999 the
    average is still mostly the random initialisation for the first thousand steps, and on FER2013 it
    predicted a single class for the first five epochs. The step count is kept on the host, so an update
    never waits for the GPU; it is also saved (as `n_averaged`) so a resumed run continues the same decay.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        self.module = copy.deepcopy(model)
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long))
        self._updates: int | None = None  # host copy of n_averaged, read once

    def current_decay(self) -> float:
        n = self._host_updates()
        return min(self.decay, (1 + n) / (10 + n))

    def _host_updates(self) -> int:
        if self._updates is None:
            self._updates = int(self.n_averaged)
        return self._updates

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        decay = self.current_decay()
        averaged = list(self.module.parameters()) + list(self.module.buffers())
        current = list(model.parameters()) + list(model.buffers())
        floats = [(a, c) for a, c in zip(averaged, current, strict=True) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c.detach() for _, c in floats], 1 - decay)
        for a, c in zip(averaged, current, strict=True):
            if not a.is_floating_point():
                a.copy_(c)  # counters such as num_batches_tracked
        self._updates = self._host_updates() + 1
        self.n_averaged.fill_(self._updates)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._updates = None  # re-read from the loaded n_averaged


def make_ema(model: nn.Module, decay: float) -> WeightEMA:
    """An exponential moving average of the weights (and BatchNorm statistics), updated every step."""
    return WeightEMA(model, decay)
