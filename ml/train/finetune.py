"""Fine-tuning any checkpoint the project writes, the shipped int8 ensemble included.

A single model is simply `fit` with `init_from`. An ensemble is fine-tuned member by member (each from its
own weights, with the recipe's schedule, into `member<i>/`), then rebuilt with the ensemble's own options
and, where the original was served in int8, calibrated again on the new training faces, so it is served the
same way (`best.pt` in the output folder). A prior correction keeps its exponent but divides by the class
frequencies of the fine-tuning draws: the old training prior no longer describes what the members learned.

A stopped ensemble fine-tune resumes member by member (`resume_dir`, the stopped one's output folder): the
members it finished are copied over as they are, the one it stopped in continues from its last checkpoint,
and the rest are fine-tuned.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ml.train.checkpoint import ENSEMBLE, ensemble_payload, load_checkpoint, save_checkpoint
from ml.train.config import TrainConfig
from ml.models.ensemble import training_prior_correction
from ml.train.loop import EpochResult, FitResult, fit, prepare_store, training_data


@dataclass
class FineTuneResult:
    checkpoint: Path | None  # the fine-tuned model: a member's best.pt, or the rebuilt ensemble; None if stopped
    members: list[FitResult] = field(default_factory=list)
    epochs_per_member: int = 0  # an ensemble's: how `on_epoch` numbered its epochs on

    @property
    def stop_reason(self) -> str:
        return self.members[-1].stop_reason

    @property
    def epochs_run(self) -> int:
        return sum(member.epochs_run for member in self.members)

    @property
    def best_epoch(self) -> int:
        """The last member's best epoch, numbered as `on_epoch` saw it (0: none finished)."""
        last = self.members[-1].best_epoch
        return (len(self.members) - 1) * self.epochs_per_member + last if last else 0


def is_ensemble(path: str | Path) -> bool:
    return load_checkpoint(path)["model"]["name"] == ENSEMBLE


def resumable_members(out_dir: str | Path) -> bool:
    """Whether `out_dir` holds a stopped ensemble fine-tune that `fine_tune(resume_dir=out_dir)` can go on with."""
    out_dir = Path(out_dir)
    return any(out_dir.glob(f"member*/{FINISHED}")) or any(out_dir.glob("member*/last.pt"))


def fine_tune(config: TrainConfig, stores, out_dir: str | Path, *, log: Callable[[str], None] | None = print,
              should_stop: Callable[[], bool] | None = None,
              on_epoch: Callable[[EpochResult], bool | None] | None = None,
              resume_dir: str | Path | None = None) -> FineTuneResult:
    """Fine-tune `config.init_from`: one model, or every member of an ensemble when no `init_member` is set.

    `on_epoch` sees an ensemble's epochs numbered on across its members (member 2's first epoch of 10 is
    epoch 11 of 60), so one run's curves show every member's training; returning True stops it, as in `fit`.
    A stopped ensemble ends with `stop_reason` "cancelled" and no rebuilt checkpoint; given its output folder
    as `resume_dir`, another call goes on from where it stopped."""
    log = log or (lambda line: None)
    out_dir = Path(out_dir)
    stores = list(stores) if isinstance(stores, (list, tuple)) else [stores]
    if config.init_from is None:
        raise ValueError("fine-tuning needs init_from: the checkpoint to start from")
    original = load_checkpoint(config.init_from)
    if original["model"]["name"] != ENSEMBLE or config.init_member is not None:
        result = fit(config, stores, out_dir, log=log, should_stop=should_stop, on_epoch=on_epoch)
        return FineTuneResult(result.best_checkpoint, [result])
    results = []
    count = len(original["members"])
    for index in range(count):
        member_dir = out_dir / f"member{index}"
        stopped_dir = Path(resume_dir) / f"member{index}" if resume_dir is not None else None
        if stopped_dir is not None and (stopped_dir / FINISHED).is_file():
            results.append(_finished_member(stopped_dir, member_dir))
            log(f"member {index + 1} of {count}: finished before, kept ({results[-1].epochs_run} epochs)")
            continue
        resume_from = None
        if stopped_dir is not None and (stopped_dir / "last.pt").is_file():
            resume_from = stopped_dir / "last.pt"
            if (stopped_dir / "best.pt").is_file():  # stays the member's best unless a resumed epoch beats it
                member_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(stopped_dir / "best.pt", member_dir / "best.pt")
        log(f"member {index + 1} of {count}" + (f", resumed from {resume_from}" if resume_from else ""))
        result = fit(config.replace(init_member=index), stores, member_dir, log=log, should_stop=should_stop,
                     on_epoch=_numbered_on(on_epoch, index, count, config.epochs), resume_from=resume_from)
        results.append(result)
        if result.stop_reason != "cancelled" and result.best_checkpoint is not None:
            _mark_finished(member_dir, result)
        if result.stop_reason == "cancelled":
            log(f"stopped during member {index + 1}; the ensemble is not rebuilt")
            return FineTuneResult(None, results, config.epochs)
        if result.best_checkpoint is None:
            raise RuntimeError(f"member {index} stopped before it finished an epoch ({result.stop_reason})")
    members = [load_checkpoint(result.best_checkpoint) for result in results]
    options = original["model"]["options"]
    prior_correction = options.get("prior_correction")
    if prior_correction:
        prior = training_data(config, [prepare_store(config, one) for one in stores], log=lambda line: None)
        prior_correction = {**training_prior_correction(
            prior.class_prior(len(original["class_names"])).tolist(), prior_correction["exponent"]), "labels": "fine_tuning"}
    payload = ensemble_payload(
        members, flip_tta=bool(options.get("flip_tta")), prior_correction=prior_correction,
        config={**_ensemble_options(original.get("config") or {}), "name": config.name,
                "fine_tuned_from": config.init_from, "members": _member_names(original, config.name)},
        data_checksum=members[0].get("data_checksum"),
    )
    if "int8_calibration" in original:
        payload["int8_calibration"] = _calibration(stores)
    path = save_checkpoint(payload, out_dir / "best.pt")
    log(f"rebuilt the ensemble of {len(members)} fine-tuned members: {path}"
        + (" (served in int8, calibrated on the new training faces)" if "int8_calibration" in payload else "")
        + (", its prior correction from the fine-tuning draws" if prior_correction else ""))
    return FineTuneResult(path, results, config.epochs)


