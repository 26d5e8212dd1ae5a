"""Finished runs recorded from files, so training done outside the web app shows on its pages.

Three kinds of source, told apart by what they hold:
- a recipe measured by `python -m ml recipes` (`result.json`, `history.json`, `evaluation.json`, and
  `best.pt` where it was kept), or the folder of such recipes with its `results.json`: the results
  committed under `results/recipes/` are recorded this way, with their checkpoints where under 10 MB;
- a folder written by `python -m ml train` (`best.pt`, `last.pt`): curves from the checkpoint, scores
  computed on the dataset;
- one checkpoint file, such as the shipped `ml/weights/default.pt`: an ensemble is recorded with each of
  its members as a run of its own (curves from the member's payload) and then as one run itself.

A recorded run is an ordinary succeeded TrainingRun (epochs, curves, both test splits) whose `worker`
says where it came from; recording the same source again finds it instead of adding a second one. A
run with weights can be deployed; one without (a committed result) can be viewed, not deployed.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from emotions.training.models import Dataset, EpochMetric, Experiment, TrainingRun

IMPORTED = "imported: "  # the start of an imported run's `worker`, followed by its source
RESULTS_FILE = "results.json"


class RunImportError(ValueError):
    """A source that is not a finished run; the message names the path and what is missing."""


@dataclass
class FinishedRun:
    name: str  # the recipe's name: the experiment it is recorded under
    source: str  # where it came from, shown on the run and used to find it again
    config: dict
    history: list[dict] = field(default_factory=list)  # ml EpochResult rows
    evaluations: dict | None = None  # {"public_test": metrics, "private_test": metrics}; None: compute them
    checkpoint: Path | None = None  # a weights file to keep with the run (deployable)
    checkpoint_payload: dict | None = None  # or weights held in memory (an ensemble's member)
    device: str = ""
    stop_reason: str = "completed"
    epochs_run: int | None = None
    best_epoch: int | None = None
    description: str = ""


# Reading sources ----------------------------------------------------------------------------------
def read_source(path: str | Path) -> list[FinishedRun]:
    """Every finished run a file or folder holds, in the order they should be recorded."""
    path = Path(path)
    if not path.exists():
        raise RunImportError(f"{path}: no such file or folder")
    if path.is_file():
        return read_checkpoint(path)
    if (path / RESULTS_FILE).is_file():
        return read_results_folder(path)
    if (path / "result.json").is_file():
        return [read_recipe_folder(path)]
    if (path / "best.pt").is_file():
        return [read_run_folder(path)]
    raise RunImportError(
        f"{path}: not a finished run (no {RESULTS_FILE}, result.json or best.pt): give a folder written by "
        "`python -m ml recipes` or `python -m ml train`, or a checkpoint file"
    )


def read_results_folder(folder: Path) -> list[FinishedRun]:
    """The recipes a `python -m ml recipes --out FOLDER` table lists, in the table's order."""
    rows = _read_json(folder / RESULTS_FILE)
    if not isinstance(rows, list):
        raise RunImportError(f"{folder / RESULTS_FILE}: expected a list of recipe results")
    return [read_recipe_folder(folder / row["recipe"]) for row in rows]


def read_recipe_folder(folder: Path) -> FinishedRun:
    result = _read_json(folder / "result.json")
    missing = [name for name in ("history.json", "evaluation.json") if not (folder / name).is_file()]
    if missing:
        raise RunImportError(f"{folder}: {', '.join(missing)} missing beside result.json (measured by an older ml?)")
    config = result["config"]
    return FinishedRun(
        name=result["recipe"],
        source=str(folder),
        config=config,
        history=_read_json(folder / "history.json"),
        evaluations=_read_json(folder / "evaluation.json"),
        checkpoint=folder / "best.pt" if (folder / "best.pt").is_file() else None,
        device=result.get("device", ""),
        stop_reason="completed" if result["epochs_run"] >= config.get("epochs", 0) else "early_stopping",
        epochs_run=result["epochs_run"],
        best_epoch=result["best_epoch"],
        description=config.get("description", ""),
    )


