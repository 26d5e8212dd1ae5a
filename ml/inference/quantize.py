"""Serve a model with 8-bit integer weights and activations on x86 CPUs: the same predictions, 2-3x sooner.

Post-training static quantisation (PyTorch's FX graph mode, the "x86" backend): convolutions, batch norms
and ReLUs are fused, weights get per-channel int8 scales, and each activation's int8 range is set by
running a few hundred real FER2013 training faces through the float model ("calibration"). At batch 1 on
a 2-core CPU that is what lets several ensemble members fit within 5 ms per face
(bench/predict_speed.py times both; the model card scores both).

The calibration faces travel inside the checkpoint (`int8_calibration`, a small uint8 array), so the
serving process, which has no data set, quantises the model the same way every time it loads it:
`python -m ml quantize CKPT --data STORE` adds them to any checkpoint, an ensemble's included. A checkpoint
without them is served in float.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.models import Preprocessing
from ml.transforms import FerEvalPreset

BACKEND = "x86"
DEFAULT_CALIBRATION_FACES = 256


class QuantizationUnavailable(RuntimeError):
    """This torch build or CPU has no int8 engine for the backend we quantise for."""


def int8_available() -> bool:
    return BACKEND in torch.backends.quantized.supported_engines


def calibration_faces(images: np.ndarray, labels: np.ndarray, count: int = DEFAULT_CALIBRATION_FACES,
                      seed: int = 0) -> np.ndarray:
    """`count` training faces, the same share of every class (rare classes shape the activations too)."""
    if count < 1:
        raise ValueError(f"calibration needs at least one face, not {count}")
    if len(images) == 0:
        raise ValueError("calibration needs training faces, and the split is empty")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = -(-count // len(classes))  # rounded up, then the surplus drawn away at random
    chosen = []
    for label in classes:
        rows = np.flatnonzero(labels == label)
        chosen.append(rng.choice(rows, size=min(per_class, len(rows)), replace=False))
    pooled = np.concatenate(chosen)
    rows = np.sort(rng.choice(pooled, size=min(count, len(pooled)), replace=False))
    return np.ascontiguousarray(images[rows], dtype=np.uint8)


def calibration_payload(faces: np.ndarray) -> dict[str, Any]:
    """The checkpoint entry: plain tensors only, so torch.load(weights_only=True) reads it."""
    faces = np.asarray(faces)
    if faces.ndim != 3 or faces.dtype != np.uint8:
        raise ValueError(f"calibration faces must be (N, H, W) uint8, not {faces.shape} {faces.dtype}")
    return {"backend": BACKEND, "faces": torch.from_numpy(np.ascontiguousarray(faces))}


def quantize_model(model: nn.Module, faces: np.ndarray | torch.Tensor, preprocessing: Preprocessing) -> nn.Module:
    """An int8 copy of `model` (an ensemble: each member quantised, the averaging kept in float).

    `faces` are (N, H, W) uint8 calibration faces; `model` itself is untouched."""
    if not int8_available():
        raise QuantizationUnavailable(f"this torch build has no {BACKEND!r} int8 engine "
                                      f"(it has {', '.join(torch.backends.quantized.supported_engines)})")
    faces = torch.as_tensor(np.asarray(faces, dtype=np.uint8))
    inputs = FerEvalPreset(preprocessing)(faces.unsqueeze(1))
    torch.backends.quantized.engine = BACKEND  # process-wide: the int8 kernels run on the engine set when called
    quantized = copy.deepcopy(model).eval()
    members = getattr(quantized, "members", None)
    if isinstance(members, nn.ModuleList):
        for index, member in enumerate(members):
            members[index] = _quantize_one(member, inputs)
        return quantized
    return _quantize_one(quantized, inputs)


@torch.no_grad()
def _quantize_one(model: nn.Module, inputs: torch.Tensor) -> nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    preprocessing = getattr(model, "preprocessing", None)
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the FX path still works in this torch.
        warnings.simplefilter("ignore")
        prepared = prepare_fx(model.eval(), get_default_qconfig_mapping(BACKEND), (inputs[:1],))
        for start in range(0, len(inputs), 64):
            prepared(inputs[start : start + 64])
        quantized = convert_fx(prepared).eval()
    if preprocessing is not None:
        quantized.preprocessing = preprocessing
    return quantized


def stored_calibration_faces(checkpoint: dict[str, Any]) -> np.ndarray | None:
    """The calibration faces a checkpoint carries, or None: such a checkpoint is served in float."""
    entry = checkpoint.get("int8_calibration")
    if not entry:
        return None
    if entry.get("backend") != BACKEND:
        raise ValueError(f"this checkpoint was calibrated for the {entry.get('backend')!r} int8 backend, "
                         f"not {BACKEND!r}")
    return entry["faces"].cpu().numpy()


def served_model(model: nn.Module, checkpoint: dict[str, Any], *, int8: bool = True) -> tuple[nn.Module, str]:
    """The model as the upload path runs it, for scoring: int8 where calibrated, else float as trained."""
    faces = stored_calibration_faces(checkpoint) if int8 else None
    if faces is None or not int8_available():
        return model.eval(), "float32"
    return quantize_model(model, faces, model.preprocessing), "int8"
