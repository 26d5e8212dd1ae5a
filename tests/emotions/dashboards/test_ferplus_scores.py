"""Runs scored on both label sets: FER2013's own labels and the FER+ raters' majority, on the run page and
the leaderboard."""
import re

import pytest
from dashboards_test_support import CONFUSION, add_epochs, embedded_figure, make_run, metrics_from_confusion

from emotions.models import EpochMetric
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db

# The FER+ majority reads Fear and Sad faces mostly as Neutral: the same predictions score differently.
FERPLUS_CONFUSION = [
    [40, 0, 1, 0, 3, 0, 6],
    [1, 2, 0, 0, 1, 0, 1],
    [1, 0, 8, 0, 1, 4, 1],
    [0, 0, 0, 95, 1, 1, 3],
    [2, 0, 3, 0, 45, 0, 10],
    [0, 0, 2, 1, 0, 48, 1],
    [3, 0, 4, 2, 9, 1, 90],
]


def with_ferplus(confusion, ferplus_confusion):
    metrics = metrics_from_confusion(confusion)
    metrics["ferplus"] = {**metrics_from_confusion(ferplus_confusion), "labels": "ferplus_majority"}
    return metrics


@pytest.fixture
def ferplus_run(ferlite_experiment):
    metrics = with_ferplus(CONFUSION, FERPLUS_CONFUSION)
    run = make_run(ferlite_experiment, best_epoch=3, public_test_metrics=metrics, private_test_metrics=metrics,
                   config={**ferlite_experiment.config, "labels": "mixed"})
    add_epochs(run, 3)
    EpochMetric.objects.filter(run=run).update(val_ferplus_acc=0.8, val_ferplus_macro_f1=0.7)
    return run


def test_the_run_page_tables_both_splits_against_both_label_sets(member_client, ferplus_run):
    page = member_client.get(f"/runs/{ferplus_run.pk}/").content.decode()
    rows = re.findall(r'<tr data-labels="(\w+)"><th scope="row">(\w+)</th><td>([^<]+)</td><td class="num">([^<]+)</td>', page)
    ferplus = ferplus_run.private_test_metrics["ferplus"]
    assert [(labels, split, name) for labels, split, name, _ in rows] == [
        ("fer2013", "PublicTest", "FER2013"), ("fer2013", "PrivateTest", "FER2013"),
        ("ferplus", "PublicTest", "FER+ majority"), ("ferplus", "PrivateTest", "FER+ majority")]
    assert rows[3][3] == f"{ferplus['accuracy'] * 100:.1f}%"
    assert "This run learned mixed targets." in page


def test_the_per_class_charts_switch_to_the_ferplus_majority(member_client, ferplus_run):
    response = member_client.get(f"/runs/{ferplus_run.pk}/?split=private_test&labels=ferplus")
    heatmap = embedded_figure(response, "chart-confusion")
    assert heatmap["data"][0]["z"] == FERPLUS_CONFUSION
    assert heatmap["layout"]["title"]["text"] == "Confusion matrix on PrivateTest, FER+ majority"
    assert embedded_figure(member_client.get(f"/runs/{ferplus_run.pk}/"), "chart-confusion")["data"][0]["z"] == CONFUSION


def test_the_validation_curves_carry_the_ferplus_majority_where_it_was_scored(member_client, ferplus_run, succeeded_run):
    accuracy = embedded_figure(member_client.get(f"/runs/{ferplus_run.pk}/"), "chart-accuracy")
    assert [trace["name"] for trace in accuracy["data"]] == ["train", "validation (PublicTest)", "validation, FER+ majority"]
    assert accuracy["data"][2]["y"] == [0.8, 0.8, 0.8]
    plain = embedded_figure(member_client.get(f"/runs/{succeeded_run.pk}/"), "chart-accuracy")
    assert len(plain["data"]) == 2
    page = member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    assert "labels=ferplus" not in page  # no switch for a run never scored on FER+


def test_the_leaderboard_sorts_by_either_label_set(member_client, ferlite_experiment):
    right = [[10 if i == j else 0 for j in range(7)] for i in range(7)]  # every face right
    even = [[10] * 7 for _ in range(7)]  # one in seven right
    fer2013_best = make_run(ferlite_experiment, private_test_metrics=with_ferplus(right, even))
    ferplus_best = make_run(ferlite_experiment, private_test_metrics=with_ferplus(even, right))

    def order(sort):
        page = member_client.get(f"/experiments/?sort={sort}").content.decode()
        return [int(pk) for pk in re.findall(r'data-run="(\d+)"', page)]

    assert order("-private_accuracy") == [fer2013_best.pk, ferplus_best.pk]
    assert order("-private_ferplus_accuracy") == [ferplus_best.pk, fer2013_best.pk]
    assert order("-private_ferplus_macro_f1") == [ferplus_best.pk, fer2013_best.pk]
    page = member_client.get("/experiments/").content.decode().replace("<wbr>", "")  # headings may wrap at <wbr>
    assert "PrivateTest acc. FER+" in page and "PublicTest acc. FER+" in page
    row = page[page.index(f'data-run="{ferplus_best.pk}"'):]
    assert "100.0%" in row[: row.index("</tr>")]


def test_compare_shows_both_label_sets(member_client, ferplus_run, succeeded_run):
    page = member_client.get(f"/compare/?run={ferplus_run.pk}&run={succeeded_run.pk}").content.decode()
    ferplus = ferplus_run.private_test_metrics["ferplus"]
    assert "PrivateTest acc. FER+" in page
    assert f"{ferplus['accuracy'] * 100:.1f}%" in page and f"{ferplus['macro_f1']:.3f}" in page
