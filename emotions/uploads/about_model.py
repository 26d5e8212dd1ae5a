"""About the model that reads uploaded photos, for everyone who uploads one: what it is, what it learned
from, how often it is right on which emotion, how fast it is, and what it cannot do.

It describes the model the upload path would use now (services.model_in_use): the deployed run, else the
shipped model, through the run recorded from its file (manage.py import_fer2013). Every figure is one
measured and recorded elsewhere: the run's test metrics, and the whole-pipeline evaluations of real photos
saved beside the checkpoint (`python -m ml evaluate-photos --save`); nothing is measured here, and no
figure is typed in: which emotions are weak is read off the figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from emotions.dashboards.imported import photo_evaluations, shipped_run
from emotions.training.models import TrainingRun
from emotions.uploads import services
from ml.classes import SPLIT_LABELS

# The development photo sets scored through the whole pipeline, in words; another set is named as it is.
PHOTO_SETS = {
    "twpfe": "posed expressions by Taiwanese performers",
    "muxspace": "photos from the web and from films",
}
SPLITS = tuple((split, SPLIT_LABELS[split]) for split in ("private_test", "public_test"))
LABELS = (("fer2013", "FER2013 labels"), ("ferplus", "FER+ raters' majority"))


@dataclass(frozen=True)
class ServingModel:
    path: Path
    run: TrainingRun | None  # the deployed run, or the run recorded from the shipped model's file
    deployed: bool

    @property
    def shipped(self) -> bool:
        return not self.deployed


def serving_model() -> ServingModel:
    """The model uploads are read by now; services.NoModelAvailable when there is none."""
    choice = services.model_in_use()
    if choice.run is not None:
        return ServingModel(choice.path, choice.run, deployed=True)
    return ServingModel(choice.path, shipped_run(), deployed=False)


@dataclass(frozen=True)
class TestSet:
    """One test set scored one way: a FER2013 split against a label set, or real photos through the pipeline."""
    key: str  # names the column: "private_test-fer2013", "photos-twpfe"
    name: str
    description: str
    count: int  # faces or photos
    unit: str  # "faces" or "photos"
    accuracy: float
    macro_f1: float
    f1: dict[str, float | None]  # per class; None where the set holds none of that class
    no_face: int | None = None  # photos in which no face was found (a photo set)
    seconds: float | None = None  # the whole set's time through the pipeline, where recorded
    command: str = ""

    @property
    def is_photos(self) -> bool:
        return self.key.startswith("photos-")


@dataclass(frozen=True)
class ClassFigure:
    name: str
    f1: float


@dataclass(frozen=True)
class ModelAbout:
    name: str
    serving: ServingModel
    class_names: tuple[str, ...]
    architecture: str  # in words
    member_names: tuple[str, ...]  # an ensemble's members; () for one model
    labels_learned: str
    training_faces: int | None
    test_sets: tuple[TestSet, ...] = ()
    weak_classes: tuple[ClassFigure, ...] = ()  # below the macro-F1 on PrivateTest, FER2013 labels, weakest first
    strong_class: ClassFigure | None = None
    weak_on_photos: tuple[tuple[TestSet, tuple[ClassFigure, ...]], ...] = ()
    private_test: TestSet | None = None  # FER2013's PrivateTest against its labels: the held-out figure
    ms_per_photo: float | None = None
    photos_timed: int = 0

    @property
    def fer2013_sets(self) -> list[TestSet]:
        return [test_set for test_set in self.test_sets if not test_set.is_photos]

    @property
    def photo_sets(self) -> list[TestSet]:
        return [test_set for test_set in self.test_sets if test_set.is_photos]

    def f1_rows(self) -> list[dict]:
        """The per-class F1 table: one row per emotion, one cell per test set."""
        return [{"name": name, "cells": [test_set.f1.get(name) for test_set in self.test_sets]}
                for name in self.class_names]


def about_serving_model() -> ModelAbout:
    return about_model(serving_model())


def about_model(serving: ServingModel) -> ModelAbout:
    facts = checkpoint_facts(serving.path)
    run = serving.run
    name = run.experiment.name if serving.deployed else facts.name
    test_sets = [*fer2013_test_sets(run), *photo_test_sets(run, serving.path)]
    private = next((s for s in test_sets if s.key == "private_test-fer2013"), None)
    weak, strong = weak_and_strong_classes(private)
    photo_sets = [s for s in test_sets if s.is_photos]
    timed = [s for s in photo_sets if s.seconds]
    photos_timed = sum(s.count for s in timed)
    return ModelAbout(
        name=name,
        serving=serving,
        class_names=facts.class_names,
        architecture=facts.architecture,
        member_names=facts.member_names,
        labels_learned=facts.labels_learned,
        training_faces=_training_faces(run, facts),
        test_sets=tuple(test_sets),
        weak_classes=weak,
        strong_class=strong,
        weak_on_photos=tuple((s, weakest_classes(s)) for s in photo_sets),
        private_test=private,
        ms_per_photo=1000 * sum(s.seconds for s in timed) / photos_timed if photos_timed else None,
        photos_timed=photos_timed,
    )


@dataclass(frozen=True)
class Reader:
    """The model that read an upload, as its result page names it."""
    name: str
    is_current: bool  # whether it still reads uploads (else the about page describes its successor)


def reader_of(model: str) -> Reader | None:
    """`model` as an upload records it ("run 12", "shipped"), named; None when nothing read it."""
    from django.conf import settings

    if not model:
        return None
    try:
        current = services.model_in_use().description
    except services.NoModelAvailable:
        current = ""
    name = model
    if model.startswith("run ") and model[4:].isdigit():
        run = TrainingRun.objects.filter(pk=int(model[4:])).select_related("experiment").first()
        name = run.experiment.name if run is not None else f"run #{model[4:]}"
    elif model == "shipped":
        shipped = Path(settings.SHIPPED_MODEL_PATH)
        name = checkpoint_facts(shipped).name if shipped.is_file() else "the shipped model"
    return Reader(name, model == current)


# The figures ----------------------------------------------------------------------------------------
def fer2013_test_sets(run: TrainingRun | None) -> list[TestSet]:
    """The run's FER2013 test scores: PrivateTest (held out) and PublicTest, against FER2013's labels and,
    where the run was scored on them, the FER+ raters' majority."""
    if run is None:
        return []
    sets = []
    for labels, label_words in LABELS:
        for split, split_name in SPLITS:
            metrics = getattr(run, f"{split}_metrics") or {}
            if labels == "ferplus":
                metrics = metrics.get("ferplus") or {}
            if not metrics.get("per_class"):
                continue
            sets.append(TestSet(
                key=f"{split}-{labels}", name=f"FER2013 {split_name}", description=label_words,
                count=metrics.get("num_samples", 0), unit="faces", accuracy=metrics["accuracy"],
                macro_f1=metrics["macro_f1"], f1=_f1(metrics),
            ))
    return sets


