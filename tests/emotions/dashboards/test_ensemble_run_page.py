"""An ensemble's run page: which runs it averages, with what weights and prior correction, its members'
curves instead of empty ones of its own, their parameters together, and its most confident mistakes."""
import re
import shutil

import pytest
from dashboards_test_support import CONFUSION, embedded_figure
from ensemble_test_support import MEMBERS, member_parameters, save_photo_figures, save_tiny_ensemble

from emotions.dashboards.ensembles import describe_ensemble
from emotions.dashboards.mistakes import confident_mistakes
from emotions.models import TrainingRun
from emotions.templatetags.dashboards import parameters as parameters_words
from emotions.training.imports import IMPORTED, record_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def ensemble_file(tmp_path):
    return save_tiny_ensemble(tmp_path / "weights" / "pair.pt")


@pytest.fixture
def imported(ensemble_file, face_dataset):
    """The ensemble recorded as `manage.py import_runs` records it: each member, then the ensemble."""
    *members, ensemble = [run for run, _ in record_source(ensemble_file, face_dataset)]
    return ensemble, members


def test_the_page_says_it_is_an_ensemble_of_its_member_runs_each_linked(member_client, imported):
    ensemble, members = imported
    page = member_client.get(f"/runs/{ensemble.pk}/").content.decode()
    links = ", ".join(f'<a href="/runs/{run.pk}/">#{run.pk}</a>' for run in members)
    assert f"An ensemble of runs {links}" in page
    for run, (recipe, _, _) in zip(members, MEMBERS):
        row = re.search(rf'<tr data-member="\d+">\s*<th scope="row"><a href="/runs/{run.pk}/">#{run.pk}</a></th>(.*?)</tr>',
                        page, re.S).group(1)
        assert recipe in row and "50.0%" in row  # averaged equally


def test_the_prior_correction_is_explained_with_each_class_multiplier(member_client, imported):
    ensemble, _ = imported
    page = member_client.get(f"/runs/{ensemble.pk}/").content.decode()
    assert "divided by the Training split&#x27;s class frequencies to the power 0.5" in page
    prior = describe_ensemble(ensemble).prior_correction
    factors = {row.name: row.factor for row in prior.classes}
    assert factors["Happy"] == pytest.approx(1.0)  # the most frequent class
    assert factors["Disgust"] == pytest.approx((7215 / 436) ** 0.5)
    assert f"×{factors['Disgust']:.2f}" in page


def test_weights_the_checkpoint_gives_are_shown_instead_of_equal_averaging(member_client, tmp_path, face_dataset):
    path = save_tiny_ensemble(tmp_path / "weighted.pt", weights=[3, 1])
    ensemble = record_source(path, face_dataset)[-1][0]
    page = member_client.get(f"/runs/{ensemble.pk}/").content.decode()
    assert "with the weights below" in page and "75.0%" in page and "25.0%" in page


def test_there_is_no_training_progress_and_no_empty_curve_but_the_members_validation_curves(member_client, imported):
    ensemble, members = imported
    response = member_client.get(f"/runs/{ensemble.pk}/")
    page = response.content.decode()
    assert "epoch <b" not in page and "training time" not in page and "No epoch has finished yet" not in page
    assert 'id="chart-loss"' not in page and 'id="chart-lr"' not in page
    for chart in ("chart-members-val_acc", "chart-members-val_macro_f1"):
        traces = embedded_figure(response, chart)["data"]
        assert [trace["name"] for trace in traces] == [f"#{run.pk} {run.experiment.name}" for run in members]
        assert all(trace["x"] == [1, 2, 3] for trace in traces)


def test_its_parameters_are_its_members_together(member_client, imported):
    ensemble, _ = imported
    expected = parameters_words(member_parameters())
    page = member_client.get(f"/runs/{ensemble.pk}/").content.decode()
    assert f"({expected} parameters)" in page
    leaderboard = member_client.get("/experiments/").content.decode()
    row = leaderboard[leaderboard.index(f'data-run="{ensemble.pk}"'):]
    assert f'<td class="num">{expected}</td>' in row[:row.index("</tr>")]


def test_a_members_page_is_an_ordinary_run_page(member_client, imported):
    _, members = imported
    page = member_client.get(f"/runs/{members[0].pk}/").content.decode()
    assert "epoch <b" in page and 'id="chart-loss"' in page and "An ensemble of" not in page


def test_an_ensemble_without_recorded_member_runs_lists_its_members_by_name(member_client, imported, face_dataset):
    ensemble, members = imported
    for run in members:
        run.delete()
    page = member_client.get(f"/runs/{ensemble.pk}/").content.decode()
    assert "An ensemble of 2 models" in page and "member 1" in page and MEMBERS[1][0] in page
    assert "chart-members" not in page  # no member runs, no curves to draw


def test_its_most_confident_mistakes_are_judged_on_the_whole_split_as_it_was_scored(member_client, imported):
    ensemble, _ = imported
    grid = member_client.get(f"/runs/{ensemble.pk}/mistakes/").content.decode()
    assert "no longer reads" not in grid
    found = confident_mistakes(ensemble)
    scored = ensemble.private_test_metrics
    assert found.evaluated == scored["num_samples"] == 21
    assert found.total == round(scored["num_samples"] * (1 - scored["accuracy"]))
    assert f"among {found.evaluated} PrivateTest faces" in grid


def test_an_imported_run_whose_config_no_longer_reads_still_shows_its_mistakes(member_client, imported):
    _, members = imported
    member = members[0]
    member.config = {**member.config, "epochs": 0, "retired_option": True}
    member.save(update_fields=["config"])
    grid = member_client.get(f"/runs/{member.pk}/mistakes/").content.decode()
    assert "no longer reads" not in grid and "PrivateTest faces" in grid


def test_the_shipped_files_photo_figures_show_on_its_recorded_run(member_client, imported, ensemble_file):
    ensemble, _ = imported
    save_photo_figures(ensemble_file, "twpfe", CONFUSION)  # beside the source, not the run's copy
    page = member_client.get(f"/runs/{ensemble.pk}/").content.decode()
    assert "Whole photo pipeline" in page and ">twpfe<" in page


def test_an_ensemble_trained_elsewhere_and_recorded_by_hand_shows_its_members_from_the_checkpoint(
        member_client, ensemble_file, ferlite_experiment):
    run = TrainingRun.objects.create(
        experiment=ferlite_experiment, status=TrainingRun.Status.SUCCEEDED, epochs=0,
        config={"name": "pair", "model": {"name": "ensemble", "options": {}}, "epochs": 0},
    )
    run.out_dir.mkdir(parents=True)
    shutil.copyfile(ensemble_file, run.out_dir / "best.pt")
    run.checkpoint = f"{run.out_dir_name}/best.pt"
    run.save()
    assert not run.worker.startswith(IMPORTED)
    page = member_client.get(f"/runs/{run.pk}/").content.decode()
    assert "An ensemble of 2 models" in page and MEMBERS[0][0] in page
    assert f"({parameters_words(member_parameters())} parameters)" in page
