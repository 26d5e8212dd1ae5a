"""`manage.py import_runs`: training done outside the web app (the recipes table, a `python -m ml train`
folder, the shipped ensemble) recorded as finished runs, shown on the leaderboard, run and compare pages."""
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from emotions.training.models import EpochMetric, TrainingRun
from ml.evaluate import evaluate_checkpoint
from ml.recipes import run_recipe
from ml.train import TrainConfig, fit

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
TINY = {
    "model": {"name": "ferlite", "options": {"width": 4, "dropout": 0.0}},
    "optimizer": {"name": "adamw", "lr": 3.0e-3},
    "batch_size": 32,
    "augment": {"normalize": True},
    "device": "cpu",
    "num_workers": 0,
}


def tiny_config(name: str, epochs: int = 2, **changes) -> TrainConfig:
    return TrainConfig.from_dict({"name": name, "epochs": epochs, "reported": "50% (claimed)", **TINY, **changes})


@pytest.fixture(scope="module")
def measured_recipes(tmp_path_factory, fer2013_tiny_store):
    """A recipes folder as `python -m ml recipes` leaves it, trained on real FER2013 faces, and a copy
    without checkpoints (as the results are committed)."""
    out = tmp_path_factory.mktemp("recipes")
    results = [run_recipe(tiny_config(name, epochs), fer2013_tiny_store, out, log=lambda _: None)
               for name, epochs in (("tiny_a", 2), ("tiny_b", 3))]
    (out / "results.json").write_text(json.dumps([asdict(result) for result in results]))
    committed = tmp_path_factory.mktemp("committed") / "recipes"
    shutil.copytree(out, committed, ignore=shutil.ignore_patterns("*.pt"))
    return out, committed


