"""A run's page: live progress, learning curves, per-class scores, the confusion matrix, the config."""
import pytest
from dashboards_test_support import CONFUSION, add_epochs, embedded_figure, make_run, metrics_from_confusion
from django.utils import timezone

from emotions.models import TrainingRun
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_run(ferlite_experiment):
    """Epoch 3 of 10 done, 12 s each."""
    run = make_run(ferlite_experiment, status=TrainingRun.Status.RUNNING, epoch=3, epochs=10,
                   heartbeat_at=timezone.now(), finished_at=None)
    add_epochs(run, 3, seconds=12)
    return run


def test_a_running_run_shows_its_epoch_progress_and_eta(member_client, running_run):
    page = member_client.get(f"/runs/{running_run.pk}/").content.decode()
    assert '<progress data-field="progress" value="3" max="10">' in page
    assert 'epoch <b data-field="epoch">3</b> of <b data-field="epochs">10</b>' in page
    assert 'ETA <b data-field="eta">1 min 24 s</b>' in page  # 7 epochs left x 12 s
    assert 'data-active="true"' in page


def test_status_json_gives_progress_eta_and_the_latest_epoch(member_client, running_run):
    status = member_client.get(f"/runs/{running_run.pk}/status.json").json()
    assert status["status"] == "running" and status["is_active"] is True
    assert (status["epoch"], status["epochs"], status["progress"]) == (3, 10, 0.3)
    assert status["eta_seconds"] == 84.0
    assert status["latest"]["epoch"] == 3 and status["latest"]["val_acc"] == pytest.approx(0.303)


def test_status_json_is_never_cached(member_client, running_run):
    response = member_client.get(f"/runs/{running_run.pk}/status.json")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_a_finished_run_has_no_eta_and_the_page_does_not_poll(member_client, succeeded_run):
    assert member_client.get(f"/runs/{succeeded_run.pk}/status.json").json()["eta_seconds"] is None
    assert 'data-active="false"' in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()


def test_a_queued_run_waits_with_no_eta(member_client, ferlite_experiment):
    run = make_run(ferlite_experiment, status=TrainingRun.Status.QUEUED, epochs=0, finished_at=None)
    status = member_client.get(f"/runs/{run.pk}/status.json").json()
    assert (status["status"], status["eta_seconds"], status["latest"]) == ("queued", None, None)
    assert "No epoch has finished yet." in member_client.get(f"/runs/{run.pk}/").content.decode()


def test_a_failed_run_shows_why(member_client, ferlite_experiment):
    run = make_run(ferlite_experiment, status=TrainingRun.Status.FAILED, error="CUDA out of memory")
    assert "CUDA out of memory" in member_client.get(f"/runs/{run.pk}/").content.decode()


def test_the_learning_curves_hold_every_epoch(member_client, succeeded_run):
    response = member_client.get(f"/runs/{succeeded_run.pk}/")
    loss = embedded_figure(response, "chart-loss")
    assert [trace["name"] for trace in loss["data"]] == ["train", "validation (PublicTest)"]
    assert loss["data"][0]["x"] == [1, 2, 3, 4, 5]
    accuracy = embedded_figure(response, "chart-accuracy")
    assert accuracy["data"][1]["y"] == [pytest.approx(0.3 + e / 1000) for e in range(1, 6)]
    assert len(embedded_figure(response, "chart-macro_f1")["data"]) == 1
    assert len(embedded_figure(response, "chart-lr")["data"]) == 1


def test_curves_json_serves_the_same_figures_for_the_live_refresh(member_client, running_run):
    figures = member_client.get(f"/runs/{running_run.pk}/curves.json").json()
    assert set(figures) == {"chart-loss", "chart-accuracy", "chart-macro_f1", "chart-lr"}
    assert figures["chart-loss"]["data"][1]["x"] == [1, 2, 3]


def test_the_confusion_matrix_shows_the_private_test_counts(member_client, succeeded_run):
    heatmap = embedded_figure(member_client.get(f"/runs/{succeeded_run.pk}/"), "chart-confusion")["data"][0]
    assert heatmap["type"] == "heatmap" and heatmap["z"] == CONFUSION
    assert heatmap["y"] == list(FER_CLASSES)


def test_per_class_f1_matches_the_stored_metrics(member_client, succeeded_run):
    figure = embedded_figure(member_client.get(f"/runs/{succeeded_run.pk}/"), "chart-per-class")
    f1 = next(trace for trace in figure["data"] if trace["name"] == "F1")
    stored = succeeded_run.private_test_metrics["per_class"]
    assert f1["y"] == [stored[name]["f1"] for name in FER_CLASSES]


def test_public_test_can_be_shown_instead(member_client, ferlite_experiment):
    public, private = metrics_from_confusion([[4, 1], [2, 3]], ["Happy", "Sad"]), metrics_from_confusion([[5, 0], [0, 5]], ["Happy", "Sad"])
    run = make_run(ferlite_experiment, public_test_metrics=public, private_test_metrics=private)
    response = member_client.get(f"/runs/{run.pk}/?split=public_test")
    figure = embedded_figure(response, "chart-confusion")
    assert figure["data"][0]["z"] == [[4, 1], [2, 3]]
    assert "PublicTest" in figure["layout"]["title"]["text"]


def test_test_scores_are_tabled(member_client, succeeded_run):
    page = member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    metrics = succeeded_run.private_test_metrics
    assert f"{metrics['accuracy'] * 100:.1f}%" in page and f"{metrics['macro_f1']:.3f}" in page
    assert "Test scores (best epoch, 4)" in page


def test_the_resolved_config_is_a_table_of_dotted_keys(member_client, succeeded_run):
    page = member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    assert '<th scope="row">optimizer.lr</th><td>0.001</td>' in page
    assert '<th scope="row">model.options.width</th><td>8</td>' in page


def test_an_unknown_run_is_not_found(member_client):
    assert member_client.get("/runs/999/").status_code == 404
    assert member_client.get("/runs/999/status.json").status_code == 404


def test_a_run_of_200_epochs_renders_in_a_fixed_number_of_queries(member_client, ferlite_experiment,
                                                                   django_assert_max_num_queries):
    metrics = metrics_from_confusion(CONFUSION)
    run = make_run(ferlite_experiment, epoch=200, epochs=200, best_epoch=150, public_test_metrics=metrics,
                   private_test_metrics=metrics)
    add_epochs(run, 200, best=150)
    with django_assert_max_num_queries(5):  # session, user, run, epochs, its scores on the evaluation sets
        response = member_client.get(f"/runs/{run.pk}/")
    assert response.status_code == 200
    assert len(embedded_figure(response, "chart-loss")["data"][1]["y"]) == 200
