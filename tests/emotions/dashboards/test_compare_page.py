"""Comparing runs: their curves overlaid, per-class F1 side by side, config differences highlighted."""
import re

import pytest
from dashboards_test_support import CONFUSION, add_epochs, embedded_figure, make_run, metrics_from_confusion
from emotions_test_support import make_experiment, tiny_config

from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(succeeded_run, noise_dataset):
    """The ferlite run (5 epochs) and a cnn3 run with another learning rate (3 epochs)."""
    other_metrics = metrics_from_confusion([[row[i] + (i == j) * 5 for i in range(7)] for j, row in enumerate(CONFUSION)])
    optimizer = {**tiny_config()["optimizer"], "lr": 0.01}
    cnn3 = make_experiment(noise_dataset, name="cnn3 fast", optimizer=optimizer, limit=None, epochs=5)
    other = make_run(cnn3, public_test_metrics=other_metrics, private_test_metrics=other_metrics)
    add_epochs(other, 3)
    return succeeded_run, other


def test_curves_of_the_selected_runs_are_overlaid(member_client, pair):
    first, second = pair
    response = member_client.get(f"/compare/?run={first.pk}&run={second.pk}")
    for field in ("val_loss", "val_acc", "val_macro_f1", "train_loss"):
        traces = embedded_figure(response, f"chart-compare-{field}")["data"]
        assert [trace["name"] for trace in traces] == [f"#{first.pk} ferlite tiny", f"#{second.pk} cnn3 fast"]
    accuracy = embedded_figure(response, "chart-compare-val_acc")["data"]
    assert [len(trace["x"]) for trace in accuracy] == [5, 3]


def test_per_class_f1_of_each_run_is_side_by_side(member_client, pair):
    first, second = pair
    figure = embedded_figure(member_client.get(f"/compare/?run={first.pk}&run={second.pk}"), "chart-compare-per-class-f1")
    assert figure["layout"]["barmode"] == "group"
    for trace, run in zip(figure["data"], pair):
        assert trace["y"] == [run.private_test_metrics["per_class"][name]["f1"] for name in FER_CLASSES]


def test_config_differences_are_highlighted_and_listed_first(member_client, pair):
    first, second = pair
    page = member_client.get(f"/compare/?run={first.pk}&run={second.pk}").content.decode()
    differing = re.findall(r'<tr class="differs"><th scope="row">([^<]+)</th>', page)
    assert differing == ["model.name", "model.options.width", "optimizer.lr"]
    assert '<th scope="row">batch_size</th>' in page  # the same in both: shown, not highlighted
    assert page.index('class="differs"') < page.index('<th scope="row">batch_size</th>')


def test_runs_are_shown_in_the_order_they_were_picked(member_client, pair):
    first, second = pair
    response = member_client.get(f"/compare/?run={second.pk}&run={first.pk}")
    names = [trace["name"] for trace in embedded_figure(response, "chart-compare-val_loss")["data"]]
    assert names == [f"#{second.pk} cnn3 fast", f"#{first.pk} ferlite tiny"]


def test_fewer_than_two_runs_asks_for_more(member_client, succeeded_run):
    for query in ("", f"?run={succeeded_run.pk}", f"?run={succeeded_run.pk}&run={succeeded_run.pk}", "?run=x&run=999"):
        response = member_client.get(f"/compare/{query}")
        assert response.status_code == 200
        assert "Select two or more runs" in response.content.decode()


def test_runs_without_test_scores_still_compare_their_curves(member_client, ferlite_experiment):
    runs = [make_run(ferlite_experiment, status="running", finished_at=None) for _ in range(2)]
    for run in runs:
        add_epochs(run, 2)
    page = member_client.get(f"/compare/?run={runs[0].pk}&run={runs[1].pk}").content.decode()
    assert "chart-compare-val_loss" in page and "chart-compare-per-class-f1" not in page
