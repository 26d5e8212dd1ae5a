"""Stratified picks shared by the import (validation split) and `FerStore.subsample`."""
from __future__ import annotations

import numpy as np


def holdout_size(class_size: int, fraction: float) -> int:
    """How many of one class go to the holdout: the rounded fraction, but never all and, if asked, at least one."""
    if fraction <= 0 or class_size < 2:
        return 0
    return min(class_size - 1, max(1, round(class_size * fraction)))


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask choosing `fraction` of each class at random; the same labels and seed give the same mask."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen = rng.permutation(members)[: holdout_size(len(members), fraction)]
        mask[chosen] = True
    return mask


def proportional_quotas(class_sizes: np.ndarray, total: int) -> np.ndarray:
    """Split `total` over classes in proportion to their sizes, at least one per non-empty class.

    Largest-remainder rounding keeps the sum exactly `total` (or everything, when there is less).
    """
    class_sizes = np.asarray(class_sizes, dtype=np.int64)
    present = class_sizes > 0
    if class_sizes.sum() <= total:
        return class_sizes.copy()
    if present.sum() > total:
        raise ValueError(
            f"cannot keep at least one of each of {int(present.sum())} classes in {total} rows"
        )
    exact = class_sizes * total / class_sizes.sum()
    quotas = np.minimum(np.where(present, np.maximum(np.floor(exact), 1), 0), class_sizes).astype(np.int64)
    # The at-least-one rule may overshoot: take back from the biggest quotas.
    while quotas.sum() > total:
        quotas[np.argmax(np.where(quotas > 1, quotas, -1))] -= 1
    # Flooring undershoots: hand the rest to the largest remainders that still have room.
    while quotas.sum() < total:
        room = quotas < class_sizes
        quotas[np.argmax(np.where(room, exact - quotas, -np.inf))] += 1
    return quotas


def stratified_subset(labels: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a random subset of at most `total` rows, keeping class proportions."""
    classes, class_sizes = np.unique(labels, return_counts=True)
    quotas = proportional_quotas(class_sizes, total)
    picked = [
        rng.choice(np.flatnonzero(labels == label), size=quota, replace=False)
        for label, quota in zip(classes, quotas)
    ]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
