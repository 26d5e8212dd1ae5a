"""Fine-tuning any checkpoint the project writes, the shipped int8 ensemble included.

A single model is simply `fit` with `init_from`. An ensemble is fine-tuned member by member (each from its
own weights, with the recipe's schedule, into `member<i>/`), then rebuilt with the ensemble's own options
and, where the original was served in int8, calibrated again on the new training faces, so it is served the
same way (`best.pt` in the output folder). A prior correction keeps its exponent but divides by the class
frequencies of the fine-tuning draws: the old training prior no longer describes what the members learned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ml.train.checkpoint import ENSEMBLE, ensemble_payload, load_checkpoint, save_checkpoint
from ml.train.config import TrainConfig
from ml.models.ensemble import training_prior_correction
from ml.train.loop import FitResult, fit, prepare_store, training_data


@dataclass
class FineTuneResult:
    checkpoint: Path  # the fine-tuned model: a member's best.pt, or the rebuilt ensemble
    members: list[FitResult] = field(default_factory=list)


def is_ensemble(path: str | Path) -> bool:
    return load_checkpoint(path)["model"]["name"] == ENSEMBLE


def fine_tune(config: TrainConfig, stores, out_dir: str | Path, *, log: Callable[[str], None] | None = print,
              should_stop: Callable[[], bool] | None = None) -> FineTuneResult:
    """Fine-tune `config.init_from`: one model, or every member of an ensemble when no `init_member` is set."""
    log = log or (lambda line: None)
    out_dir = Path(out_dir)
    if config.init_from is None:
        raise ValueError("fine-tuning needs init_from: the checkpoint to start from")
    original = load_checkpoint(config.init_from)
    if original["model"]["name"] != ENSEMBLE or config.init_member is not None:
        result = fit(config, stores, out_dir, log=log, should_stop=should_stop)
        return FineTuneResult(result.best_checkpoint, [result])
    results = []
    for index in range(len(original["members"])):
        log(f"member {index + 1} of {len(original['members'])}")
        result = fit(config.replace(init_member=index), stores, out_dir / f"member{index}", log=log,
                     should_stop=should_stop)
        if result.best_checkpoint is None or result.stop_reason == "cancelled":
            raise RuntimeError(f"member {index} stopped before it finished ({result.stop_reason})")
        results.append(result)
    members = [load_checkpoint(result.best_checkpoint) for result in results]
    options = original["model"]["options"]
    prior_correction = options.get("prior_correction")
    if prior_correction:
        prepared = [prepare_store(config, one) for one in (stores if isinstance(stores, (list, tuple)) else [stores])]
        prior = training_data(config, prepared, log=lambda line: None)
        prior_correction = training_prior_correction(
            prior.class_prior(len(original["class_names"])).tolist(), prior_correction["exponent"])
    payload = ensemble_payload(
        members, flip_tta=bool(options.get("flip_tta")), prior_correction=prior_correction,
        config={**(original.get("config") or {}), "name": f"{config.name}", "fine_tuned_from": config.init_from},
        data_checksum=members[0].get("data_checksum"),
    )
    if "int8_calibration" in original:
        payload["int8_calibration"] = _calibration(stores)
    path = save_checkpoint(payload, out_dir / "best.pt")
    log(f"rebuilt the ensemble of {len(members)} fine-tuned members: {path}"
        + (" (served in int8, calibrated on the new training faces)" if "int8_calibration" in payload else "")
        + (", its prior correction from the fine-tuning draws" if prior_correction else ""))
    return FineTuneResult(path, results)


def _calibration(stores) -> dict:
    import numpy as np

    from ml.inference.quantize import calibration_faces, calibration_payload

    first = stores[0] if isinstance(stores, (list, tuple)) else stores
    images, labels = first.split("train")
    if isinstance(stores, (list, tuple)) and len(stores) > 1:
        # Every data set's faces shape the int8 ranges: the user's photos as much as FER2013's.
        parts = [one.split("train") for one in stores]
        images = np.concatenate([part[0] for part in parts])
        labels = np.concatenate([part[1] for part in parts])
    return calibration_payload(calibration_faces(images, labels))
