"""Train several recipes one after another and publish one results table.

Each recipe trains into `<out>/<name>/` with `fit()` (best checkpoint by PublicTest macro-F1 on the labels it
learns), then its best
checkpoint is evaluated on PrivateTest, once, into `<out>/<name>/result.json`. A recipe with a result is
skipped and one with only a `last.pt` resumes, so a long table can be built across several runs of the
command or time-limited jobs. Training time is the sum of the epochs' own times, so resumes do not inflate it.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from ml.classes import FER_CLASSES
from ml.train.config import TrainConfig

RESULT_FILE = "result.json"
# Beside result.json, so a finished recipe can be shown (curves, per-class F1, confusion matrices) without its
# checkpoint: `manage.py import_runs` records them as a finished TrainingRun.
HISTORY_FILE = "history.json"
EVALUATION_FILE = "evaluation.json"
# What a published (committed) recipe folder holds, result.json last (its presence means the rest is there);
# no checkpoint unless it is small enough for git.
PUBLISHED_FILES = ("config.yaml", HISTORY_FILE, EVALUATION_FILE, RESULT_FILE)
PUBLISHED_CHECKPOINT_MAX_BYTES = 10 * 1024 * 1024


@dataclass
class RecipeResult:
    recipe: str
    reported: str
    model: str
    from_scratch_note: str  # why a transfer recipe's figure is not comparable, or ""
    classes: int
    epochs_run: int
    best_epoch: int
    train_seconds: float
    device: str
    private_test_accuracy: float
    private_test_macro_f1: float
    public_test_accuracy: float
    tta_hflip: bool
    limit: int | None
    config: dict  # the resolved recipe that was measured
    # PrivateTest against the FER+ raters' majority, where the store had votes (None for results measured without)
    private_test_ferplus_accuracy: float | None = None
    private_test_ferplus_macro_f1: float | None = None

    @classmethod
    def load(cls, path: Path) -> "RecipeResult":
        return cls(**json.loads(path.read_text()))


def from_scratch_note(config: TrainConfig) -> str:
    """Transfer recipes run without ImageNet weights here unless a local path is given: say so."""
    from ml.models import get_model_info

    takes_weights = "pretrained_weights" in get_model_info(config.model.name).defaults
    if takes_weights and not config.model.options.get("pretrained_weights"):
        return "from scratch, no ImageNet weights"
    return ""


def run_recipe(
    config: TrainConfig,
    store,
    out_dir: str | Path,
    *,
    tta_hflip: bool = False,
    should_stop: Callable[[], bool] | None = None,
    log: Callable[[str], None] = print,
) -> RecipeResult | None:
    """Train (or resume) one recipe and evaluate its best checkpoint on PrivateTest; reuse a finished result.
    None when `should_stop` interrupted the training: the next call resumes from `last.pt`."""
    from ml.evaluate import evaluate_checkpoint
    from ml.train import fit

    run_dir = Path(out_dir) / config.name
    result_path = run_dir / RESULT_FILE
    last = run_dir / "last.pt"
    _refuse_a_different_recipe(config, run_dir)
    if result_path.exists():
        log(f"{config.name}: already measured ({result_path})")
        return _with_ferplus_scores(RecipeResult.load(result_path), run_dir, store, tta_hflip, log)
    fitted = fit(
        config, store, run_dir, resume_from=last if last.exists() else None, should_stop=should_stop,
        log=lambda line: log(f"{config.name}: {line}"),
    )
    if fitted.stop_reason == "cancelled":
        return None
    if fitted.best_checkpoint is None:
        raise RuntimeError(f"{config.name}: training ended before its first epoch finished")
    private = evaluate_checkpoint(fitted.best_checkpoint, store, "private_test", tta=tta_hflip, device=config.device)
    public = evaluate_checkpoint(fitted.best_checkpoint, store, "public_test", tta=tta_hflip, device=config.device)
    best_row = next(row for row in fitted.history if row.epoch == fitted.best_epoch)
    result = RecipeResult(
        recipe=config.name,
        reported=config.reported,
        model=config.model.name,
        from_scratch_note=from_scratch_note(config),
        classes=len(private["class_names"]),
        epochs_run=fitted.epochs_run,
        best_epoch=fitted.best_epoch,
        train_seconds=round(sum(row.seconds for row in fitted.history), 1),
        device=fitted.device,
        private_test_accuracy=private["accuracy"],
        private_test_macro_f1=private["macro_f1"],
        public_test_accuracy=best_row.val_acc,
        tta_hflip=tta_hflip,
        limit=config.limit,
        config=config.to_dict(),
        private_test_ferplus_accuracy=(private.get("ferplus") or {}).get("accuracy"),
        private_test_ferplus_macro_f1=(private.get("ferplus") or {}).get("macro_f1"),
    )
    (run_dir / HISTORY_FILE).write_text(json.dumps([row.to_dict() for row in fitted.history], indent=1))
    (run_dir / EVALUATION_FILE).write_text(json.dumps({"public_test": public, "private_test": private}, indent=1))
    result_path.write_text(json.dumps(asdict(result), indent=2))  # last: its presence means the rest is there
    log(f"{config.name}: PrivateTest accuracy {result.private_test_accuracy:.4f}, "
        f"macro-F1 {result.private_test_macro_f1:.4f}")
    return result


def _with_ferplus_scores(result: RecipeResult, run_dir: Path, store, tta_hflip: bool, log) -> RecipeResult:
    """A result measured before its store had FER+ votes, scored against the raters' majority too where its
    weights were kept (both splits, the same predictions as its FER2013 figures)."""
    from ml.evaluate import evaluate_checkpoint

    checkpoint = run_dir / "best.pt"
    if (result.private_test_ferplus_accuracy is not None or store.votes is None or not checkpoint.exists()
            or result.classes != len(FER_CLASSES)):  # a class subset has no FER+ majority to compare with
        return result
    evaluation = {split: evaluate_checkpoint(checkpoint, store, split, tta=tta_hflip, device="cpu")
                  for split in ("public_test", "private_test")}
    if "ferplus" not in evaluation["private_test"]:
        return result
    result.private_test_ferplus_accuracy = evaluation["private_test"]["ferplus"]["accuracy"]
    result.private_test_ferplus_macro_f1 = evaluation["private_test"]["ferplus"]["macro_f1"]
    (run_dir / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=1))
    (run_dir / RESULT_FILE).write_text(json.dumps(asdict(result), indent=2))
    log(f"{result.recipe}: scored on the FER+ majority too: PrivateTest {result.private_test_ferplus_accuracy:.4f}")
    return result


def _refuse_a_different_recipe(config: TrainConfig, run_dir: Path) -> None:
    """A folder measured or half-trained with other settings (say --epochs 1) must not pass for this recipe."""
    from ml.train import load_checkpoint

    if (run_dir / RESULT_FILE).exists():
        stored = RecipeResult.load(run_dir / RESULT_FILE).config
    elif (run_dir / "last.pt").exists():
        stored = load_checkpoint(run_dir / "last.pt")["config"]
    else:
        return
    if config.init_from is not None:
        from ml.train.loop import with_start

        config, _ = with_start(config)  # what the run stored: the architecture of the model it starts from
    if stored != config.to_dict():
        changed = sorted(key for key in stored.keys() | config.to_dict().keys()
                         if stored.get(key) != config.to_dict().get(key))
        raise ValueError(
            f"{run_dir} holds a run of {config.name} with other settings ({', '.join(changed)} differ); "
            "use another --out or delete that folder to measure this one"
        )


def run_recipes(
    configs: Iterable[TrainConfig],
    store,
    out_dir: str | Path,
    *,
    tta_hflip: bool = False,
    budget_seconds: float | None = None,
    log: Callable[[str], None] = print,
) -> list[RecipeResult]:
    """Run recipes in order, within `budget_seconds` if given: a run past the budget stops at the next
    batch (keeping its finished epochs), so a time-limited job ends cleanly and the next call goes on."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    should_stop = None if deadline is None else (lambda: time.monotonic() >= deadline)
    results = []
    for config in configs:
        result = None
        if deadline is None or time.monotonic() < deadline:
            result = run_recipe(config, store, out_dir, tta_hflip=tta_hflip, should_stop=should_stop, log=log)
        if result is None:
            log("time budget spent: run the same command again to go on")
            break
        results.append(result)
    return results


