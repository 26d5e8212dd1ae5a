"""Records for the dashboard tests: runs with known numbers, a tiny store, a checkpoint that always
answers the same class. No training: every number a page shows is one a test wrote.

(A module of its own, imported by name like emotions_test_support: tests/ has no packages.)"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.utils import timezone

from emotions.models import EpochMetric, TrainingRun
from emotions_test_support import make_noise_store
from ml.classes import FER_CLASSES

# Rows true, columns predicted, FER2013's class order: Fear and Sad bleed into each other, Disgust is
# never predicted.
CONFUSION = [
    [30, 0, 5, 2, 8, 1, 4],
    [6, 0, 1, 0, 2, 0, 1],
    [4, 0, 20, 1, 15, 6, 4],
    [1, 0, 1, 80, 2, 3, 3],
    [3, 0, 12, 2, 40, 1, 12],
    [1, 0, 4, 2, 1, 35, 2],
    [2, 0, 3, 4, 9, 1, 51],
]


def metrics_from_confusion(confusion, class_names=FER_CLASSES) -> dict:
    """ml's evaluation dict for predictions that produce exactly `confusion`."""
    from ml.evaluate import compute_metrics

    y_true, y_pred = [], []
    for true, row in enumerate(confusion):
        for predicted, count in enumerate(row):
            y_true += [true] * count
            y_pred += [predicted] * count
    return compute_metrics(y_true, y_pred, list(class_names))


def make_run(experiment, **fields) -> TrainingRun:
    defaults = {"config": experiment.config, "status": TrainingRun.Status.SUCCEEDED, "device": "cpu",
                "epochs": experiment.config["epochs"], "finished_at": timezone.now()}
    return TrainingRun.objects.create(experiment=experiment, **{**defaults, **fields})


def add_epochs(run: TrainingRun, count: int, seconds: float = 10.0, best: int | None = None) -> list[EpochMetric]:
    """`count` epochs of smoothly improving made-up numbers; epoch e has val_acc 0.3 + e/1000."""
    rows = [
        EpochMetric(
            run=run, epoch=e, train_loss=2.0 - e / count, train_acc=0.2 + e / (2 * count), val_loss=2.1 - e / count,
            val_acc=0.3 + e / 1000, val_macro_f1=0.25 + e / 1000, lr=1e-3 * (0.97 ** e), seconds=seconds,
            images_per_second=1234.0, is_best=(e == best),
        )
        for e in range(1, count + 1)
    ]
    return EpochMetric.objects.bulk_create(rows)


def make_face_store(per_class_per_split: int = 3, seed: int = 0):
    """Noise faces, `per_class_per_split` of each class in each split; labels cycle through the classes."""
    return make_noise_store(per_split=per_class_per_split * len(FER_CLASSES), seed=seed)


def save_checkpoint_for(run: TrainingRun, class_names, answer: int | None = None, margin: float = 4.0) -> Path:
    """A ferlite checkpoint (width 8, seeded random weights), stored as the run's best. With `answer`, its
    head ignores the face and always predicts that class, a logit `margin` above the others."""
    import torch

    from ml.models import create_model
    from ml.train.checkpoint import checkpoint_payload, save_checkpoint

    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=len(class_names), width=8)
    if answer is not None:
        head = model.head[-1]
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
            head.bias[answer] = margin
    path = Path(settings.MEDIA_ROOT) / run.out_dir_name / "best.pt"
    save_checkpoint(checkpoint_payload(
        model, name="ferlite", options={"width": 8}, class_names=class_names,
        config=run.config, metrics={}, epoch=1, data_checksum="noise",
    ), path)
    run.checkpoint = f"{run.out_dir_name}/best.pt"
    run.save(update_fields=["checkpoint"])
    return path


def embedded_figure(response, chart_id: str) -> dict:
    """The figure a page placed with {% chart figure chart_id %}, read back from its json_script."""
    import json
    import re

    html = response.content.decode()
    found = re.search(rf'<script id="{re.escape(chart_id)}-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no chart {chart_id!r} on the page"
    return json.loads(found.group(1))
