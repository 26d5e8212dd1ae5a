"""Knowledge distillation (Hinton et al. 2015): a small student learns the teacher's soft predictions.

This is how a model fast enough for a CPU can keep most of a large model's accuracy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ml.inference.quantize import int8_available, served_model, stored_calibration_faces
from ml.train.checkpoint import load_model
from ml.train.config import ConfigError, DistillConfig


class Distiller:
    def __init__(self, config: DistillConfig, student_preprocessing, class_names, device: torch.device):
        teacher, checkpoint = load_model(config.teacher_checkpoint)
        # Teacher and student see the very same batch, so they must expect the same input.
        if teacher.preprocessing != student_preprocessing:
            raise ConfigError(
                "distill.teacher_checkpoint",
                f"the teacher expects {teacher.preprocessing}, the student {student_preprocessing}; "
                "they must match",
            )
        if list(checkpoint["class_names"]) != list(class_names):
            raise ConfigError(
                "distill.teacher_checkpoint",
                f"the teacher predicts {checkpoint['class_names']}, the student {list(class_names)}",
            )
        self.teacher = _teacher_as_served(teacher, checkpoint, device)
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.alpha = config.alpha
        self.temperature = config.temperature

    def loss(self, images: torch.Tensor, student_logits: torch.Tensor, hard_loss: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = self.teacher(images).float()
        t = self.temperature
        # T^2 keeps the soft term's gradients on the scale of the hard term's as T changes.
        soft = F.kl_div(
            F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1), reduction="batchmean"
        ) * (t * t)
        return (1 - self.alpha) * hard_loss + self.alpha * soft


def _teacher_as_served(teacher: torch.nn.Module, checkpoint: dict, device: torch.device) -> torch.nn.Module:
    """The teacher in int8 when it carries calibration faces and the student trains on a CPU.

    On a CPU the teacher's forward pass is part of every step; an int8 ensemble runs several times faster
    than its float copy and predicts within rounding of it (`python -m ml quantize` prints both)."""
    if torch.device(device).type == "cpu" and stored_calibration_faces(checkpoint) is not None and int8_available():
        teacher, _ = served_model(teacher, checkpoint)
        return teacher
    return teacher.to(device).eval()


def make_distiller(config: DistillConfig, preprocessing, class_names, device) -> Distiller | None:
    if config.teacher_checkpoint is None:
        return None
    return Distiller(config, preprocessing, class_names, device)


__all__ = ["Distiller", "make_distiller"]
