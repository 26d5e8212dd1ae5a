"""A run's live status as the run page shows it and `status.json` serves it: progress, ETA, latest epoch."""
from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Avg

from emotions.training.models import EpochMetric, TrainingRun

LATEST_FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1", "lr", "images_per_second")


@dataclass
class LiveStatus:
    run: TrainingRun
    latest: EpochMetric | None
    mean_epoch_seconds: float | None

    @classmethod
    def from_epochs(cls, run: TrainingRun, epochs: list[EpochMetric]) -> LiveStatus:
        """From rows the caller already has (the run page)."""
        mean = sum(row.seconds for row in epochs) / len(epochs) if epochs else None
        return cls(run, epochs[-1] if epochs else None, mean)

    @classmethod
    def query(cls, run: TrainingRun) -> LiveStatus:
        """Two small queries, however many epochs there are (status.json, polled while a run is active)."""
        latest = run.epoch_metrics.order_by("-epoch").first()
        mean = run.epoch_metrics.aggregate(mean=Avg("seconds"))["mean"] if latest else None
        return cls(run, latest, mean)

    @property
    def eta_seconds(self) -> float | None:
        """Mean epoch time so far x epochs left, while running; None before the first epoch."""
        run = self.run
        if run.status != TrainingRun.Status.RUNNING or self.mean_epoch_seconds is None or not run.epochs:
            return None
        return max(run.epochs - run.epoch, 0) * self.mean_epoch_seconds

    def to_dict(self) -> dict:
        run = self.run
        return {
            "id": run.pk,
            "status": run.status,
            "status_label": run.get_status_display(),
            "is_active": run.is_active,
            "epoch": run.epoch,
            "epochs": run.epochs,
            "progress": round(run.progress, 4),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "latest": None if self.latest is None else {
                "epoch": self.latest.epoch, **{field: _finite(getattr(self.latest, field)) for field in LATEST_FIELDS}
            },
            "error": run.error,
            "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN: a diverged epoch shows as empty
