"""Several trained models served as one: one batch through every member, probabilities averaged.

An ensemble's forward gives log-probabilities, log(mean_m softmax(member_m(x))), so everything that
reads a model's outputs as logits (argmax, softmax, the evaluation code, the predictor) gets the averaged
probabilities without knowing it holds an ensemble. With `flip_tta` each member also sees the mirrored
batch, in the same forward pass.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ml.models.preprocessing import Preprocessing


class EnsembleModel(nn.Module):
    def __init__(self, members: Sequence[nn.Module], *, flip_tta: bool = False):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0].preprocessing
        for member in members[1:]:
            if member.preprocessing != first:
                # One batch is fed to every member, so they must all read the same input.
                raise ValueError(f"ensemble members must share one input size and normalisation: "
                                 f"{first} differs from {member.preprocessing}")
        self.members = nn.ModuleList(members)
        self.flip_tta = flip_tta
        self.preprocessing: Preprocessing = members[0].preprocessing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = torch.cat([x, x.flip(-1)]) if self.flip_tta else x
        log_probabilities = torch.stack([member(views).float().log_softmax(dim=1) for member in self.members])
        if self.flip_tta:
            log_probabilities = torch.cat(log_probabilities.chunk(2, dim=1))  # (2 * members, N, K)
        # log of the mean probability, computed stably
        return torch.logsumexp(log_probabilities, dim=0) - math.log(len(log_probabilities))
