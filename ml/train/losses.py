"""Loss functions named in the config: plain, class-weighted and focal cross-entropy."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ml.train.config import LossConfig


def inverse_frequency_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Weight each class by N / (K * n_c), so a balanced data set gets all ones."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    counts[counts == 0] = 1.0  # an absent class never appears in a target, so its weight is moot
    return torch.tensor(len(labels) / (num_classes * counts), dtype=torch.float32)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): (1 - p_t)^gamma x CE, which down-weights easy examples.

    With label smoothing, the focal factor uses the probability of the true class and multiplies the
    smoothed cross-entropy, as the seed-001 recipe combined the two.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, target, reduction="none", label_smoothing=self.label_smoothing)
        p_true = logits.float().softmax(dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
        loss = (1.0 - p_true).pow(self.gamma) * ce
        if self.weight is not None:
            loss = loss * self.weight[target]
        return loss.mean()


def build_loss(config: LossConfig, train_labels: np.ndarray, num_classes: int) -> nn.Module:
    if config.name == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    weights = inverse_frequency_weights(train_labels, num_classes)
    if config.name == "weighted_cross_entropy":
        return nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)
    return FocalLoss(config.gamma, weights if config.class_weights else None, config.label_smoothing)
