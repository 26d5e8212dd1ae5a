"""Checkpoints: a plain dict that rebuilds its model and preprocessing, written atomically.

Only plain types and tensors go in, so `torch.load(..., weights_only=True)` reads it back: loading a
checkpoint never runs code from the file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ml.models import Preprocessing, create_model

FORMAT = "fer-checkpoint/1"


class CheckpointError(ValueError):
    pass


def checkpoint_payload(
    model: nn.Module, *, name: str, options: dict[str, Any], class_names, **extra: Any
) -> dict[str, Any]:
    """What rebuilds `model` (made by `create_model(name, **options)`): architecture, weights, class names
    and preprocessing, plus any `extra` keys (config, metrics, epoch, data checksum...)."""
    return {
        "model": {"name": name, "options": dict(options), "num_classes": len(class_names)},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "class_names": list(class_names),
        "preprocessing": model.preprocessing.to_dict(),
        **extra,
    }


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write to a temp file in the same folder, then rename: a crash never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, **payload}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated file or a pickle with code in it
        raise CheckpointError(f"{path} is not a readable checkpoint: {exc}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint written by this project")
    return checkpoint


ENSEMBLE = "ensemble"  # model name of a checkpoint whose `members` are checkpoints themselves


def ensemble_payload(member_checkpoints: list[dict[str, Any]], *, flip_tta: bool = False,
                     prior_correction: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """One checkpoint holding several trained ones, served as one model (ml/models/ensemble.py).

    Members keep their own payloads (architecture, weights, config, scores), so the file still says how
    each was made; they must share class names and preprocessing."""
    if not member_checkpoints:
        raise CheckpointError("an ensemble needs at least one member checkpoint")
    first = member_checkpoints[0]
    for member in member_checkpoints[1:]:
        if list(member["class_names"]) != list(first["class_names"]):
            raise CheckpointError(f"ensemble members disagree on classes: {first['class_names']} vs {member['class_names']}")
        if member["preprocessing"] != first["preprocessing"]:
            raise CheckpointError(f"ensemble members disagree on preprocessing: {first['preprocessing']} vs {member['preprocessing']}")
    if prior_correction and len(prior_correction["train_prior"]) != len(first["class_names"]):
        raise CheckpointError(f"the prior correction has {len(prior_correction['train_prior'])} classes, "
                              f"the members {len(first['class_names'])}")
    members = [{k: v for k, v in member.items() if k != "format"} for member in member_checkpoints]
    options: dict[str, Any] = {"flip_tta": flip_tta, "members": len(members)}
    if prior_correction:
        options["prior_correction"] = prior_correction
    return {
        "model": {"name": ENSEMBLE, "options": options,
                  "num_classes": len(first["class_names"])},
        "members": members,
        "class_names": list(first["class_names"]),
        "preprocessing": dict(first["preprocessing"]),
        **extra,
    }


def model_from_checkpoint(checkpoint: dict[str, Any]) -> nn.Module:
    """Rebuild the architecture the checkpoint names and load its weights, ready for eval."""
    spec = checkpoint["model"]
    if spec["name"] == ENSEMBLE:
        from ml.models.ensemble import EnsembleModel

        members = [model_from_checkpoint(member) for member in checkpoint["members"]]
        return EnsembleModel(members, flip_tta=bool(spec["options"].get("flip_tta")),
                             prior_correction=spec["options"].get("prior_correction")).eval()
    # Pretrained backbone weights are inside the state dict already: never reload them from a path.
    options = {k: v for k, v in spec["options"].items() if k != "pretrained_weights"}
    model = create_model(spec["name"], num_classes=spec["num_classes"], **options)
    model.load_state_dict(checkpoint["state_dict"])
    model.preprocessing = Preprocessing.from_dict(checkpoint["preprocessing"])
    return model.eval()


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    checkpoint = load_checkpoint(path, map_location)
    return model_from_checkpoint(checkpoint), checkpoint


def initial_checkpoint(path: str | Path, member: int | None = None) -> dict[str, Any]:
    """The trained checkpoint a fine-tuning run starts from: `path` itself, or member `member` of an ensemble."""
    checkpoint = load_checkpoint(path)
    if checkpoint["model"]["name"] != ENSEMBLE:
        if member is not None:
            raise CheckpointError(f"{path} is a single model, not an ensemble: leave init_member unset")
        return checkpoint
    members = checkpoint["members"]
    if member is None:
        raise CheckpointError(f"{path} is an ensemble of {len(members)} members: choose one with init_member (0-{len(members) - 1})")
    if not 0 <= member < len(members):
        raise CheckpointError(f"{path} has members 0-{len(members) - 1}, not {member}")
    return {"format": FORMAT, **members[member]}