def photo_test_sets(run: TrainingRun | None, path: Path) -> list[TestSet]:
    """Real photos through the whole upload path, as served: where no face is found the whole image is
    read (the upload page offers that too). Saved for these very weights, beside the run's checkpoint or
    the file it came from, or beside the serving file itself."""
    from ml.inference.photo_eval import load_photo_evaluations

    evaluations = (photo_evaluations(run) if run is not None else {}) or load_photo_evaluations(path)
    sets = []
    for name, result in evaluations.items():
        scored = result.get("whole_image_fallback") or result["strict"]
        sets.append(TestSet(
            key=f"photos-{name}", name=name, description=PHOTO_SETS.get(name, "labelled photos"),
            count=result["num_photos"], unit="photos", accuracy=scored["accuracy"], macro_f1=scored["macro_f1"],
            f1=_f1(scored), no_face=result.get("no_face"), seconds=result.get("seconds"),
            command=result.get("command", ""),
        ))
    return sets


def _f1(metrics: dict) -> dict[str, float | None]:
    """F1 per class; None for a class the set holds no example of (its F1 says nothing)."""
    return {name: (row["f1"] if row.get("support") else None) for name, row in metrics["per_class"].items()}


def weak_and_strong_classes(test_set: TestSet | None) -> tuple[tuple[ClassFigure, ...], ClassFigure | None]:
    """The classes read less reliably than the average class (F1 below the macro-F1), weakest first, and
    the class read best."""
    if test_set is None:
        return (), None
    scored = [ClassFigure(name, f1) for name, f1 in test_set.f1.items() if f1 is not None]
    if not scored:
        return (), None
    weak = tuple(sorted((c for c in scored if c.f1 < test_set.macro_f1), key=lambda c: c.f1))
    return weak, max(scored, key=lambda c: c.f1)


def weakest_classes(test_set: TestSet, count: int = 2) -> tuple[ClassFigure, ...]:
    scored = sorted((ClassFigure(name, f1) for name, f1 in test_set.f1.items() if f1 is not None), key=lambda c: c.f1)
    return tuple(scored[:count])


def _training_faces(run: TrainingRun | None, facts: CheckpointFacts) -> int | None:
    """Faces in the Training split it learned from: its dataset's, where the checkpoint was trained on it."""
    if run is None:
        return None
    dataset = run.experiment.dataset
    if facts.data_checksum and facts.data_checksum != dataset.source_checksum:
        return None
    train = (dataset.counts or {}).get("train") or {}
    return sum(train.get(name, 0) for name in facts.class_names) or None


# The checkpoint -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointFacts:
    name: str
    class_names: tuple[str, ...]
    architecture: str
    member_names: tuple[str, ...]
    labels_learned: str
    data_checksum: str


def _labels_words(checkpoint: dict) -> str:
    """The labels it learned, in words: "FER2013's labels", "FER2013's labels (all 4 members)", or how
    many members learned which (ml's model card words)."""
    from ml.model_card import _labels_learned

    members = checkpoint.get("members") or []
    if not members:
        return _labels_learned(checkpoint)
    learned = {_labels_learned({"config": member.get("config") or {}}) for member in members}
    if len(learned) == 1:
        return f"{learned.pop()} (all {len(members)} members)"
    return _labels_learned(checkpoint)


def checkpoint_facts(path: Path) -> CheckpointFacts:
    stat = Path(path).stat()
    return _read_facts(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read_facts(path: str, mtime_ns: int, size: int) -> CheckpointFacts:
    """Read once per file version and process: the shipped ensemble is 13 MB of weights."""
    from ml.train.checkpoint import ENSEMBLE, CheckpointError, load_checkpoint

    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError:
        return CheckpointFacts(Path(path).stem, (), "a model whose file cannot be read", (), "unknown", "")
    config = checkpoint.get("config") or {}
    spec = checkpoint["model"]
    if spec["name"] == ENSEMBLE:
        members = checkpoint["members"]
        member_names = tuple((m.get("config") or {}).get("name") or m["model"]["name"] for m in members)
        architectures = sorted({m["model"]["name"] for m in members})
        architecture = f"an ensemble of {len(members)} {' and '.join(architectures)} networks, their probabilities averaged"
    else:
        member_names = ()
        architecture = f"one {spec['name']} network"
    return CheckpointFacts(
        name=config.get("name") or Path(path).stem,
        class_names=tuple(checkpoint["class_names"]),
        architecture=architecture,
        member_names=member_names,
        labels_learned=_labels_words(checkpoint),
        data_checksum=checkpoint.get("data_checksum") or "",
    )
