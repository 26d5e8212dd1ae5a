"""The experiments leaderboard and the comparison of runs picked from it."""
from django.shortcuts import render

from emotions import charts
from emotions.dashboards.access import dashboard_view
from emotions.dashboards.config_table import config_rows
from emotions.dashboards.leaderboard import DEFAULT_SORT, Filters, column_headers, leaderboard_rows, sorts
from emotions.training.models import Dataset, TrainingRun


@dashboard_view
def leaderboard(request):
    from ml.models import list_models

    from emotions.uploads.about_model import serving_model
    from emotions.uploads.services import NoModelAvailable

    filters = Filters.from_query(request.GET)
    sort = request.GET.get("sort", DEFAULT_SORT)
    columns = sorts()  # the fixed columns and one per evaluation set
    try:
        serving = serving_model()
    except NoModelAvailable:
        serving = None
    return render(request, "emotions/leaderboard.html", {
        "serving": serving,
        "rows": leaderboard_rows(filters, sort, columns),
        "filters": filters,
        "headers": column_headers(request.GET, sort, columns),
        "statuses": TrainingRun.Status.choices,
        "architectures": list_models(),
        "datasets": Dataset.objects.only("pk", "name"),
    })


@dashboard_view
def compare(request):
    ids = list(dict.fromkeys(int(value) for value in request.GET.getlist("run") if value.isdigit()))
    runs = sorted(
        TrainingRun.objects.filter(pk__in=ids).select_related("experiment").prefetch_related("epoch_metrics"),
        key=lambda run: ids.index(run.pk),
    )
    context = {"runs": runs}
    if len(runs) >= 2:
        labelled = [(f"#{run.pk} {run.experiment.name}", run) for run in runs]
        scored = [(label, run.private_test_metrics) for label, run in labelled if run.private_test_metrics]
        context.update(
            curves={field: charts.embed(figure) for field, figure in
                    charts.compared_curves([(label, list(run.epoch_metrics.all())) for label, run in labelled]).items()},
            per_class_f1=charts.embed(charts.compared_per_class_f1(scored)) if scored else None,
            config_rows=config_rows([run.config for run in runs]),
        )
    return render(request, "emotions/compare.html", context)
