"""A run's files for download: its checkpoint, metrics (JSON), epochs (CSV) and TensorBoard logs (zip)."""
import json
from pathlib import Path

from django.http import FileResponse, Http404, HttpResponse

from emotions.dashboards.access import dashboard_view, get_run_or_404
from emotions.dashboards.run_exports import epochs_csv, metrics_document, tensorboard_dir, tensorboard_zip


def _attachment(content, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@dashboard_view
def run_checkpoint(request, pk: int):
    run = get_run_or_404(pk)
    path = Path(run.checkpoint.path) if run.checkpoint else None
    if path is None or not path.is_file():
        raise Http404("This run has no checkpoint.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"run-{run.pk}-{path.name}")


@dashboard_view
def run_metrics_json(request, pk: int):
    run = get_run_or_404(pk)
    document = metrics_document(run, list(run.epoch_metrics.all()))
    return _attachment(json.dumps(document, indent=2), "application/json", f"run-{run.pk}-metrics.json")


@dashboard_view
def run_epochs_csv(request, pk: int):
    run = get_run_or_404(pk)
    return _attachment(epochs_csv(list(run.epoch_metrics.all())), "text/csv", f"run-{run.pk}-epochs.csv")


@dashboard_view
def run_tensorboard(request, pk: int):
    run = get_run_or_404(pk)
    folder = tensorboard_dir(run)
    if folder is None:
        raise Http404("This run wrote no TensorBoard logs.")
    return _attachment(tensorboard_zip(folder), "application/zip", f"run-{run.pk}-tensorboard.zip")
