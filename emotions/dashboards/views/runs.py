"""A run's page, and what its JavaScript fetches: live status, refreshed curves, the mistakes grid."""
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from emotions import charts
from emotions.dashboards.access import dashboard_view, get_run_or_404
from emotions.dashboards.config_table import config_rows
from emotions.dashboards.ensembles import Ensemble, describe_ensemble, is_ensemble
from emotions.dashboards.imported import photo_evaluations
from emotions.dashboards.leaderboard import num_classes
from emotions.dashboards.mistakes import MistakesUnavailable, confident_mistakes
from emotions.dashboards.model_sizes import parameter_count
from emotions.dashboards.run_exports import tensorboard_dir
from emotions.dashboards.run_status import LiveStatus
from emotions.training.models import TrainingRun
from ml.classes import SPLIT_LABELS
from ml.inference.photo_eval import summary_rows

SPLITS = ("private_test", "public_test")


def _curves(run: TrainingRun, epochs) -> dict:
    return {f"chart-{key}": charts.embed(figure) for key, figure in charts.learning_curves(epochs, run.best_epoch).items()}


def _member_curves(ensemble: Ensemble) -> dict:
    """The members' validation curves overlaid: an ensemble has no training of its own to draw."""
    members = [(f"#{member.run.pk} {member.name}", list(member.run.epoch_metrics.all()))
               for member in ensemble.members if member.run is not None]
    if not any(rows for _, rows in members):
        return {}
    return {f"chart-members-{key}": charts.embed(figure) for key, figure in charts.member_validation_curves(members).items()}


def _photo_evaluations(run: TrainingRun) -> list[dict]:
    """What `python -m ml evaluate-photos --save` recorded for this checkpoint (emotions.dashboards.imported)."""
    return summary_rows(photo_evaluations(run))


def _evaluation_sets(run: TrainingRun) -> list[dict]:
    """The run's scores on each evaluation set's held-out photos (emotions.photo_sets), with their charts."""
    from emotions.photo_sets.evaluations import evaluations_of

    sets = []
    for evaluation in evaluations_of(run):
        row = {"evaluation": evaluation, "dataset": evaluation.dataset, "metrics": evaluation.metrics,
               "chart_id": f"chart-set-{evaluation.dataset_id}"}
        if evaluation.status == evaluation.Status.DONE and evaluation.metrics:
            bars, confusion = charts.evaluation_set_charts(evaluation.metrics, evaluation.dataset.name)
            row.update(per_class=charts.embed(bars), confusion=charts.embed(confusion))
        sets.append(row)
    return sets


LABEL_SETS = {"fer2013": "FER2013", "ferplus": "FER+ majority"}


def score_rows(run: TrainingRun) -> list[dict]:
    """The test scores table: each split against FER2013's labels and, where scored, the FER+ majority."""
    rows = []
    for labels in LABEL_SETS:
        for split in ("public_test", "private_test"):
            metrics = getattr(run, f"{split}_metrics")
            if metrics and labels == "ferplus":
                metrics = metrics.get("ferplus")
            if metrics:
                rows.append({"split": SPLIT_LABELS[split], "labels": labels, "label_name": LABEL_SETS[labels],
                             "metrics": metrics})
    return rows


@dashboard_view
def run_detail(request, pk: int):
    run = get_run_or_404(pk)
    epochs = list(run.epoch_metrics.all())
    split = request.GET.get("split") if request.GET.get("split") in SPLITS else "private_test"
    metrics = getattr(run, f"{split}_metrics")
    has_ferplus = bool(metrics and metrics.get("ferplus"))
    labels = "ferplus" if has_ferplus and request.GET.get("labels") == "ferplus" else "fer2013"
    if labels == "ferplus":
        metrics = metrics["ferplus"]
    ensemble = describe_ensemble(run) if is_ensemble(run.config) else None
    return render(request, "emotions/run.html", {
        "score_rows": score_rows(run),
        "labels": labels,
        "has_ferplus": has_ferplus,
        "run": run,
        "epochs": epochs,
        "live": LiveStatus.from_epochs(run, epochs),
        "ensemble": ensemble,
        "curves": {} if ensemble else _curves(run, epochs),
        "member_curves": _member_curves(ensemble) if ensemble else {},
        "split": split,
        "metrics": metrics,
        "per_class": charts.embed(charts.per_class_bars(metrics, split)) if metrics else None,
        "confusion": charts.embed(charts.confusion_heatmap(metrics, split)) if metrics else None,
        "config_rows": config_rows([run.config]),
        "parameters": ensemble.parameters if ensemble else parameter_count(run.config, num_classes(run)),
        "training_seconds": sum(row.seconds for row in epochs),
        "has_tensorboard": tensorboard_dir(run) is not None,
        "photo_evaluations": _photo_evaluations(run),
        "evaluation_sets": _evaluation_sets(run),
    })


@never_cache
@dashboard_view
def run_status(request, pk: int):
    return JsonResponse(LiveStatus.query(get_run_or_404(pk)).to_dict())


@never_cache
@dashboard_view
def run_curves(request, pk: int):
    run = get_run_or_404(pk)
    return JsonResponse(_curves(run, list(run.epoch_metrics.all())))


@dashboard_view
def run_mistakes(request, pk: int):
    run = get_run_or_404(pk)
    try:
        mistakes, reason = confident_mistakes(run), ""
    except MistakesUnavailable as error:
        mistakes, reason = None, str(error)
    return render(request, "emotions/_mistakes.html", {"run": run, "mistakes": mistakes, "reason": reason})