def results_table(results: Iterable[RecipeResult]) -> str:
    """The Markdown table the docs publish (docs/training.md)."""
    lines = [
        "| recipe | labels learned | write-up reported | PrivateTest accuracy | PrivateTest macro-F1 "
        "| PrivateTest vs FER+ majority | epochs (best) | training time | device |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for result in results:
        notes = [note for note in (
            result.from_scratch_note,
            f"{result.classes} classes" if result.classes != 7 else "",
            "flip TTA" if result.tta_hflip else "",
            f"subsample of {result.limit} per split" if result.limit else "",
        ) if note]
        recipe = f"`{result.recipe}`" + (f" ({'; '.join(notes)})" if notes else "")
        ferplus = "—"
        if result.private_test_ferplus_accuracy is not None:
            ferplus = f"{result.private_test_ferplus_accuracy:.1%} ({result.private_test_ferplus_macro_f1:.3f})"
        lines.append(
            f"| {recipe} | {result.config.get('labels', 'fer2013')} | {result.reported or '-'} | "
            f"{result.private_test_accuracy:.1%} | {result.private_test_macro_f1:.3f} | {ferplus} | "
            f"{result.epochs_run} ({result.best_epoch}) | "
            f"{_duration(result.train_seconds)} | {result.device} |"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def publish_results(source: str | Path, target: str | Path, *, log: Callable[[str], None] = print) -> list[RecipeResult]:
    """Copy every finished recipe of `source` (a `recipes --out` folder) into `target` for committing:
    results, curves, evaluations and config, plus `best.pt` only when under 10 MB. Recipes already published
    in `target` stay, so a table built over several machines or runs grows; `results.md`/`results.json`
    list them all, by recipe name."""
    source, target = Path(source), Path(target)
    finished = sorted(path.parent for path in source.glob(f"*/{RESULT_FILE}"))
    if not finished:
        raise ValueError(f"{source}: no finished recipe (no */{RESULT_FILE}) to publish")
    for run_dir in finished:
        missing = [name for name in PUBLISHED_FILES if not (run_dir / name).is_file()]
        if missing:
            raise ValueError(f"{run_dir}: {', '.join(missing)} missing beside {RESULT_FILE}")
    for run_dir in finished:
        published = target / run_dir.name
        published.mkdir(parents=True, exist_ok=True)
        for name in PUBLISHED_FILES:
            shutil.copyfile(run_dir / name, published / name)
        checkpoint = run_dir / "best.pt"
        small = checkpoint.is_file() and checkpoint.stat().st_size <= PUBLISHED_CHECKPOINT_MAX_BYTES
        if small:
            shutil.copyfile(checkpoint, published / "best.pt")
        log(f"{run_dir.name}: published{' with its checkpoint' if small else ' (checkpoint too large to commit)'}")
    results = [RecipeResult.load(path) for path in sorted(target.glob(f"*/{RESULT_FILE}"))]
    (target / "results.md").write_text(results_table(results) + "\n")
    (target / "results.json").write_text(json.dumps([asdict(result) for result in results], indent=2))
    return results
