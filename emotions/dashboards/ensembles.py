"""An ensemble run as its pages show it: the runs it averages, with their weights, the prior correction
and the parameters of all its members together.

An ensemble's config on its run says little (member names, the correction's exponent); its checkpoint
says the rest (ml.train.checkpoint.ensemble_payload): each member's architecture and config, and the
prior correction's Training class frequencies. The checkpoint is read once per file version and process,
and only what the pages need is kept. Member runs are the ones recorded with an imported ensemble
(emotions.dashboards.imported.member_runs); an ensemble from elsewhere lists its members unlinked.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from emotions.dashboards.model_sizes import ensemble_parameter_count
from emotions.training.models import TrainingRun

ENSEMBLE = "ensemble"  # ml.train.checkpoint.ENSEMBLE: the model name of a checkpoint of checkpoints


def is_ensemble(config: dict) -> bool:
    return (config.get("model") or {}).get("name") == ENSEMBLE


@dataclass(frozen=True)
class EnsembleCheckpoint:
    """What an ensemble checkpoint says about itself, without its weights."""
    class_names: tuple[str, ...]
    members: tuple[dict, ...]  # each {"model": {name, options, num_classes}, "config": {...}, "epoch": ...}
    weights: tuple[float, ...] | None  # None: the members are averaged equally
    flip_tta: bool
    prior_correction: dict | None  # {"exponent", "train_prior", maybe "labels"}


@dataclass(frozen=True)
class PriorClass:
    name: str
    frequency: float  # its share of the Training split
    factor: float  # what the correction multiplies its probability by, the most frequent class's being 1


@dataclass(frozen=True)
class PriorCorrection:
    exponent: float
    labels: str  # whose frequencies: "fer2013" (the labels) or "ferplus" (the raters' mean votes)
    classes: tuple[PriorClass, ...]  # empty when only the exponent is known (no checkpoint)

    @property
    def frequencies_words(self) -> str:
        from ml.models.ensemble import prior_source_words

        return prior_source_words({"labels": self.labels})


@dataclass(frozen=True)
class EnsembleMember:
    position: int  # 1, 2, ... in the checkpoint's order
    name: str  # the member's recipe
    architecture: str
    weight: float  # its share of the average
    parameters: int | None
    config: dict
    run: TrainingRun | None  # the run it was recorded as, where there is one


@dataclass(frozen=True)
class Ensemble:
    members: tuple[EnsembleMember, ...]
    equal_weights: bool
    flip_tta: bool
    prior_correction: PriorCorrection | None

    @property
    def parameters(self) -> int | None:
        counts = [member.parameters for member in self.members]
        return None if not counts or None in counts else sum(counts)

    @property
    def member_runs(self) -> list[TrainingRun]:
        return [member.run for member in self.members if member.run is not None]


def read_ensemble_checkpoint(path: str | Path) -> EnsembleCheckpoint | None:
    """The ensemble checkpoint at `path` summarised; None when it is gone, unreadable or not an ensemble."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return None
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


# Small summaries, not weights: enough for every ensemble on a leaderboard (each fine-tune adds one) to be
# read from disk once, not once per row on every view.
@lru_cache(maxsize=1024)
def _read(path: str, mtime_ns: int, size: int) -> EnsembleCheckpoint | None:
    from ml.train.checkpoint import CheckpointError, load_checkpoint

    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError:
        return None
    if checkpoint["model"]["name"] != ENSEMBLE:
        return None
    options = checkpoint["model"].get("options") or {}
    members = tuple(
        {"model": {key: member["model"][key] for key in ("name", "options", "num_classes") if key in member["model"]},
         "config": member.get("config") or {}, "epoch": member.get("epoch")}
        for member in checkpoint["members"]
    )
    weights = options.get("weights")
    return EnsembleCheckpoint(
        class_names=tuple(checkpoint["class_names"]),
        members=members,
        weights=tuple(float(w) for w in weights) if weights else None,
        flip_tta=bool(options.get("flip_tta")),
        prior_correction=options.get("prior_correction") or None,
    )


def describe_ensemble(run: TrainingRun) -> Ensemble:
    """The ensemble `run` serves: from its checkpoint where it has one, else from its config alone."""
    from emotions.dashboards.imported import member_runs

    saved = read_ensemble_checkpoint(run.checkpoint.path) if run.checkpoint else None
    runs = member_runs(run)
    options = (run.config.get("model") or {}).get("options") or {}
    if saved is not None:
        specs = [(member["config"].get("name") or f"member {i}", member["model"], member["config"])
                 for i, member in enumerate(saved.members, start=1)]
        num_classes = len(saved.class_names)
        raw_weights, flip_tta = saved.weights, saved.flip_tta
        prior = _prior_correction(saved.prior_correction, saved.class_names)
    else:
        names = list(options.get("members") or [])
        specs = [(name, (runs[i].config.get("model") or {}) if i in runs else {}, runs[i].config if i in runs else {})
                 for i, name in enumerate(names, start=1)]
        num_classes = _num_classes(run)
        raw_weights, flip_tta = None, bool(options.get("flip_tta"))
        exponent = options.get("prior_correction")
        prior = PriorCorrection(float(exponent), "fer2013", ()) if exponent else None
    weights = _normalised(raw_weights, len(specs))
    members = tuple(
        EnsembleMember(
            position=i, name=name, architecture=model.get("name", ""), weight=weight,
            parameters=ensemble_parameter_count([{"model": model}], num_classes) if model else None,
            config=config, run=runs.get(i),
        )
        for i, ((name, model, config), weight) in enumerate(zip(specs, weights), start=1)
    )
    return Ensemble(members, equal_weights=raw_weights is None or len(set(weights)) <= 1, flip_tta=flip_tta,
                    prior_correction=prior)


def ensemble_parameters(run: TrainingRun) -> int | None:
    """An ensemble run's parameters, all members together, from its checkpoint alone (no query: the
    leaderboard asks for every row)."""
    saved = read_ensemble_checkpoint(run.checkpoint.path) if run.checkpoint else None
    if saved is None:
        return None
    return ensemble_parameter_count([{"model": member["model"]} for member in saved.members], len(saved.class_names))


def _normalised(weights, count: int) -> list[float]:
    if not weights or len(weights) != count or sum(weights) <= 0:
        return [1 / count] * count if count else []
    total = float(sum(weights))
    return [w / total for w in weights]


def _prior_correction(prior: dict | None, class_names) -> PriorCorrection | None:
    if not prior:
        return None
    exponent = float(prior["exponent"])
    frequencies = list(prior.get("train_prior") or [])
    classes = ()
    if len(frequencies) == len(class_names) and all(f > 0 for f in frequencies):
        smallest = max(frequencies) ** -exponent
        classes = tuple(PriorClass(name, f, f ** -exponent / smallest) for name, f in zip(class_names, frequencies))
    return PriorCorrection(exponent, prior.get("labels", "fer2013"), classes)


def _num_classes(run: TrainingRun) -> int:
    from emotions.dashboards.leaderboard import num_classes

    return num_classes(run)