FINISHED = "finished.json"  # in a member's folder once its fit ended by itself: a resume keeps that member


def _mark_finished(member_dir: Path, result: FitResult) -> None:
    (member_dir / FINISHED).write_text(json.dumps({
        "best_checkpoint": result.best_checkpoint.name, "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run, "stop_reason": result.stop_reason, "device": result.device}))


def _finished_member(stopped_dir: Path, member_dir: Path) -> FitResult:
    """A member a stopped fine-tune finished, copied into this one's folder so that it stands on its own."""
    finished = json.loads((stopped_dir / FINISHED).read_text())
    member_dir.mkdir(parents=True, exist_ok=True)
    best = Path(shutil.copy2(stopped_dir / finished["best_checkpoint"], member_dir / finished["best_checkpoint"]))
    shutil.copy2(stopped_dir / FINISHED, member_dir / FINISHED)
    return FitResult(best_checkpoint=best, last_checkpoint=None, best_epoch=finished["best_epoch"],
                     epochs_run=finished["epochs_run"], stop_reason=finished["stop_reason"], device=finished["device"])


def _ensemble_options(config: dict) -> dict:
    """The original ensemble's recorded options that still describe the rebuilt one (not where its prior
    came from: it is the fine-tuning draws' now)."""
    return {key: value for key, value in config.items() if key not in ("prior_from", "members")}


def _member_names(original: dict, recipe: str) -> list[str]:
    names = (original.get("config") or {}).get("members") or [
        (member.get("config") or {}).get("name", f"member {index}") for index, member in enumerate(original["members"])]
    return [f"{name} + {recipe}" for name in names]


def _numbered_on(on_epoch, member: int, members: int, epochs: int):
    """`on_epoch` for one member's fit, its epochs numbered on after the members before it."""
    if on_epoch is None:
        return None
    return lambda result: on_epoch(dataclasses.replace(result, epoch=member * epochs + result.epoch,
                                                       epochs=members * epochs))


def _calibration(stores: list) -> dict:
    import numpy as np

    from ml.inference.quantize import calibration_faces, calibration_payload

    # The int8 ranges are measured on every data set's training faces, drawn per class from them all.
    parts = [one.split("train") for one in stores]
    return calibration_payload(calibration_faces(np.concatenate([images for images, _ in parts]),
                                                 np.concatenate([labels for _, labels in parts])))
