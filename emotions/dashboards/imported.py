"""Runs recorded from files (emotions.training.imports): where each came from, which one is the shipped
model, an imported ensemble's member runs, and the photo figures saved beside the source.

An imported run's `worker` is "imported: " and its source. An ensemble checkpoint is recorded as one run
per member, sourced "<path> (member i)", i from 1 in the checkpoint's order, then as a run sourced
"<path>" itself (imports.read_checkpoint).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from emotions.training.imports import IMPORTED
from emotions.training.models import TrainingRun

MEMBER_SUFFIX = re.compile(r" \(member (\d+)\)$")


def source_of(run: TrainingRun) -> str:
    """Where an imported run came from; "" for a run trained here."""
    return run.worker[len(IMPORTED):] if run.worker.startswith(IMPORTED) else ""


def is_imported(run: TrainingRun) -> bool:
    return bool(source_of(run))


def source_file(run: TrainingRun) -> Path | None:
    """The checkpoint file an imported run was recorded from, where it still exists."""
    source = source_of(run)
    if not source or MEMBER_SUFFIX.search(source):
        return None
    path = Path(source)
    if not path.is_absolute():
        path = Path(settings.BASE_DIR) / path  # `manage.py import_runs ml/weights/default.pt`, from the repository
    return path if path.is_file() else None


def member_runs(run: TrainingRun) -> dict[int, TrainingRun]:
    """An imported ensemble's member runs by position (1, 2, ...), recorded with it on its dataset."""
    source = source_of(run)
    if not source:
        return {}
    prefix = f"{run.worker} (member "
    found = {}
    candidates = (TrainingRun.objects.filter(worker__startswith=prefix, experiment__dataset_id=run.experiment.dataset_id)
                  .select_related("experiment").order_by("pk"))
    for member in candidates:
        matched = MEMBER_SUFFIX.search(member.worker)
        if matched and member.worker == f"{prefix}{matched.group(1)})":
            found.setdefault(int(matched.group(1)), member)
    return found


def is_shipped(run: TrainingRun) -> bool:
    """Whether `run` was recorded from the shipped model's file and still holds the same weights (a shipped
    model replaced since it was recorded is another model, whose figures these are not)."""
    shipped = Path(settings.SHIPPED_MODEL_PATH)
    path = source_file(run)
    if path is None or not shipped.is_file() or path.resolve() != shipped.resolve() or not run.checkpoint:
        return False
    kept = Path(run.checkpoint.path)
    return kept.is_file() and _same_file_contents(kept, shipped)


def shipped_run() -> TrainingRun | None:
    """The newest run recorded from the shipped model (on any dataset), if it still holds the same weights."""
    candidates = (TrainingRun.objects.filter(worker__startswith=IMPORTED, status=TrainingRun.Status.SUCCEEDED)
                  .exclude(checkpoint="").select_related("experiment__dataset").order_by("-pk"))
    shipped = Path(settings.SHIPPED_MODEL_PATH)
    for run in candidates:
        if not MEMBER_SUFFIX.search(run.worker) and Path(source_of(run)).name == shipped.name and is_shipped(run):
            return run
    return None


def photo_evaluations(run: TrainingRun) -> dict[str, dict]:
    """What `python -m ml evaluate-photos --save` recorded for the run's checkpoint: beside the checkpoint,
    or for an imported run beside the file it came from (ml/weights/photo_eval.json for the shipped model).
    Only figures measured on these very weights count (load_photo_evaluations checks the hash)."""
    from ml.inference.photo_eval import load_photo_evaluations

    if not run.checkpoint:
        return {}
    found = load_photo_evaluations(run.checkpoint.path)
    source = source_file(run)
    if not found and source is not None:
        found = load_photo_evaluations(source)
    return found


def _same_file_contents(a: Path, b: Path) -> bool:
    stat_a, stat_b = a.stat(), b.stat()
    if stat_a.st_size != stat_b.st_size:
        return False
    return _sha256(str(a), stat_a.st_mtime_ns, stat_a.st_size) == _sha256(str(b), stat_b.st_mtime_ns, stat_b.st_size)


@lru_cache(maxsize=32)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    """Hashed once per file version and process: the shipped model is read on every leaderboard view."""
    from ml.data.entry_sources import file_sha256

    return file_sha256(path)
