"""The experiments leaderboard: one row per run, filtered in the database and sorted in Python.

Sorting happens after the query because half the columns live inside JSON (test metrics, config) or
are derived (parameters); a leaderboard holds hundreds of runs, not millions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet, Sum

from emotions.dashboards.ensembles import ensemble_parameters, is_ensemble
from emotions.dashboards.imported import is_shipped
from emotions.dashboards.model_sizes import parameter_count
from emotions.training.models import TrainingRun

SORTS = {
    # key: column heading
    "run": "Run",
    "experiment": "Experiment",
    "recipe": "Recipe",
    "architecture": "Architecture",
    "parameters": "Parameters",
    "status": "Status",
    "public_accuracy": "PublicTest acc.",
    "public_macro_f1": "PublicTest macro-F1",
    "private_accuracy": "PrivateTest acc.",
    "private_macro_f1": "PrivateTest macro-F1",
    # The same splits against the FER+ raters' majority (faces with a 7-class majority only).
    "public_ferplus_accuracy": "PublicTest acc. FER+",
    "private_ferplus_accuracy": "PrivateTest acc. FER+",
    "private_ferplus_macro_f1": "PrivateTest macro-F1 FER+",
    "training_seconds": "Training time",
    "device": "Device",
}
DEFAULT_SORT = "-private_accuracy"
# And one column per evaluation set (emotions.photo_sets): accuracy on its PrivateTest photos, keyed eval_<pk>.
EVALUATION_PREFIX = "eval_"
# Columns whose first click sorts biggest first (scores, sizes, times, newest run); names go A to Z.
BIGGEST_FIRST = {"run", "parameters", "public_accuracy", "public_macro_f1", "private_accuracy", "private_macro_f1",
                 "public_ferplus_accuracy", "private_ferplus_accuracy", "private_ferplus_macro_f1", "training_seconds"}


def evaluation_columns() -> dict[str, str]:
    """{sort key: heading}, one column per evaluation set, by name."""
    from emotions.photo_sets.evaluations import evaluation_sets

    return {f"{EVALUATION_PREFIX}{dataset.pk}": f"{dataset.name} acc." for dataset in evaluation_sets()}


def sorts() -> dict[str, str]:
    """Every sortable column: the fixed ones, then the evaluation sets'."""
    return {**SORTS, **evaluation_columns()}


@dataclass
class LeaderboardRow:
    run: TrainingRun
    training_seconds: float | None
    # {evaluation set pk: metrics on its PrivateTest photos} (emotions.photo_sets.RunEvaluation)
    evaluations: dict[int, dict] = field(default_factory=dict)
    evaluation_set_ids: list[int] = field(default_factory=list)

    @property
    def evaluation_scores(self) -> list[dict]:
        """One cell per evaluation set column, in the columns' order: {accuracy, macro_f1} or empty."""
        return [self.evaluations.get(pk, {}) for pk in self.evaluation_set_ids]

    @property
    def experiment(self) -> str:
        return self.run.experiment.name

    @property
    def recipe(self) -> str:
        return self.run.experiment.preset or self.run.config.get("name", "")

    @property
    def architecture(self) -> str:
        return (self.run.config.get("model") or {}).get("name", "")

    @property
    def parameters(self) -> int | None:
        if is_ensemble(self.run.config):
            return ensemble_parameters(self.run)  # its members' together, from its checkpoint
        return parameter_count(self.run.config, num_classes(self.run))

    @property
    def is_shipped(self) -> bool:
        """Recorded from the model that comes with the app (settings.SHIPPED_MODEL_PATH)."""
        return is_shipped(self.run)

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def device(self) -> str:
        return self.run.device

    def _metric(self, split_metrics: dict | None, key: str) -> float | None:
        return (split_metrics or {}).get(key)

    @property
    def public_accuracy(self):
        return self._metric(self.run.public_test_metrics, "accuracy")

    @property
    def public_macro_f1(self):
        return self._metric(self.run.public_test_metrics, "macro_f1")

    @property
    def private_accuracy(self):
        return self._metric(self.run.private_test_metrics, "accuracy")

    @property
    def private_macro_f1(self):
        return self._metric(self.run.private_test_metrics, "macro_f1")

    @property
    def public_ferplus_accuracy(self):
        return self._metric((self.run.public_test_metrics or {}).get("ferplus"), "accuracy")

    @property
    def private_ferplus_accuracy(self):
        return self._metric((self.run.private_test_metrics or {}).get("ferplus"), "accuracy")

    @property
    def private_ferplus_macro_f1(self):
        return self._metric((self.run.private_test_metrics or {}).get("ferplus"), "macro_f1")

    def sort_value(self, key: str):
        if key.startswith(EVALUATION_PREFIX):
            return self.evaluations.get(int(key[len(EVALUATION_PREFIX):]), {}).get("accuracy")
        return self.run.pk if key == "run" else getattr(self, key)