def kaggle_csv(store, path: Path) -> Path:
    usage = {"train": "Training", "public_test": "PublicTest", "private_test": "PrivateTest"}
    lines = ["emotion,pixels,Usage"]
    for split, name in usage.items():
        images, labels = store.split(split)
        lines += [f"{label},{' '.join(map(str, image.ravel()))},{name}" for image, label in zip(images, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def recorded(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("Recorded", "Already recorded"))]


def test_committed_results_are_recorded_with_curves_and_scores_and_can_be_viewed_not_deployed(
        measured_recipes, fer2013_tiny_dataset, client, viewer, capsys):
    _, committed = measured_recipes
    call_command("import_runs", str(committed))

    runs = {run.experiment.name: run for run in TrainingRun.objects.all()}
    assert set(runs) == {"tiny_a", "tiny_b"}
    a = runs["tiny_a"]
    result = json.loads((committed / "tiny_a" / "result.json").read_text())
    evaluation = json.loads((committed / "tiny_a" / "evaluation.json").read_text())
    assert a.status == TrainingRun.Status.SUCCEEDED and a.experiment.dataset == fer2013_tiny_dataset
    assert (a.epoch, a.epochs, a.best_epoch) == (2, 2, result["best_epoch"])
    assert a.private_test_metrics["accuracy"] == result["private_test_accuracy"]
    assert a.private_test_metrics["confusion_matrix"] == evaluation["private_test"]["confusion_matrix"]
    assert list(EpochMetric.objects.filter(run=runs["tiny_b"]).values_list("epoch", flat=True)) == [1, 2, 3]
    assert "imported" in a.worker and str(committed / "tiny_a") in a.worker
    out = capsys.readouterr().out
    assert len(recorded(out)) == 2 and "(no weights: view only)" in out

    # No weights came with it: viewable, not deployable.
    assert not a.checkpoint
    with pytest.raises(ValidationError, match="only a succeeded run with a checkpoint"):
        a.deploy()
    client.force_login(viewer)
    page = client.get(f"/runs/{a.pk}/").content.decode()
    assert "tiny_a" in page and "chart-" in page
    curves = client.get(f"/runs/{a.pk}/curves.json").content.decode()
    history = json.loads((committed / "tiny_a" / "history.json").read_text())
    assert all(json.dumps(row["val_loss"]) in curves for row in history)  # both epochs are drawn
    leaderboard = client.get("/experiments/").content.decode()
    assert "tiny_a" in leaderboard and "tiny_b" in leaderboard
    compare = client.get(f"/compare/?run={a.pk}&run={runs['tiny_b'].pk}")
    assert compare.status_code == 200

    # Recording the same results again finds them instead of adding a second copy.
    call_command("import_runs", str(committed))
    assert TrainingRun.objects.count() == 2
    assert capsys.readouterr().out.count("Already recorded") == 2


def test_a_recipe_with_its_weights_can_be_deployed(measured_recipes, fer2013_tiny_dataset):
    with_weights, _ = measured_recipes
    call_command("import_runs", str(with_weights / "tiny_a"))
    run = TrainingRun.objects.get()
    assert Path(run.checkpoint.path).read_bytes() == (with_weights / "tiny_a" / "best.pt").read_bytes()
    run.deploy()
    assert TrainingRun.objects.deployed() == run


def test_a_train_folder_is_recorded_with_its_curves_and_scores_computed_on_the_dataset(
        tmp_path, fer2013_tiny_store, fer2013_tiny_dataset):
    fit(tiny_config("tiny_train", epochs=2), fer2013_tiny_store, tmp_path / "run", log=None)
    call_command("import_runs", str(tmp_path / "run"))

    run = TrainingRun.objects.get()
    assert run.experiment.name == "tiny_train" and run.epoch == 2
    assert EpochMetric.objects.filter(run=run).count() == 2
    expected = evaluate_checkpoint(tmp_path / "run" / "best.pt", fer2013_tiny_dataset.load_store(), "private_test")
    assert run.private_test_metrics["accuracy"] == expected["accuracy"]
    assert run.private_test_metrics["confusion_matrix"] == expected["confusion_matrix"]
    run.deploy()


def test_the_shipped_ensemble_is_recorded_with_each_member(fer2013_tiny_dataset, settings, capsys):
    shipped = ROOT / "ml" / "weights" / "default.pt"
    call_command("import_runs", str(shipped))

    runs = list(TrainingRun.objects.order_by("pk"))
    payload = torch.load(shipped, weights_only=True)
    members = [member["config"]["name"] for member in payload["members"]]
    assert [run.experiment.name for run in runs] == [*members, payload["config"]["name"]]
    *member_runs, ensemble = runs
    assert all(run.epoch > 0 and run.epoch_metrics.count() == run.epoch and run.checkpoint for run in member_runs)
    assert ensemble.config["model"]["options"]["members"] == members and ensemble.epoch == 0
    prior = payload["model"]["options"].get("prior_correction")
    assert ensemble.config["model"]["options"]["prior_correction"] == (prior["exponent"] if prior else None)
    assert ("divided by the training class frequencies" in ensemble.config["description"]) == bool(prior)
    expected = evaluate_checkpoint(shipped, fer2013_tiny_dataset.load_store(), "private_test")
    assert ensemble.private_test_metrics["accuracy"] == expected["accuracy"]
    ensemble.deploy()  # its weights came with it


def test_import_fer2013_records_the_committed_results_and_the_shipped_model(
        measured_recipes, tmp_path, fer2013_tiny_store, settings, capsys):
    _, committed = measured_recipes
    settings.RESULTS_DIR = committed
    fit(tiny_config("tiny_shipped", epochs=1), fer2013_tiny_store, tmp_path / "shipped", log=None)
    settings.SHIPPED_MODEL_PATH = tmp_path / "shipped" / "best.pt"
    call_command("import_fer2013", str(kaggle_csv(fer2013_tiny_store, tmp_path / "fer2013.csv")), "--name", "fer")

    assert sorted(TrainingRun.objects.values_list("experiment__name", flat=True)) == ["tiny_a", "tiny_b", "tiny_shipped"]
    assert len(recorded(capsys.readouterr().out)) == 3


def test_bad_sources_are_named_and_record_nothing(tmp_path, measured_recipes, fer2013_tiny_dataset):
    _, committed = measured_recipes
    with pytest.raises(CommandError, match="nowhere: no such file or folder"):
        call_command("import_runs", str(committed), str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="empty: not a finished run"):
        call_command("import_runs", str(tmp_path / "empty"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CommandError, match="broken"):
        call_command("import_runs", str(tmp_path / "broken"))
    assert not TrainingRun.objects.exists()
    assert not list(Path(django_settings.MEDIA_ROOT).glob("runs/*"))


def test_without_a_dataset_it_says_to_import_one_first(db):
    with pytest.raises(CommandError, match="import_fer2013` first"):
        call_command("import_runs")
