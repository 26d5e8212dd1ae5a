"""The evaluation sets on the dashboards: a sortable leaderboard column per set, a run's per-class scores and
confusion matrix on each set's held-out photos, and a photo dataset's page with its import report."""
import re

import pytest
from dashboards_test_support import embedded_figure, make_run, metrics_from_confusion
from emotions_test_support import dataset_for, make_noise_store

from emotions.models import Correction, Dataset, RunEvaluation
from emotions.photo_sets import corrections
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


def scored(confusion):
    return metrics_from_confusion(confusion, class_names=["Happy", "Sad"])


GOOD = scored([[9, 1], [1, 9]])  # accuracy 0.9
FAIR = scored([[7, 3], [3, 7]])  # accuracy 0.7
POOR = scored([[5, 5], [4, 6]])  # accuracy 0.55


def photo_dataset(name: str, *, evaluation_set: bool = True, report: dict | None = None) -> Dataset:
    dataset = dataset_for(make_noise_store(per_split=14), name)
    Dataset.objects.filter(pk=dataset.pk).update(kind="photos", is_evaluation_set=evaluation_set,
                                                 report=report or dataset.report)
    return Dataset.objects.get(pk=dataset.pk)


def run_order(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr class="[^"]*" data-run="(\d+)"', response.content.decode())]


@pytest.fixture
def sets_and_runs(ferlite_experiment):
    office, street = photo_dataset("office"), photo_dataset("street")
    first = make_run(ferlite_experiment, public_test_metrics=GOOD, private_test_metrics=GOOD)
    second = make_run(ferlite_experiment, public_test_metrics=FAIR, private_test_metrics=FAIR)
    unscored = make_run(ferlite_experiment, public_test_metrics=POOR, private_test_metrics=POOR)
    for run, on_office, on_street in ((first, POOR, GOOD), (second, GOOD, FAIR)):
        RunEvaluation.objects.create(run=run, dataset=office, status="done", metrics=on_office)
        RunEvaluation.objects.create(run=run, dataset=street, status="done", metrics=on_street)
    RunEvaluation.objects.create(run=unscored, dataset=office, status="queued")
    return {"office": office, "street": street, "first": first, "second": second, "unscored": unscored}


# The leaderboard --------------------------------------------------------------------------------
def test_each_evaluation_set_has_a_column_of_accuracy_on_its_photos(member_client, sets_and_runs):
    page = member_client.get("/experiments/").content.decode()
    office, street = sets_and_runs["office"], sets_and_runs["street"]
    assert f'class="col-eval_{office.pk}"><a href="?sort=-eval_{office.pk}">office acc.</a>' in page
    assert f'class="col-eval_{street.pk}"><a href="?sort=-eval_{street.pk}">street acc.</a>' in page
    first = page[page.index(f'data-run="{sets_and_runs["first"].pk}"'):]
    first = first[: first.index("</tr>")]
    assert re.findall(r'<td class="num evaluation-set"[^>]*>([^<]*)</td>', first) == ["55.0%", "90.0%"]
    assert 'title="macro-F1 0.549 on 20 photos"' in first


def test_sorting_by_a_sets_column_ranks_runs_by_it_with_unscored_runs_last(member_client, sets_and_runs):
    office = sets_and_runs["office"]
    order = run_order(member_client.get(f"/experiments/?sort=-eval_{office.pk}"))
    assert order == [sets_and_runs["second"].pk, sets_and_runs["first"].pk, sets_and_runs["unscored"].pk]
    order = run_order(member_client.get(f"/experiments/?sort=eval_{office.pk}"))
    assert order == [sets_and_runs["first"].pk, sets_and_runs["second"].pk, sets_and_runs["unscored"].pk]
    page = member_client.get(f"/experiments/?sort=-eval_{office.pk}").content.decode()
    assert f'<a href="?sort=eval_{office.pk}">office acc.</a> <span aria-hidden="true">▼</span>' in page


def test_a_set_no_longer_marked_loses_its_column(member_client, sets_and_runs):
    Dataset.objects.filter(pk=sets_and_runs["street"].pk).update(is_evaluation_set=False)
    page = member_client.get(f"/experiments/?sort=-eval_{sets_and_runs['street'].pk}").content.decode()
    assert "street acc." not in page and "office acc." in page
    assert len(re.findall(r'<td class="num evaluation-set"', page)) == 3  # one column for three runs


