"""Datasets: their class balance, sample faces per class, and the augmentation preview."""
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import add_never_cache_headers, patch_cache_control

from emotions import charts
from emotions.dashboards.access import dashboard_view
from emotions.dashboards.augmentation import augmented_copies, default_recipe
from emotions.dashboards.disagreement import cell_faces, disagreement_table, parse_cell
from emotions.dashboards.faces import load_store, png_bytes, png_data_uri, sample_indices
from emotions.dashboards.photo_report import photo_report
from emotions.training import configs
from emotions.training.models import Dataset

PREVIEW_COPIES = 8


def _load_store_or_none(dataset: Dataset):
    from ml.data import DataImportError

    try:
        return load_store(dataset)
    except (FileNotFoundError, DataImportError):
        return None


@dashboard_view
def dataset_list(request):
    return render(request, "emotions/dataset_list.html", {"datasets": Dataset.objects.all()})


def _faces_private(request, dataset: Dataset) -> bool:
    """The corrections' faces are uploaders' own: staff see them (as in the admin), other users the counts."""
    return dataset.kind == Dataset.Kind.CORRECTIONS and not request.user.is_staff


@dashboard_view
def dataset_detail(request, pk: int):
    dataset = get_object_or_404(Dataset, pk=pk)
    faces_private = _faces_private(request, dataset)
    store = None if faces_private else _load_store_or_none(dataset)
    context = {
        "dataset": dataset,
        "counts_chart": charts.embed(charts.class_counts(dataset.counts, dataset.class_names)),
        "store_missing": store is None,
        "faces_private": faces_private,
        "photo_report": photo_report(dataset),
    }
    if store is not None:
        samples = sample_indices(store)
        context["samples"] = samples
        context.update(_augmentation_preview(request, store, samples))
        context.update(_disagreement(request, store))
    return render(request, "emotions/dataset.html", context)


def _disagreement(request, store) -> dict:
    table = disagreement_table(store)
    if table is None:
        return {}
    context = {"disagreement": table}
    cell = parse_cell(request.GET, len(table["columns"]))
    if cell is not None:
        label, category = cell
        context.update(cell_selected=cell, cell_label=table["rows"][label]["name"], cell_raters=table["columns"][category],
                       cell_count=table["rows"][label]["cells"][category].count,
                       cell_faces=cell_faces(store, label, category))
    return context


def _augmentation_preview(request, store, samples) -> dict:
    recipes = list(configs.preset_paths())
    recipe = request.GET.get("recipe") if request.GET.get("recipe") in recipes else default_recipe(recipes)
    first_sample = next((rows[0] for rows in samples.values() if rows), None)
    face = request.GET.get("face", "")
    face = int(face) if face.isdigit() and int(face) < len(store) else first_sample
    if recipe is None or face is None:
        return {"recipes": recipes}
    try:
        copies = augmented_copies(store.images[face], configs.load_preset(recipe), count=PREVIEW_COPIES)
    except ValidationError as error:
        return {"recipes": recipes, "recipe": recipe, "face": face, "preview_error": " ".join(error.messages)}
    return {"recipes": recipes, "recipe": recipe, "face": face, "preview": [png_data_uri(copy) for copy in copies]}


@dashboard_view
def dataset_face(request, pk: int, index: int):
    dataset = get_object_or_404(Dataset, pk=pk)
    store = None if _faces_private(request, dataset) else _load_store_or_none(dataset)
    if store is None or index >= len(store):
        raise Http404("No such face.")
    response = HttpResponse(png_bytes(store.images[index]), content_type="image/png")
    if dataset.kind == Dataset.Kind.CORRECTIONS:
        add_never_cache_headers(response)  # staff drop corrections: the faces after one move up an index
    else:
        patch_cache_control(response, private=True, max_age=3600)  # an imported store never changes
    return response
