"""Honest evaluation: scikit-learn's metrics, wrapped once, on a split the model never tuned on."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from ml.models import Preprocessing
from ml.transforms import FerEvalPreset


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, macro and weighted F1 and the confusion matrix (counts).

    Rows of the confusion matrix are true classes, columns predicted, both in `class_names` order.
    A class with no predictions gets precision 0 rather than a warning.
    """
    labels = list(range(len(class_names)))
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_names": list(class_names),
        "num_samples": int(len(y_true)),
    }


def ferplus_metrics(predicted: np.ndarray, votes: np.ndarray | None, class_names: Sequence[str]) -> dict[str, Any] | None:
    """The same predictions scored against the FER+ raters' majority, on the faces that have a 7-class
    majority (their count is `num_samples`); None without votes or for a class subset."""
    from ml.classes import FER_CLASSES
    from ml.data.ferplus import majority_labels

    if votes is None or tuple(class_names) != tuple(FER_CLASSES):
        return None
    majority = majority_labels(votes)
    rows = majority >= 0
    if not rows.any():
        return None
    metrics = compute_metrics(majority[rows], np.asarray(predicted)[rows], class_names)
    metrics["labels"] = "ferplus_majority"
    return metrics


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is available; use device: auto or cpu")
    return torch.device(device)


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    images: np.ndarray,
    preprocessing: Preprocessing,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    tta_hflip: bool = False,
) -> np.ndarray:
    """Class probabilities (N x K) for uint8 48x48 faces; with `tta_hflip`, averaged with the mirror image."""
    device = torch.device(device)
    model = model.to(device).eval()
    transform = FerEvalPreset(preprocessing)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([transform(image) for image in images[start : start + batch_size]]).to(device)
        probabilities = model(batch).float().softmax(dim=1)
        if tta_hflip:
            probabilities = (probabilities + model(batch.flip(-1)).float().softmax(dim=1)) / 2
        outputs.append(probabilities.cpu())
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(outputs).numpy()


def evaluate_model(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
    *,
    device: str | torch.device = "cpu",
    tta_hflip: bool = False,
    batch_size: int = 256,
) -> dict[str, Any]:
    probabilities = predict_probabilities(
        model, images, preprocessing, device=device, tta_hflip=tta_hflip, batch_size=batch_size
    )
    metrics = compute_metrics(labels, probabilities.argmax(axis=1), class_names)
    metrics["tta_hflip"] = tta_hflip
    return metrics


def evaluate_checkpoint(
    checkpoint_path: str | Path,
    store,
    split: str = "private_test",
    *,
    tta: bool = False,
    device: str = "auto",
    int8: bool = True,
) -> dict[str, Any]:
    """Evaluate a saved model on one split of a FerStore, on the classes the model was trained on.

    Scores the model as served: int8 where the checkpoint carries calibration faces and the device is
    the CPU (ml/inference/quantize.py), float otherwise or with `int8=False`."""
    from ml.inference.quantize import served_model
    from ml.train.checkpoint import load_model

    model, checkpoint = load_model(checkpoint_path)
    device = resolve_device(device)
    model, precision = served_model(model, checkpoint, int8=int8 and device.type == "cpu")
    class_names = checkpoint["class_names"]
    if list(class_names) != list(store.class_names):
        store = store.select_classes(class_names)
    images, labels = store.split(split)
    if len(labels) == 0:
        raise ValueError(f"split {split!r} of this data set is empty")
    probabilities = predict_probabilities(model, images, model.preprocessing, device=device, tta_hflip=tta)
    predicted = probabilities.argmax(axis=1)
    metrics = compute_metrics(labels, predicted, class_names)
    metrics["tta_hflip"] = tta
    metrics["labels"] = "fer2013"
    ferplus = ferplus_metrics(predicted, store.split_votes(split), class_names)
    if ferplus is not None:
        metrics["ferplus"] = ferplus
    metrics["precision"] = precision
    metrics["split"] = split
    metrics["checkpoint"] = str(checkpoint_path)
    metrics["data_checksum_matches"] = checkpoint.get("data_checksum") == store.source_checksum
    return metrics