def test_without_evaluation_sets_the_leaderboard_is_as_before(member_client, succeeded_run):
    page = member_client.get("/experiments/").content.decode()
    assert "evaluation-set" not in page and "eval_" not in page


# The run page ----------------------------------------------------------------------------------
def test_the_run_page_shows_per_class_f1_and_the_confusion_matrix_for_each_set(member_client, sets_and_runs):
    run, office, street = sets_and_runs["first"], sets_and_runs["office"], sets_and_runs["street"]
    response = member_client.get(f"/runs/{run.pk}/")
    page = response.content.decode()
    assert "On real photos: the evaluation sets" in page
    table = page[page.index('class="scores evaluation-set-scores"'):]
    assert f'<a href="/datasets/{office.pk}/">office</a>' in table and "55.0%" in table and "90.0%" in table
    bars = embedded_figure(response, f"chart-set-{office.pk}-per-class")
    assert bars["layout"]["title"]["text"] == "Per class on office (held-out photos)"
    f1 = next(trace for trace in bars["data"] if trace["name"] == "F1")
    assert f1["x"] == ["Happy", "Sad"] and f1["y"] == [POOR["per_class"][name]["f1"] for name in ("Happy", "Sad")]
    confusion = embedded_figure(response, f"chart-set-{street.pk}-confusion")
    assert confusion["data"][0]["z"] == GOOD["confusion_matrix"]
    assert confusion["layout"]["title"]["text"] == "Confusion matrix on street (held-out photos)"


def test_a_set_still_being_scored_or_failed_says_so(member_client, sets_and_runs):
    unscored = sets_and_runs["unscored"]
    RunEvaluation.objects.create(run=unscored, dataset=sets_and_runs["street"], status="failed",
                                 error="ValueError: split 'private_test' of this data set is empty")
    page = member_client.get(f"/runs/{unscored.pk}/").content.decode()
    assert "Being scored by a worker" in page
    assert "Not scored: ValueError: split &#x27;private_test&#x27; of this data set is empty" in page
    assert f"chart-set-{sets_and_runs['office'].pk}-per-class" not in page


def test_a_run_without_evaluations_has_no_such_section(member_client, succeeded_run):
    assert "evaluation sets" not in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()


# The dataset page ---------------------------------------------------------------------------------
def test_a_photo_datasets_page_shows_its_import_report_per_class(member_client):
    per_class = {name: {"imported": 2, "no_face": 0, "several_faces": 0} for name in FER_CLASSES}
    per_class["Happy"] = {"imported": 2, "no_face": 3, "several_faces": 1}
    dataset = photo_dataset("my photos", report={
        "photos": 18, "rows": 14, "no_face": 3, "several_faces": 1, "per_class": per_class, "labels_from": "labels.csv",
        "detector": "mtcnn", "group_column": "person", "test_groups": ["bob"],
        "unreadable": [{"path": "happy/broken.jpg", "row": 7, "label": "Happy", "reason": "not an image"}],
    })
    page = member_client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "Import report" in page and "evaluation set" in page
    happy = re.search(r'<tr data-class="Happy">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', happy)[3:] == ["3", "1", "1"]  # no face, several, unreadable
    assert "<code>happy/broken.jpg</code> (labels.csv row 7), Happy: not an image" in page
    assert "Split by person, bob held out for the test" in page
    assert 'class="face-grid samples"' in page  # sample faces, as for FER2013
    assert embedded_figure(member_client.get(f"/datasets/{dataset.pk}/"), "chart-class-counts")


def test_the_corrections_faces_are_shown_to_staff_only(member_client, staff_client):
    corrections.corrections_dataset()
    Correction.objects.create(face_index=0, label="Happy", face=bytes(48 * 48))
    corrections.refresh_counts()
    dataset = Dataset.objects.get(kind="corrections")
    member_page = member_client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "staff see them here and in the admin" in member_page and "face-grid samples" not in member_page
    assert member_client.get(f"/datasets/{dataset.pk}/faces/0.png").status_code == 404
    staff_page = staff_client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "face-grid samples" in staff_page
    face = staff_client.get(f"/datasets/{dataset.pk}/faces/0.png")
    assert face.status_code == 200
    assert "no-cache" in face["Cache-Control"]  # dropping a correction moves the faces after it
