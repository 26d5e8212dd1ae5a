"""The chart builders draw the numbers the database holds."""
import json

import pytest
from dashboards_test_support import CONFUSION, add_epochs, make_run, metrics_from_confusion

from emotions import charts
from ml.classes import FER_CLASSES

METRICS = metrics_from_confusion(CONFUSION)


def test_the_confusion_matrix_shows_the_known_counts_with_true_classes_down_the_side():
    heatmap = charts.confusion_heatmap(METRICS).data[0]
    assert [list(row) for row in heatmap.z] == CONFUSION
    assert list(heatmap.y) == list(FER_CLASSES) and list(heatmap.x) == list(FER_CLASSES)
    assert heatmap.text[2][4] == "15"  # 15 Fear faces taken for Sad


def test_the_row_normalised_view_divides_each_row_by_its_true_class_total():
    figure = charts.confusion_heatmap(METRICS)
    counts_button, normalised_button = figure.layout.updatemenus[0].buttons
    assert (counts_button.label, normalised_button.label) == ("Counts", "Row-normalised")
    normalised = normalised_button.args[0]["z"][0]
    assert normalised[2][4] == pytest.approx(15 / 50)
    assert all(sum(row) == pytest.approx(1) for row in normalised)
    assert normalised_button.args[0]["text"][0][2][4] == "30%"
    assert counts_button.args[0]["z"][0] == CONFUSION


def test_a_class_without_test_faces_normalises_to_zeros_not_an_error():
    assert charts.row_normalise([[0, 0], [1, 3]]) == [[0.0, 0.0], [0.25, 0.75]]


def test_per_class_bars_match_the_stored_precision_recall_and_f1():
    figure = charts.per_class_bars(METRICS)
    bars = {trace.name: trace for trace in figure.data}
    assert list(bars) == ["precision", "recall", "F1"]
    assert list(bars["F1"].x) == list(FER_CLASSES)
    assert list(bars["F1"].y) == [METRICS["per_class"][name]["f1"] for name in FER_CLASSES]
    assert list(bars["recall"].y) == [METRICS["per_class"][name]["recall"] for name in FER_CLASSES]
    assert bars["F1"].y[1] == 0  # Disgust is never predicted: not learnt at all


@pytest.mark.django_db
def test_learning_curves_plot_every_epoch_row(experiment):
    run = make_run(experiment)
    epochs = add_epochs(run, 12, best=9)
    curves = charts.learning_curves(epochs, best_epoch=9)
    assert list(curves) == ["loss", "accuracy", "macro_f1", "lr"]
    assert [trace.name for trace in curves["loss"].data] == ["train", "validation (PublicTest)"]
    assert list(curves["accuracy"].data[1].y) == [row.val_acc for row in epochs]
    assert list(curves["macro_f1"].data[0].x) == list(range(1, 13))
    assert list(curves["lr"].data[0].y) == [row.lr for row in epochs]
    assert curves["loss"].layout.shapes[0].x0 == 9  # the best epoch is marked


def test_a_diverged_epoch_leaves_a_gap_instead_of_breaking_the_json():
    class Row:
        epoch, train_loss, train_acc, val_loss, val_acc, val_macro_f1, lr = 1, float("nan"), 0.1, float("inf"), 0.1, 0.1, 1e-3

    figure = charts.learning_curves([Row()])["loss"]
    assert list(figure.data[0].y) == [None] and list(figure.data[1].y) == [None]
    json.dumps(charts.embed(figure), allow_nan=False)


def test_compared_per_class_f1_puts_each_runs_bars_side_by_side():
    other = metrics_from_confusion([[5, 5], [0, 10]], class_names=["Happy", "Sad"])
    figure = charts.compared_per_class_f1([("#1 a", METRICS), ("#2 b", other)])
    first, second = figure.data
    assert (first.name, second.name) == ("#1 a", "#2 b")
    assert list(first.x) == list(FER_CLASSES)
    assert second.y[FER_CLASSES.index("Sad")] == other["per_class"]["Sad"]["f1"]
    assert second.y[FER_CLASSES.index("Angry")] is None  # a class the second run did not learn


def test_class_counts_draw_one_trace_per_split_with_the_stored_counts():
    counts = {"train": {"Angry": 3995, "Disgust": 436}, "public_test": {"Angry": 467, "Disgust": 56},
              "private_test": {"Angry": 491, "Disgust": 55}}
    figure = charts.class_counts(counts, ["Angry", "Disgust"])
    assert [trace.name for trace in figure.data] == ["Training", "PublicTest", "PrivateTest"]
    assert list(figure.data[0].y) == [3995, 436]


def test_embedded_figures_are_plain_json():
    figure = charts.embed(charts.confusion_heatmap(METRICS))
    assert json.loads(json.dumps(figure, allow_nan=False))["data"][0]["type"] == "heatmap"
