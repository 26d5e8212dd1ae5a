"""Experiments in the admin: created from a preset or an edited config, validated by ml's TrainConfig."""
import pytest

from emotions.models import Experiment
from emotions.training import configs

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/emotions/experiment/add/"


def form_data(dataset, **changes):
    return {
        "name": "my experiment", "description": "", "dataset": dataset.pk, "preset": "", "config": "",
        "runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0",
        "extra_datasets-TOTAL_FORMS": "0", "extra_datasets-INITIAL_FORMS": "0", **changes,
    }


def test_the_add_form_offers_every_preset(staff_client):
    response = staff_client.get(ADD_URL)
    assert response.status_code == 200
    for name in configs.preset_paths():
        assert f'value="{name}"' in response.content.decode()


def test_staff_create_an_experiment_from_a_preset(staff_client, staff, noise_dataset):
    response = staff_client.post(ADD_URL, form_data(noise_dataset, preset="seed002_cnn3"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    experiment = Experiment.objects.get()
    assert experiment.preset == "seed002_cnn3" and experiment.created_by == staff
    assert experiment.config == configs.load_preset("seed002_cnn3")


def test_staff_create_an_experiment_from_a_written_config_with_defaults_filled_in(staff_client, noise_dataset):
    text = "model:\n  name: cnn3\nepochs: 3\noptimizer:\n  lr: 0.01\n"
    response = staff_client.post(ADD_URL, form_data(noise_dataset, config=text))
    assert response.status_code == 302
    config = Experiment.objects.get().config
    assert config["epochs"] == 3 and config["optimizer"]["lr"] == 0.01
    assert config["batch_size"] == 64  # ml's default, spelt out


@pytest.mark.parametrize(
    "text, field",
    [
        ("optimizer:\n  lr: -1\n", "optimizer.lr"),
        ("model:\n  name: no_such_model\n", "model.name"),
        ("epochs: 0\n", "epochs"),
        ("augment:\n  hflip: maybe\n", "augment.hflip"),
        ("optimiser:\n  lr: 0.1\n", "optimiser"),
    ],
)
def test_an_invalid_config_is_a_form_error_naming_the_field(staff_client, noise_dataset, text, field):
    response = staff_client.post(ADD_URL, form_data(noise_dataset, config=text))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["config"]
    assert any(field in error for error in errors), errors
    assert not Experiment.objects.exists()


def test_a_config_that_is_not_yaml_says_where(staff_client, noise_dataset):
    response = staff_client.post(ADD_URL, form_data(noise_dataset, config="model: [cnn3\n"))
    errors = response.context["adminform"].form.errors["config"]
    assert "not valid YAML at line" in errors[0]
    assert not Experiment.objects.exists()


def test_a_config_is_needed(staff_client, noise_dataset):
    response = staff_client.post(ADD_URL, form_data(noise_dataset))
    assert "Choose a preset or write a config." in response.context["adminform"].form.errors["config"]


def test_editing_shows_the_config_and_keeps_edits(staff_client, experiment):
    url = f"/admin/emotions/experiment/{experiment.pk}/change/"
    response = staff_client.get(url)
    assert "batch_size: 32" in response.content.decode()
    text = configs.to_text({**experiment.config, "epochs": 7})
    response = staff_client.post(url, form_data(experiment.dataset, name=experiment.name, config=text))
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.config["epochs"] == 7


def test_choosing_another_preset_while_editing_loads_it(staff_client, experiment):
    url = f"/admin/emotions/experiment/{experiment.pk}/change/"
    unchanged_text = staff_client.get(url).context["adminform"].form.initial["config"]
    response = staff_client.post(url, form_data(
        experiment.dataset, name=experiment.name, preset="seed004_resnet9", config=unchanged_text,
    ))
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.config == configs.load_preset("seed004_resnet9")


def test_a_stored_config_that_no_longer_validates_is_a_form_error_not_a_crash(staff_client, experiment):
    experiment.config["optimizer"]["lr"] = -1  # e.g. ml tightened a rule since it was saved
    experiment.save()
    url = f"/admin/emotions/experiment/{experiment.pk}/change/"
    text = staff_client.get(url).context["adminform"].form.initial["config"]
    response = staff_client.post(url, form_data(experiment.dataset, name="renamed", config=text))
    assert response.status_code == 200
    assert any("optimizer.lr" in error for error in response.context["adminform"].form.errors["config"])
    experiment.refresh_from_db()
    assert experiment.name == "tiny cnn3"


def test_an_experiment_with_runs_cannot_be_deleted(staff_client, experiment):
    experiment.runs.create(status="succeeded")
    response = staff_client.post(f"/admin/emotions/experiment/{experiment.pk}/delete/", {"post": "yes"})
    assert "Cannot delete" in response.content.decode()
    assert Experiment.objects.filter(pk=experiment.pk).exists()
