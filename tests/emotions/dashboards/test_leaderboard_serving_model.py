"""The leaderboard says which model reads uploads: the deployed run, or the shipped model when none is."""
import pytest
from dashboards_test_support import make_run, metrics_from_confusion, save_checkpoint_for
from ensemble_test_support import save_tiny_ensemble

from emotions.training.imports import record_source
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


def row_of(page: str, run) -> str:
    marker = page.index(f'data-run="{run.pk}"')
    return page[page.rindex("<tr", 0, marker): page.index("</tr>", marker)]


@pytest.fixture
def shipped(settings, tmp_path, face_dataset):
    """The shipped model is a tiny ensemble, recorded with its members as `manage.py import_fer2013` does."""
    settings.SHIPPED_MODEL_PATH = save_tiny_ensemble(tmp_path / "weights" / "default.pt")
    return record_source(settings.SHIPPED_MODEL_PATH, face_dataset)[-1][0]


@pytest.fixture
def trained(ferlite_experiment):
    metrics = metrics_from_confusion([[5, 1, 0, 0, 0, 0, 0]] * 7)
    run = make_run(ferlite_experiment, public_test_metrics=metrics, private_test_metrics=metrics)
    save_checkpoint_for(run, FER_CLASSES)
    return run


def test_with_nothing_deployed_the_shipped_ensembles_row_serves_uploads(member_client, shipped, trained):
    page = member_client.get("/experiments/").content.decode()
    row = row_of(page, shipped)
    assert "serves-uploads" in row and ">shipped model<" in row and ">serves uploads<" in row
    assert page.count(">serves uploads<") == 1 and page.count(">shipped model<") == 1  # not its members
    assert f'No run is deployed: uploads are read by the shipped model, <a href="/runs/{shipped.pk}/">' in page
    assert 'href="/about-model/"' in page


def test_a_deployed_run_serves_uploads_and_the_shipped_model_stays_marked_as_shipped(member_client, shipped, trained):
    trained.deploy()
    page = member_client.get("/experiments/").content.decode()
    assert ">serves uploads<" in row_of(page, trained) and ">serves uploads<" not in row_of(page, shipped)
    assert ">shipped model<" in row_of(page, shipped)
    assert f'Uploads are read by the deployed run <a href="/runs/{trained.pk}/">#{trained.pk}' in page


def test_a_shipped_model_replaced_since_it_was_recorded_is_not_that_run_any_more(member_client, shipped, settings):
    save_tiny_ensemble(settings.SHIPPED_MODEL_PATH, exponent=0.25)  # other weights, same file
    page = member_client.get("/experiments/").content.decode()
    assert ">shipped model<" not in page and ">serves uploads<" not in page
    assert "not recorded as a run here" in page


def test_with_no_model_at_all_the_page_says_so(member_client, no_model, trained):
    page = member_client.get("/experiments/").content.decode()
    assert "No model reads uploads" in page and ">serves uploads<" not in page
