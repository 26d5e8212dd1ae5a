"""The experiments page: every run with its recipe, size, status and scores; sortable and filterable."""
import re

import pytest
from dashboards_test_support import add_epochs, make_run, metrics_from_confusion
from emotions_test_support import make_experiment

from emotions.models import TrainingRun

pytestmark = pytest.mark.django_db


def scored(accuracy_confusion):
    return metrics_from_confusion(accuracy_confusion, class_names=["Happy", "Sad"])


GOOD = scored([[9, 1], [1, 9]])  # accuracy 0.9
FAIR = scored([[7, 3], [3, 7]])  # accuracy 0.7


def run_order(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr class="[^"]*" data-run="(\d+)"', response.content.decode())]


def row_of(page: str, run) -> str:
    """The run's row, without the <wbr> hints where long names may wrap."""
    marker = page.index(f'data-run="{run.pk}"')
    return page[page.rindex("<tr", 0, marker): page.index("</tr>", marker)].replace("<wbr>", "")


@pytest.fixture
def runs(ferlite_experiment, noise_dataset):
    cnn3 = make_experiment(noise_dataset, name="cnn3 recipe")
    fair = make_run(ferlite_experiment, public_test_metrics=FAIR, private_test_metrics=FAIR)
    good = make_run(cnn3, public_test_metrics=GOOD, private_test_metrics=GOOD, is_deployed=True, device="cuda:0")
    running = make_run(cnn3, status=TrainingRun.Status.RUNNING, epoch=2)
    add_epochs(fair, 3, seconds=20)
    return {"fair": fair, "good": good, "running": running}


def test_runs_are_ranked_by_private_test_accuracy_with_unscored_runs_last(member_client, runs):
    response = member_client.get("/experiments/")
    assert run_order(response) == [runs["good"].pk, runs["fair"].pk, runs["running"].pk]


def test_each_row_shows_recipe_architecture_parameters_scores_training_time_and_device(member_client, runs):
    from ml.models import count_parameters, create_model

    row = row_of(member_client.get("/experiments/").content.decode(), runs["fair"])
    ferlite_parameters = count_parameters(create_model("ferlite", num_classes=2, width=8))
    assert "ferlite tiny" in row and "seed002_cnn3" in row and ">ferlite<" in row
    assert f"{ferlite_parameters / 1000:.0f} k" in row
    assert "70.0%" in row and "0.700" in row  # accuracy, macro-F1
    assert "1 min 00 s" in row  # 3 epochs of 20 s
    assert ">cpu<" in row


def test_the_deployed_model_is_marked(member_client, runs):
    page = member_client.get("/experiments/").content.decode()
    row = row_of(page, runs["good"])
    assert row.startswith('<tr class="is-deployed"') and ">deployed<" in row
    assert page.count(">deployed<") == 1


def test_a_column_heading_sorts_by_it_and_again_the_other_way(member_client, runs):
    ascending = member_client.get("/experiments/?sort=private_accuracy")
    assert run_order(ascending) == [runs["fair"].pk, runs["good"].pk, runs["running"].pk]
    assert 'href="?sort=-private_accuracy"' in ascending.content.decode()
    by_name = member_client.get("/experiments/?sort=experiment")
    assert run_order(by_name)[-1] == runs["fair"].pk  # "cnn3 recipe" before "ferlite tiny"


def test_an_unknown_sort_falls_back_to_the_ranking(member_client, runs):
    assert run_order(member_client.get("/experiments/?sort=__class__")) == run_order(member_client.get("/experiments/"))


@pytest.mark.parametrize("query, expected", [
    ("status=running", ["running"]),
    ("architecture=ferlite", ["fair"]),
    ("q=cnn3+rec", ["good", "running"]),
    ("status=succeeded&architecture=cnn3", ["good"]),
])
def test_filters_narrow_the_runs(member_client, runs, query, expected):
    assert run_order(member_client.get(f"/experiments/?{query}")) == [runs[name].pk for name in expected]


def test_filtering_by_dataset(member_client, runs, face_dataset, noise_dataset):
    assert run_order(member_client.get(f"/experiments/?dataset={face_dataset.pk}")) == [runs["fair"].pk]


def test_runs_can_be_ticked_for_comparison(member_client, runs):
    page = member_client.get("/experiments/").content.decode()
    assert '<form id="compare-form" method="get" action="/compare/"' in page
    assert f'name="run" value="{runs["good"].pk}" form="compare-form"' in page


def test_with_no_runs_the_page_says_so(member_client):
    assert "No training runs yet." in member_client.get("/experiments/").content.decode()


def test_the_leaderboard_takes_a_fixed_number_of_queries(member_client, runs, ferlite_experiment,
                                                          django_assert_max_num_queries):
    for _ in range(20):
        add_epochs(make_run(ferlite_experiment, public_test_metrics=FAIR, private_test_metrics=FAIR), 3)
    with django_assert_max_num_queries(8):  # 2 of them find the model serving uploads, 1 the evaluation sets
        assert member_client.get("/experiments/").status_code == 200