def read_run_folder(folder: Path) -> FinishedRun:
    from ml.train.checkpoint import CheckpointError, load_checkpoint

    best = folder / "best.pt"
    try:
        # last.pt has every epoch; best.pt only those up to the best one.
        payload = load_checkpoint(folder / "last.pt" if (folder / "last.pt").is_file() else best)
    except CheckpointError as error:
        raise RunImportError(f"{folder}: {error}") from None
    return _from_payload(payload, source=str(folder), checkpoint=best)


def read_checkpoint(path: Path) -> list[FinishedRun]:
    from ml.train.checkpoint import ENSEMBLE, CheckpointError, load_checkpoint

    try:
        payload = load_checkpoint(path)
    except CheckpointError as error:
        raise RunImportError(f"{path}: {error}") from None
    if payload["model"]["name"] != ENSEMBLE:
        return [_from_payload(payload, source=str(path), checkpoint=path)]
    members = [
        _from_payload(member, source=f"{path} (member {i})", checkpoint_payload=member)
        for i, member in enumerate(payload["members"], start=1)
    ]
    described = payload.get("config") or {}
    name = described.get("name") or path.stem
    prior = payload["model"]["options"].get("prior_correction")
    divided = (f", then divided by the training class frequencies to the power {prior['exponent']:g}"
               if prior else "")
    ensemble = FinishedRun(
        name=name,
        source=str(path),
        config={
            "name": name,
            "description": f"An ensemble served as one model: {', '.join(m.name for m in members)}, "
                           f"probabilities averaged{divided}.",
            "model": {"name": ENSEMBLE, "options": {"members": [m.name for m in members],
                                                   "flip_tta": bool(described.get("flip_tta")),
                                                   "prior_correction": prior["exponent"] if prior else None}},
            "epochs": 0,
        },
        checkpoint=path,
        epochs_run=0,
    )
    ensemble.description = ensemble.config["description"]
    return [*members, ensemble]


def _from_payload(payload: dict, *, source: str, checkpoint: Path | None = None,
                  checkpoint_payload: dict | None = None) -> FinishedRun:
    config = payload.get("config") or {}
    history = list(payload.get("history") or [])
    # The epoch the run itself chose: by the labels it learned (selection_score), else FER2013's macro-F1.
    best = max(history, key=lambda row: row.get("selection_score") or row["val_macro_f1"], default=None)
    if not config.get("name"):
        raise RunImportError(f"{source}: the checkpoint names no recipe (no config)")
    return FinishedRun(
        name=config["name"],
        source=source,
        config=config,
        history=[{k: v for k, v in row.items() if k != "validation"} for row in history],
        checkpoint=checkpoint,
        checkpoint_payload=checkpoint_payload,
        stop_reason="completed" if len(history) >= config.get("epochs", 0) else "early_stopping",
        epochs_run=len(history),
        best_epoch=best["epoch"] if best else None,
        description=config.get("description", ""),
    )


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunImportError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise RunImportError(f"{path}: not readable JSON ({error})") from None


