"""Several trained models served as one: one batch through every member, probabilities averaged.

An ensemble's forward gives log-probabilities, log(mean_m softmax(member_m(x))), so everything that
reads a model's outputs as logits (argmax, softmax, the evaluation code, the predictor) gets the averaged
probabilities without knowing it holds an ensemble. With `flip_tta` each member also sees the mirrored
batch, in the same forward pass.

With `prior_correction` the averaged probabilities are divided by the training split's class
frequencies raised to an exponent and renormalised (logit adjustment, Menon et al. 2021): FER2013 holds
sixteen Happy faces for every Disgust face, photos people upload do not, and an exponent between 0 (none)
and 1 (a balanced prior) trades a little of FER2013's own accuracy for recall on its rare classes.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ml.models.preprocessing import Preprocessing


class EnsembleModel(nn.Module):
    def __init__(self, members: Sequence[nn.Module], *, flip_tta: bool = False,
                 prior_correction: dict | None = None):
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
        offsets = None
        if prior_correction:
            prior = torch.tensor(prior_correction["train_prior"], dtype=torch.float32)
            offsets = -float(prior_correction["exponent"]) * prior.log()
        # Not saved in a state dict: the checkpoint's options rebuild it.
        self.register_buffer("class_log_offsets", offsets, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = torch.cat([x, x.flip(-1)]) if self.flip_tta else x
        log_probabilities = torch.stack([member(views).float().log_softmax(dim=1) for member in self.members])
        if self.flip_tta:
            log_probabilities = torch.cat(log_probabilities.chunk(2, dim=1))  # (2 * members, N, K)
        # log of the mean probability, computed stably
        mean_log_probability = torch.logsumexp(log_probabilities, dim=0) - math.log(len(log_probabilities))
        if self.class_log_offsets is None:
            return mean_log_probability
        return (mean_log_probability + self.class_log_offsets).log_softmax(dim=1)


# What a prior correction divides by, by its "labels" key (absent: FER2013's labels).
PRIOR_SOURCES = {
    "fer2013": "the Training split's class frequencies",
    "ferplus": "the FER+ raters' mean vote distribution over the Training split",
    "fine_tuning": "the class frequencies of the faces drawn to fine-tune it (each data set by its share)",
}


def prior_source_words(prior: dict) -> str:
    return PRIOR_SOURCES.get(prior.get("labels", "fer2013"), PRIOR_SOURCES["fer2013"])


def training_prior_correction(class_counts: Sequence[int], exponent: float) -> dict:
    """The `prior_correction` option for an ensemble trained on a split with these class counts."""
    if not 0 < exponent <= 1:
        raise ValueError(f"the prior correction's exponent must lie in (0, 1], not {exponent}")
    if any(count <= 0 for count in class_counts):
        raise ValueError("every class needs training images for a prior correction")
    total = float(sum(class_counts))
    return {"exponent": float(exponent), "train_prior": [count / total for count in class_counts]}