def num_classes(run: TrainingRun) -> int:
    """Classes of the model: what the test metrics name, else the config's selection, else FER2013's seven."""
    metrics = run.private_test_metrics or run.public_test_metrics
    if metrics and metrics.get("class_names"):
        return len(metrics["class_names"])
    return len(run.config.get("classes") or ()) or 7


@dataclass
class Filters:
    status: str = ""
    architecture: str = ""
    dataset: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query) -> Filters:
        return cls(**{name: query.get(name, "").strip() for name in ("status", "architecture", "dataset", "q")})

    def apply(self, runs: QuerySet) -> QuerySet:
        if self.status in TrainingRun.Status.values:
            runs = runs.filter(status=self.status)
        if self.architecture:
            runs = runs.filter(config__model__name=self.architecture)
        if self.dataset.isdigit():
            runs = runs.filter(experiment__dataset_id=int(self.dataset))
        if self.q:
            runs = runs.filter(Q(experiment__name__icontains=self.q) | Q(experiment__preset__icontains=self.q))
        return runs

    @property
    def active(self) -> bool:
        return any((self.status, self.architecture, self.dataset, self.q))


def parse_sort(value: str, columns: dict[str, str] | None = None) -> tuple[str, bool]:
    """'-private_accuracy' -> ('private_accuracy', True); anything unknown gives the default order."""
    key, descending = value.lstrip("-"), value.startswith("-")
    if key not in (columns if columns is not None else sorts()):
        return parse_sort(DEFAULT_SORT, SORTS)
    return key, descending


def leaderboard_rows(filters: Filters, sort: str = DEFAULT_SORT,
                     columns: dict[str, str] | None = None) -> list[LeaderboardRow]:
    """`columns`: sorts(), where the caller has them already."""
    columns = sorts() if columns is None else columns
    runs = filters.apply(
        TrainingRun.objects.select_related("experiment__dataset").annotate(training_seconds=Sum("epoch_metrics__seconds"))
    )
    rows = [LeaderboardRow(run, run.training_seconds) for run in runs]
    _add_evaluations(rows, [int(key[len(EVALUATION_PREFIX):]) for key in columns if key.startswith(EVALUATION_PREFIX)])
    return sort_rows(rows, sort, columns)


def _add_evaluations(rows: list[LeaderboardRow], set_ids: list[int]) -> None:
    from emotions.photo_sets.models import RunEvaluation

    if not set_ids:
        return
    by_run = {row.run.pk: row for row in rows}
    scored = RunEvaluation.objects.filter(status=RunEvaluation.Status.DONE, dataset_id__in=set_ids,
                                          run_id__in=list(by_run)).values_list("run_id", "dataset_id", "metrics")
    for row in rows:
        row.evaluation_set_ids = set_ids
    for run_id, dataset_id, metrics in scored:
        by_run[run_id].evaluations[dataset_id] = {key: metrics.get(key) for key in ("accuracy", "macro_f1", "num_samples")}


def sort_rows(rows: list[LeaderboardRow], sort: str, columns: dict[str, str] | None = None) -> list[LeaderboardRow]:
    """Sorted by `sort` ('key' or '-key'); rows without a value (no test metrics yet) always go last."""
    key, descending = parse_sort(sort, columns)
    present = [row for row in rows if row.sort_value(key) not in (None, "")]
    missing = [row for row in rows if row.sort_value(key) in (None, "")]

    def value(row):
        v = row.sort_value(key)
        return v.lower() if isinstance(v, str) else v

    # Ties keep the newest run first whichever way the column is sorted.
    present.sort(key=lambda row: -row.run.pk)
    present.sort(key=value, reverse=descending)
    return present + missing


def column_headers(query, sort: str, columns: dict[str, str] | None = None) -> list[dict]:
    """Each sortable column's label and link: the same filters, sorted by it (again: the other way)."""
    columns = sorts() if columns is None else columns
    current, descending = parse_sort(sort, columns)
    headers = []
    for key, label in columns.items():
        params = query.copy()
        biggest_first = key in BIGGEST_FIRST or key.startswith(EVALUATION_PREFIX)
        sort_descending = not descending if key == current else biggest_first
        params["sort"] = f"-{key}" if sort_descending else key
        headers.append({
            "key": key, "label": label, "url": "?" + params.urlencode(),
            "arrow": ("▼" if descending else "▲") if key == current else "",
        })
    return headers
