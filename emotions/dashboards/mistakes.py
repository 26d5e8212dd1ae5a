"""A succeeded run's most confident mistakes on PrivateTest, worked out on first view and kept beside
its checkpoint (runs/<pk>/mistakes.json).

The faces and the model are chosen exactly as the run was scored: for a run trained here
(emotions.training.runner), the config's classes and `limit` sample (ml's `prepare_store`); for an imported
run or an ensemble (emotions.training.imports), the whole split; both on the checkpoint's classes, and the
model as served (int8 where the checkpoint is calibrated for it, as ml's `evaluate_checkpoint` scores it).
Mistakes name faces by their row in the dataset's store, so the dataset's face view serves their thumbnails.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotions.dashboards.faces import load_store
from emotions.training.models import TrainingRun

CACHE_NAME = "mistakes.json"
CACHE_VERSION = 2  # 2: imported runs and ensembles judged on the whole split, the model as served
SPLIT = "private_test"
KEPT = 24


class MistakesUnavailable(Exception):
    """Why a run has no mistakes to show: not succeeded, its checkpoint or dataset file is gone."""


@dataclass(frozen=True)
class Mistake:
    index: int  # row in the dataset's store
    true: str
    predicted: str
    confidence: float  # the model's probability for `predicted`


@dataclass
class Mistakes:
    items: list[Mistake]
    total: int  # mistakes among the evaluated faces, of which `items` are the most confident
    evaluated: int

    def to_dict(self) -> dict:
        return {"items": [dataclasses.asdict(m) for m in self.items], "total": self.total, "evaluated": self.evaluated}

    @classmethod
    def from_dict(cls, data: dict) -> Mistakes:
        return cls([Mistake(**item) for item in data["items"]], data["total"], data["evaluated"])


def confident_mistakes(run: TrainingRun) -> Mistakes:
    if run.status != TrainingRun.Status.SUCCEEDED or not run.checkpoint:
        raise MistakesUnavailable("Only a succeeded run with a checkpoint has test mistakes to show.")
    checkpoint = Path(run.checkpoint.path)
    if not checkpoint.is_file():
        raise MistakesUnavailable("The run's checkpoint file is gone.")
    cache = checkpoint.parent / CACHE_NAME
    key = {"version": CACHE_VERSION, "checkpoint": run.checkpoint.name, "checkpoint_mtime_ns": checkpoint.stat().st_mtime_ns}
    cached = _read(cache)
    if cached is not None and cached.get("key") == key:
        return Mistakes.from_dict(cached["mistakes"])
    mistakes = find_mistakes(run, checkpoint)
    _write(cache, {"key": key, "mistakes": mistakes.to_dict()})
    return mistakes


def find_mistakes(run: TrainingRun, checkpoint: Path, kept: int = KEPT) -> Mistakes:
    from ml.data import DataImportError
    from ml.evaluate import predict_probabilities
    from ml.inference.quantize import served_model
    from ml.train.checkpoint import CheckpointError, load_model

    try:
        store = load_store(run.experiment.dataset)
    except (FileNotFoundError, DataImportError):
        raise MistakesUnavailable("The dataset's store file is gone or unreadable.") from None
    try:
        model, saved = load_model(checkpoint)
    except CheckpointError as error:
        raise MistakesUnavailable(str(error)) from None
    rows, labels = evaluated_rows(store, run.config, saved["class_names"], whole_split=scored_on_whole_split(run))
    try:
        model, _ = served_model(model, saved)
    except ValueError:  # calibrated for another int8 backend: judged in float, as trained
        pass
    probabilities = predict_probabilities(model, store.images[rows], model.preprocessing, device="cpu")
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    most_confident = wrong[np.argsort(-confidence[wrong], kind="stable")][:kept]
    names = saved["class_names"]
    items = [
        Mistake(int(rows[i]), names[labels[i]], names[predicted[i]], round(float(confidence[i]), 4))
        for i in most_confident
    ]
    return Mistakes(items, total=len(wrong), evaluated=len(rows))


def scored_on_whole_split(run: TrainingRun) -> bool:
    """An imported run was scored by ml's `evaluate_checkpoint` on the whole split (emotions.training.imports),
    whatever its config says; so was an ensemble, whose config describes no training of its own."""
    from emotions.dashboards.ensembles import is_ensemble
    from emotions.dashboards.imported import is_imported

    return is_imported(run) or is_ensemble(run.config)


def evaluated_rows(store, config: dict, class_names, *, whole_split: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(store rows, labels in `class_names` order) of the PrivateTest faces the run was scored on.

    The selection is ml's own (`prepare_store`, as emotions.training.runner scores a run; with `whole_split`
    every face, as `evaluate_checkpoint` scores an imported run), made on a copy of the store whose "images"
    are row numbers: it picks rows by label alone, so the copy ends up holding the rows it picked.
    """
    from ml.train import ConfigError, TrainConfig, prepare_store

    numbered = dataclasses.replace(store, images=np.arange(len(store)))
    if not whole_split:
        try:
            train_config = TrainConfig.from_dict(config)
        except ConfigError as error:
            raise MistakesUnavailable(f"The run's config no longer reads: {error}") from None
        numbered = prepare_store(train_config, numbered)
    if list(class_names) != list(numbered.class_names):
        numbered = numbered.select_classes(class_names)
    return numbered.split(SPLIT)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _write(path: Path, data: dict) -> None:
    """Atomically, so two first views at once never leave half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
