"""What a run learns to predict: FER2013's one-rater labels, the FER+ raters' majority or distribution, or a mix.

`training_targets` turns one split of a store into the faces a recipe trains on and their targets: class
indices (N,) for `fer2013` and `ferplus_majority`, probability rows (N, K) for `ferplus_distribution` and
`mixed`. FER+ modes leave out the faces without a FER+ reading (no votes, mostly "unknown" or "not a face",
no majority for `ferplus_majority`), and say how many.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.data.ferplus import majority_labels, vote_distributions

LABEL_MODES = ("fer2013", "ferplus_majority", "ferplus_distribution", "mixed")


@dataclass
class SplitTargets:
    rows: np.ndarray  # bool (N,): the split's faces that are trained or scored on
    targets: np.ndarray  # int64 (n,) class indices or float32 (n, K) probabilities, for those faces
    left_out: int  # faces of the split without a target in this mode

    @property
    def class_indices(self) -> np.ndarray:
        """One class per face: the target itself, or its most likely class (for samplers and accuracy)."""
        return self.targets if self.targets.ndim == 1 else self.targets.argmax(axis=1)


def training_targets(mode: str, labels: np.ndarray, votes: np.ndarray | None, *, fer2013_weight: float = 0.5,
                     num_classes: int = 7) -> SplitTargets:
    if mode not in LABEL_MODES:
        raise ValueError(f"unknown labels {mode!r}; choose from: {', '.join(LABEL_MODES)}")
    labels = np.asarray(labels, dtype=np.int64)
    if mode == "fer2013":
        return SplitTargets(rows=np.ones(len(labels), dtype=bool), targets=labels, left_out=0)
    if votes is None:
        raise ValueError(f"labels: {mode} needs FER+ votes in the store; import it with --ferplus VOTES_CSV")
    if mode == "ferplus_majority":
        majority = majority_labels(votes)
        rows = majority >= 0
        return SplitTargets(rows=rows, targets=majority[rows], left_out=int((~rows).sum()))
    distributions, rows = vote_distributions(votes)
    targets = distributions[rows]
    if mode == "mixed":
        one_hot = np.eye(num_classes, dtype=np.float32)[labels[rows]]
        targets = (fer2013_weight * one_hot + (1 - fer2013_weight) * targets).astype(np.float32)
    return SplitTargets(rows=rows, targets=targets, left_out=int((~rows).sum()))


def selection_label_sets(mode: str, fer2013_weight: float = 0.5) -> dict[str, float]:
    """How a run's best epoch is chosen: weights on the PublicTest macro-F1 against each label set.
    A run is selected on the labels it learns; a mixed one on both, in its own proportion."""
    if mode == "fer2013":
        return {"fer2013": 1.0}
    if mode == "mixed":
        return {"fer2013": fer2013_weight, "ferplus": 1 - fer2013_weight}
    return {"ferplus": 1.0}


@dataclass
class ValidationLabels:
    """How a run is scored on PublicTest each epoch: its loss against the targets it learns, its metrics
    against the original labels and, where the store has votes, the FER+ majority."""

    labels: np.ndarray  # FER2013's, every face
    targets: SplitTargets  # the run's own targets, for the loss
    ferplus: np.ndarray | None  # FER+ majority per face, -1 without one; None without votes
    weights: dict[str, float]

    @classmethod
    def for_split(cls, config, store, split: str) -> "ValidationLabels":
        _, labels = store.split(split)
        votes = store.split_votes(split)
        # A store without votes (the user's own photos, validating a run that mixes in FER2013 with FER+
        # targets) is scored and selected on its own labels.
        mode = config.labels if votes is not None else "fer2013"
        targets = training_targets(mode, labels, votes, fer2013_weight=config.mixed_fer2013_weight,
                                   num_classes=len(store.class_names))
        ferplus = None
        if votes is not None and len(store.class_names) == 7:
            ferplus = majority_labels(votes)
            if not (ferplus >= 0).any():
                ferplus = None
        return cls(labels=labels, targets=targets, ferplus=ferplus,
                   weights=selection_label_sets(mode, config.mixed_fer2013_weight))

    def loss(self, criterion, logits: np.ndarray) -> float:
        import torch

        from ml.train.dataset import target_tensor

        device = next(criterion.buffers(), torch.empty(0)).device  # a class-weighted loss keeps its weights there
        chosen = torch.as_tensor(logits[self.targets.rows]).to(device)
        if len(chosen) == 0:
            return float("nan")
        with torch.no_grad():
            return float(criterion(chosen, target_tensor(self.targets.targets).to(device)))

    def metrics(self, predicted: np.ndarray, class_names) -> tuple[dict, dict | None]:
        from ml.evaluate import compute_metrics

        original = compute_metrics(self.labels, predicted, class_names)
        if self.ferplus is None:
            return original, None
        rows = self.ferplus >= 0
        return original, compute_metrics(self.ferplus[rows], predicted[rows], class_names)

    def selection_score(self, original: dict, ferplus: dict | None) -> float:
        scores = {"fer2013": original["macro_f1"], "ferplus": ferplus["macro_f1"] if ferplus else None}
        return float(sum(weight * scores[name] for name, weight in self.weights.items() if weight))
