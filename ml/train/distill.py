"""Knowledge distillation (Hinton et al. 2015): a small student learns the teacher's soft predictions.

This is how a model fast enough for a CPU can keep most of a large model's accuracy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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
        self.teacher = teacher.to(device).eval()
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


def make_distiller(config: DistillConfig, preprocessing, class_names, device) -> Distiller | None:
    if config.teacher_checkpoint is None:
        return None
    return Distiller(config, preprocessing, class_names, device)


__all__ = ["Distiller", "make_distiller"]
