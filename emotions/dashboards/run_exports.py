"""What a run page offers for download besides its checkpoint: metrics as JSON, epochs as CSV, and the
TensorBoard event files as a zip."""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from emotions.training.models import EpochMetric, TrainingRun

EPOCH_COLUMNS = ("epoch", *EpochMetric.RESULT_FIELDS)


def metrics_document(run: TrainingRun, epochs: list[EpochMetric]) -> dict:
    return {
        "run": run.pk,
        "experiment": run.experiment.name,
        "status": run.status,
        "device": run.device,
        "best_epoch": run.best_epoch,
        "config": run.config,
        "public_test": run.public_test_metrics,
        "private_test": run.private_test_metrics,
        "epochs": [{column: getattr(row, column) for column in EPOCH_COLUMNS} for row in epochs],
    }


def epochs_csv(epochs: list[EpochMetric]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EPOCH_COLUMNS)
    for row in epochs:
        writer.writerow([getattr(row, column) for column in EPOCH_COLUMNS])
    return out.getvalue()


def tensorboard_dir(run: TrainingRun) -> Path | None:
    """The run's TensorBoard folder, if the recipe wrote one (`tensorboard: true`)."""
    folder = run.out_dir / "tensorboard"
    return folder if folder.is_dir() and any(folder.rglob("*")) else None


def tensorboard_zip(folder: Path) -> bytes:
    """The folder zipped in memory: event files are small (scalars only), and a zip opens anywhere."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path("tensorboard") / path.relative_to(folder))
    return buffer.getvalue()
