"""An ensemble checkpoint as `python -m ml ensemble` writes one, small enough to record in a test: two tiny
ferlite members with their configs and curves, averaged, with a prior correction; and the real-photo
figures `python -m ml evaluate-photos --save` keeps beside a checkpoint.

(A module of its own, imported by name like emotions_test_support: tests/ has no packages.)"""
from __future__ import annotations

from pathlib import Path

from ml.classes import FER_CLASSES

MEMBERS = (("tiny_member_a", 1, 4), ("tiny_member_b", 2, 6))  # (recipe, seed, ferlite width)
TRAIN_COUNTS = [3995, 436, 4097, 7215, 4830, 3171, 4965]  # FER2013's Training split, per class


def member_payload(name: str, seed: int, width: int, epochs: int = 3, best: int = 2) -> dict:
    """A trained member as ml saves one: weights, its config and its epochs' curves."""
    import torch

    from ml.models import create_model
    from ml.train.checkpoint import checkpoint_payload
    from ml.train.loop import EpochResult

    torch.manual_seed(seed)
    model = create_model("ferlite", num_classes=len(FER_CLASSES), width=width)
    config = {"name": name, "description": f"{name}, for the tests", "epochs": epochs, "labels": "fer2013",
              "model": {"name": "ferlite", "options": {"width": width}}}
    history = [
        EpochResult(epoch=e, epochs=epochs, train_loss=2.0 - 0.3 * e, train_acc=0.2 + 0.05 * e, val_loss=2.1 - 0.3 * e,
                    val_acc=0.25 + 0.04 * e + 0.01 * seed, val_macro_f1=0.2 + 0.04 * e + 0.01 * seed, lr=1e-3,
                    seconds=5.0, images_per_second=100.0, is_best=e == best).to_dict()
        for e in range(1, epochs + 1)
    ]
    return checkpoint_payload(model, name="ferlite", options={"width": width}, class_names=FER_CLASSES,
                              config=config, history=history, epoch=best, metrics={}, data_checksum="noise")


def save_tiny_ensemble(path: Path, *, name: str = "tiny_pair", exponent: float | None = 0.5,
                       weights: list[float] | None = None) -> Path:
    """Two members averaged (with `weights`, where given), then divided by FER2013's Training class
    frequencies to the power `exponent`."""
    from ml.models.ensemble import training_prior_correction
    from ml.train.checkpoint import ensemble_payload, save_checkpoint

    members = [member_payload(*member) for member in MEMBERS]
    prior = training_prior_correction(TRAIN_COUNTS, exponent) if exponent else None
    payload = ensemble_payload(members, prior_correction=prior, data_checksum="noise", config={
        "name": name, "members": [member[0] for member in MEMBERS], "flip_tta": False, "prior_correction": exponent,
    })
    if weights is not None:
        payload["model"]["options"]["weights"] = weights
    return save_checkpoint(payload, path)


def member_parameters() -> int:
    from ml.models import count_parameters, create_model

    return sum(count_parameters(create_model("ferlite", num_classes=len(FER_CLASSES), width=width))
               for _, _, width in MEMBERS)


def save_photo_figures(checkpoint: Path, name: str, confusion, seconds: float = 30.0, no_face: int = 0) -> dict:
    """A whole-pipeline evaluation of `name`'s photos whose predictions make `confusion` (rows true), kept
    beside `checkpoint` as `python -m ml evaluate-photos --save` keeps one."""
    from ml.data.entry_sources import file_sha256
    from ml.inference.photo_eval import save_photo_evaluation

    metrics = scores_for(confusion)
    result = {
        "folder": f"devsets/{name}", "set": name, "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint), "model": "ensemble", "detector": "mtcnn",
        "labels_from": "labels.csv", "num_photos": metrics["num_samples"], "skipped": [], "no_face": no_face,
        "strict": metrics, "whole_image_fallback": metrics, "seconds": seconds,
        "command": f"python -m ml evaluate-photos devsets/{name} --checkpoint {checkpoint}",
    }
    save_photo_evaluation(result)
    return result


def scores_for(confusion) -> dict:
    """ml's evaluation dict for predictions that make exactly `confusion` (rows true, FER2013's class order)."""
    from ml.evaluate import compute_metrics

    y_true, y_pred = [], []
    for true, row in enumerate(confusion):
        for predicted, count in enumerate(row):
            y_true += [true] * count
            y_pred += [predicted] * count
    return compute_metrics(y_true, y_pred, list(FER_CLASSES))
