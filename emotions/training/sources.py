"""What a run trains on and starts from: its datasets with their weights (the first validates), and the
model of another run it fine-tunes.

Both are frozen on the run when it is launched (`launch_fields`): the datasets and weights in
`TrainingRun.training_data` and the config's `data_weights`, the run to start from in `start_from` and the
config's `init_from` (its checkpoint, named under MEDIA_ROOT). The worker reads the stores and finds the
checkpoint under its own MEDIA_ROOT (`training_stores`, `start_checkpoint`), then trains with ml's `fit`, or
`fine_tune` when the start is an ensemble, which is fine-tuned member by member and rebuilt (`train`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError

from emotions.training.models import Experiment, TrainingRun


def launch_fields(experiment: Experiment) -> tuple[dict, dict]:
    """(config changes, TrainingRun fields) that freeze the experiment's datasets, weights and start."""
    data = experiment.training_data()
    changes = {"data_weights": [row["weight"] for row in data] if len(data) > 1 else None}
    fields = {"training_data": data if len(data) > 1 else []}
    start = experiment.start_from
    if start is not None:
        if not start.can_start_another:
            raise ValidationError(f"Run #{start.pk}, the one to start from, has no model: only a succeeded run "
                                  "with a checkpoint can be fine-tuned.")
        changes["init_from"] = start.checkpoint.name
        fields["start_from"] = start
    return changes, fields


def training_stores(run: TrainingRun, log=None) -> list:
    """The run's FerStores, the one that validates first."""
    stores = []
    for dataset, weight in run.training_datasets():
        store = dataset.load_store()
        if log is not None and len(run.training_data) > 1:
            log(f"dataset {dataset.name!r}: {len(store):,} faces, weight {weight:g}")
        stores.append(store)
    return stores


def start_checkpoint(run: TrainingRun) -> Path | None:
    """The checkpoint of the run this one fine-tunes, under this host's MEDIA_ROOT; None when it starts afresh."""
    if run.start_from_id is None:
        return None
    start = run.start_from
    if not start.checkpoint:
        raise FileNotFoundError(f"run #{start.pk}, the one to start from, has no checkpoint")
    path = Path(start.checkpoint.path)
    if not path.is_file():
        raise FileNotFoundError(f"the checkpoint of run #{start.pk}, the one to start from, is gone: {path}")
    return path


@dataclass
class TrainResult:
    """What the runner needs of ml's FitResult, whether one model was trained or an ensemble fine-tuned."""

    best_checkpoint: Path | None
    best_epoch: int
    epochs_run: int
    stop_reason: str
    device: str


def train(config, stores, out_dir: Path, *, on_epoch, should_stop, resume_from, log):
    """ml's `fit` on the stores, or `fine_tune` of every member when the config starts from an ensemble
    without picking a member. `resume_from` is a single model's last checkpoint (`fit` goes on from it) or
    the folder of a stopped ensemble fine-tune (`fine_tune` goes on member by member)."""
    from ml.train import fit
    from ml.train.finetune import fine_tune, is_ensemble

    resume_dir = resume_from if resume_from is not None and Path(resume_from).is_dir() else None
    if (config.init_from and config.init_member is None and (resume_from is None or resume_dir is not None)
            and is_ensemble(config.init_from)):
        log(f"fine-tuning the ensemble {config.init_from} member by member"
            + (f", going on from {resume_dir}" if resume_dir else ""))
        result = fine_tune(config, stores, out_dir, log=log, should_stop=should_stop, on_epoch=on_epoch,
                           resume_dir=resume_dir)
        return TrainResult(result.checkpoint, result.best_epoch, result.epochs_run, result.stop_reason,
                           result.members[-1].device)
    data = stores[0] if len(stores) == 1 else stores
    return fit(config, data, out_dir, on_epoch=on_epoch, should_stop=should_stop, resume_from=resume_from, log=log)
