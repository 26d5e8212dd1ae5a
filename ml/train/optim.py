"""Optimizer and learning-rate schedule from the config, with per-group learning rates."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ml.models import parameter_groups
from ml.train.config import ConfigError, OptimizerConfig, SchedulerConfig


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model)
    for name in config.group_lr:
        if name not in groups:
            raise ConfigError(f"optimizer.group_lr.{name}", f"this model's parameter groups are: {', '.join(groups)}")
    param_groups = [
        {"params": params, "lr": config.group_lr.get(name, config.lr), "name": name}
        for name, params in groups.items()
        if params
    ]
    if config.name == "sgd":
        return torch.optim.SGD(
            param_groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
        )
    if config.name == "adam":
        return torch.optim.Adam(param_groups, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.AdamW(param_groups, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


class Schedule:
    """Wraps a torch scheduler and knows whether it steps per batch or per epoch (on val loss)."""

    def __init__(self, scheduler, per_batch: bool, on_val_loss: bool):
        self.scheduler = scheduler
        self.per_batch = per_batch
        self.on_val_loss = on_val_loss

    def after_batch(self) -> None:
        if self.scheduler is not None and self.per_batch:
            self.scheduler.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.scheduler is not None and self.on_val_loss:
            self.scheduler.step(val_loss)

    def state_dict(self) -> dict:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


def build_schedule(
    optimizer: torch.optim.Optimizer, config: SchedulerConfig, epochs: int, steps_per_epoch: int
) -> Schedule:
    total_steps = max(1, epochs * steps_per_epoch)
    if config.name == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", patience=config.patience, factor=config.factor, min_lr=config.min_lr
        )
        return Schedule(scheduler, per_batch=False, on_val_loss=True)
    if config.name == "onecycle":
        max_lrs = [group["lr"] * config.max_lr_factor for group in optimizer.param_groups]
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lrs, total_steps=total_steps, pct_start=config.pct_start
        )
        return Schedule(scheduler, per_batch=True, on_val_loss=False)
    if config.name == "cosine":
        warmup = int(config.warmup_epochs * steps_per_epoch)
        floors = [config.min_lr / group["lr"] for group in optimizer.param_groups]

        def factor(step: int, floor: float) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        lambdas = [lambda step, floor=floor: factor(step, floor) for floor in floors]
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
        return Schedule(scheduler, per_batch=True, on_val_loss=False)
    return Schedule(None, per_batch=False, on_val_loss=False)