# Recording ----------------------------------------------------------------------------------------
def record_finished_run(finished: FinishedRun, dataset: Dataset) -> tuple[TrainingRun, bool]:
    """The run recorded for `finished` on `dataset`, and whether it was recorded just now."""
    existing = TrainingRun.objects.filter(worker=IMPORTED + finished.source, experiment__dataset=dataset).first()
    if existing is not None:
        return existing, False
    now = timezone.now()
    run_dir = None
    try:
        with transaction.atomic():
            experiment = _experiment_for(finished, dataset)
            run = TrainingRun.objects.create(
                experiment=experiment, config=finished.config, status=TrainingRun.Status.SUCCEEDED,
                worker=IMPORTED + finished.source, device=finished.device,
                epoch=finished.epochs_run or 0, epochs=finished.config.get("epochs", 0) or 0,
                started_at=now, finished_at=now, stop_reason=finished.stop_reason, best_epoch=finished.best_epoch,
            )
            run_dir = run.out_dir
            checkpoint = _keep_checkpoint(finished, run)
            evaluations = finished.evaluations or _evaluate(finished, checkpoint, dataset)
            if checkpoint is not None and dataset.has_votes and not all("ferplus" in m for m in evaluations.values()):
                evaluations = _evaluate(finished, checkpoint, dataset)  # committed scores predate the votes
            EpochMetric.objects.bulk_create(
                EpochMetric(run=run, epoch=row["epoch"], **{f: row.get(f) for f in EpochMetric.RESULT_FIELDS})
                for row in finished.history
            )
            run.log_file = f"{run.out_dir_name}/train.log"
            (run.out_dir / "train.log").write_text(_log_text(finished), encoding="utf-8")
            run.checkpoint = _media_name(checkpoint) if checkpoint else ""
            run.public_test_metrics = evaluations["public_test"]
            run.private_test_metrics = evaluations["private_test"]
            run.save()
            if run.checkpoint:  # scored on the evaluation sets' photos too, once committed
                from emotions.photo_sets.evaluations import evaluate_run_later

                evaluate_run_later(run)
    except BaseException:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing half-written outlives the rolled-back row
        raise
    return run, True


def record_source(path: str | Path, dataset: Dataset) -> list[tuple[TrainingRun, bool]]:
    return [record_finished_run(finished, dataset) for finished in read_source(path)]


def record_committed_results(dataset: Dataset) -> list[tuple[TrainingRun, bool]]:
    """The results that come with the code: the measured recipes and the shipped model."""
    recorded = []
    results = Path(settings.RESULTS_DIR)
    if (results / RESULTS_FILE).is_file():
        recorded += record_source(results, dataset)
    shipped = Path(settings.SHIPPED_MODEL_PATH)
    if shipped.is_file():
        recorded += record_source(shipped, dataset)
    return recorded


def _experiment_for(finished: FinishedRun, dataset: Dataset) -> Experiment:
    """The experiment named after the recipe; another name if one with other settings holds it."""
    from emotions.training.configs import preset_paths

    preset = finished.name if finished.name in preset_paths() else ""
    for name in (finished.name, f"{finished.name} (imported)"):
        experiment = Experiment.objects.filter(name=name).first()
        if experiment is None:
            return Experiment.objects.create(
                name=name, description=finished.description, preset=preset, config=finished.config, dataset=dataset,
            )
        if experiment.config == finished.config and experiment.dataset_id == dataset.pk:
            return experiment
    return Experiment.objects.create(
        name=f"{finished.name} (imported {timezone.now():%Y-%m-%d %H:%M:%S})", description=finished.description,
        preset=preset, config=finished.config, dataset=dataset,
    )


def _keep_checkpoint(finished: FinishedRun, run: TrainingRun) -> Path | None:
    from ml.train.checkpoint import save_checkpoint

    run.out_dir.mkdir(parents=True, exist_ok=True)
    target = run.out_dir / "best.pt"
    if finished.checkpoint_payload is not None:
        return save_checkpoint(finished.checkpoint_payload, target)
    if finished.checkpoint is not None:
        shutil.copyfile(finished.checkpoint, target)
        return target
    return None


def _evaluate(finished: FinishedRun, checkpoint: Path | None, dataset: Dataset) -> dict:
    from ml.evaluate import evaluate_checkpoint

    if checkpoint is None:
        raise RunImportError(f"{finished.source}: no test scores and no weights to compute them with")
    store = dataset.load_store()
    return {split: evaluate_checkpoint(checkpoint, store, split, device="cpu") for split in ("public_test", "private_test")}


def _log_text(finished: FinishedRun) -> str:
    from ml.train.loop import EpochResult

    lines = [f"recorded from {finished.source}"]
    lines += [EpochResult(**row).progress_line() for row in finished.history]
    return "\n".join(lines) + "\n"


def _media_name(path: Path) -> str:
    return Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()).as_posix()
