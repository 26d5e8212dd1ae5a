"""The recipes table: train several recipes, evaluate each on PrivateTest once, resume across time-limited jobs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ml.evaluate import evaluate_checkpoint
from ml.recipes import RecipeResult, from_scratch_note, results_table, run_recipe
from ml.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "model": {"name": "ferlite", "options": {"width": 4, "dropout": 0.0}},
    "optimizer": {"name": "adamw", "lr": 3.0e-3},
    "batch_size": 16,
    "augment": {"normalize": True},
    "device": "cpu",
    "num_workers": 0,
}


def tiny_recipe(tmp_path: Path, name: str, **changes) -> Path:
    import yaml

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **TINY, **changes}))
    return path


def test_the_command_trains_each_recipe_evaluates_it_once_and_publishes_the_table(tmp_path, synthetic_store):
    imported_store = synthetic_store.save(tmp_path / "faces.npz")
    first = tiny_recipe(tmp_path, "tiny_a", epochs=2, reported="50% test accuracy")
    second = tiny_recipe(tmp_path, "tiny_b", epochs=1, classes=["Angry", "Happy", "Sad", "Neutral"])
    out = tmp_path / "recipes"
    command = [sys.executable, "-m", "ml", "recipes", first, second, "--data", imported_store, "--out", out]

    ran = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)

    assert ran.returncode == 0, ran.stderr
    results = json.loads((out / "results.json").read_text())
    assert [row["recipe"] for row in results] == ["tiny_a", "tiny_b"]
    a, b = results
    assert (a["epochs_run"], a["classes"], b["classes"]) == (2, 7, 4)
    assert a["reported"] == "50% test accuracy" and a["train_seconds"] > 0 and a["device"].startswith("cpu")
    # The published figure is the best checkpoint's PrivateTest score, as `ml evaluate` computes it.
    private = evaluate_checkpoint(out / "tiny_a" / "best.pt", synthetic_store, "private_test")
    assert a["private_test_accuracy"] == private["accuracy"]
    assert a["private_test_macro_f1"] == private["macro_f1"]
    # Beside it, what the web app shows without the checkpoint: the curves and both test splits in full.
    evaluation = json.loads((out / "tiny_a" / "evaluation.json").read_text())
    assert evaluation["private_test"]["confusion_matrix"] == private["confusion_matrix"]
    assert evaluation["public_test"]["accuracy"] == a["public_test_accuracy"]
    assert set(evaluation["private_test"]["per_class"]) == set(synthetic_store.class_names)
    history = json.loads((out / "tiny_a" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and sum(row["is_best"] for row in history) >= 1
    table = (out / "results.md").read_text()
    assert table in ran.stdout
    assert "| `tiny_a` | fer2013 | 50% test accuracy |" in table and "`tiny_b` (4 classes)" in table

    # Run again: both are already measured, nothing retrains and the table is the same.
    best_written = (out / "tiny_a" / "best.pt").stat().st_mtime_ns
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already measured") == 2
    assert (out / "tiny_a" / "best.pt").stat().st_mtime_ns == best_written
    assert (out / "results.md").read_text() == table


def test_an_interrupted_recipe_resumes_where_it_stopped_and_counts_only_training_time(tmp_path, synthetic_store):
    config = TrainConfig.from_yaml(tiny_recipe(tmp_path, "tiny", epochs=2))
    batches_per_epoch = -(-len(synthetic_store.split("train")[1]) // config.batch_size)
    calls = []

    def stop_in_second_epoch():
        calls.append(1)
        return len(calls) > batches_per_epoch

    stopped = run_recipe(config, synthetic_store, tmp_path / "out", should_stop=stop_in_second_epoch, log=lambda _: None)
    assert stopped is None
    assert not (tmp_path / "out" / "tiny" / "result.json").exists()

    lines = []
    result = run_recipe(config, synthetic_store, tmp_path / "out", log=lines.append)
    assert any("resuming" in line and "epoch 2" in line for line in lines)
    assert result.epochs_run == 2
    history = _history(tmp_path / "out" / "tiny" / "last.pt")
    assert [row["epoch"] for row in history] == [1, 2]
    assert result.train_seconds == round(sum(row["seconds"] for row in history), 1)
    assert RecipeResult.load(tmp_path / "out" / "tiny" / "result.json") == result


def test_an_interrupted_fine_tuning_recipe_resumes_on_the_model_it_started_from(tmp_path, synthetic_store):
    import torch

    from ml.classes import FER_CLASSES
    from ml.models import create_model
    from ml.train.checkpoint import checkpoint_payload, save_checkpoint

    torch.manual_seed(0)
    wider = create_model("ferlite", num_classes=7, width=8)  # the recipe's own model says width 4
    start = save_checkpoint(checkpoint_payload(wider, name="ferlite", options={"width": 8}, class_names=FER_CLASSES),
                            tmp_path / "start.pt")
    config = TrainConfig.from_yaml(tiny_recipe(tmp_path, "tuned", epochs=2, init_from=str(start)))
    batches_per_epoch = -(-len(synthetic_store.split("train")[1]) // config.batch_size)
    calls = []
    assert run_recipe(config, synthetic_store, tmp_path / "out", log=lambda _: None,
                      should_stop=lambda: calls.append(1) or len(calls) > batches_per_epoch) is None

    result = run_recipe(config, synthetic_store, tmp_path / "out", log=lambda _: None)
    assert result.epochs_run == 2
    assert _checkpoint(tmp_path / "out" / "tuned" / "best.pt")["model"]["options"] == {"width": 8}


def _checkpoint(path: Path) -> dict:
    from ml.train import load_checkpoint

    return load_checkpoint(path)


def _history(checkpoint: Path) -> list[dict]:
    from ml.train import load_checkpoint

    return load_checkpoint(checkpoint)["history"]


def test_a_folder_trained_with_other_settings_is_refused_and_kept(tmp_path, synthetic_store):
    path = tiny_recipe(tmp_path, "tiny", epochs=1)
    run_recipe(TrainConfig.from_yaml(path), synthetic_store, tmp_path / "out", log=lambda _: None)
    measured = (tmp_path / "out" / "tiny" / "result.json").read_text()
    longer = TrainConfig.from_yaml(path).replace(epochs=3)
    with pytest.raises(ValueError, match=r"epochs differ.*another --out"):
        run_recipe(longer, synthetic_store, tmp_path / "out", log=lambda _: None)
    assert (tmp_path / "out" / "tiny" / "result.json").read_text() == measured


def test_transfer_recipes_without_imagenet_weights_are_marked_as_from_scratch(tmp_path):
    transfer = TrainConfig.from_yaml(ROOT / "configs/seed000_vgg16_transfer.yaml")
    assert from_scratch_note(transfer) == "from scratch, no ImageNet weights"
    with_weights = transfer.replace(model={"name": "vgg16_transfer", "options": {"pretrained_weights": "/w.pth"}})
    assert from_scratch_note(with_weights) == ""
    assert from_scratch_note(TrainConfig.from_yaml(ROOT / "configs/seed002_cnn3.yaml")) == ""


def test_every_seed_recipe_says_what_its_write_up_reported():
    for path in sorted((ROOT / "configs").glob("seed*.yaml")):
        assert TrainConfig.from_yaml(path).reported, f"{path.name} has no `reported` figure"


def test_the_table_names_device_time_and_notes():
    row = RecipeResult(
        recipe="seed003_resnet18_4class", reported="not comparable", model="resnet18_transfer",
        from_scratch_note="from scratch, no ImageNet weights", classes=4, epochs_run=100, best_epoch=61,
        train_seconds=4321.0, device="cuda (NVIDIA H100)", private_test_accuracy=0.81234,
        private_test_macro_f1=0.8019, public_test_accuracy=0.8, tta_hflip=True, limit=None, config={},
    )
    table = results_table([row]).splitlines()
    assert table[0].startswith("| recipe | labels learned | write-up reported | PrivateTest accuracy | PrivateTest macro-F1 |")
    assert table[2] == (
        "| `seed003_resnet18_4class` (from scratch, no ImageNet weights; 4 classes; flip TTA) | fer2013 | not comparable "
        "| 81.2% | 0.802 | — | 100 (61) | 72.0 min | cuda (NVIDIA H100) |"
    )


def test_publishing_copies_finished_recipes_without_large_checkpoints_and_keeps_earlier_ones(
        tmp_path, synthetic_store, monkeypatch):
    import ml.recipes

    trained = tmp_path / "var"
    for name in ("tiny_b", "tiny_a"):
        run_recipe(TrainConfig.from_yaml(tiny_recipe(tmp_path, name, epochs=1)), synthetic_store, trained,
                   log=lambda _: None)
    (trained / "half_done").mkdir()
    (trained / "half_done" / "last.pt").write_bytes(b"not finished")
    target = tmp_path / "results"
    ran = subprocess.run([sys.executable, "-m", "ml", "publish-recipes", trained, target], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert sorted(path.name for path in target.iterdir()) == ["results.json", "results.md", "tiny_a", "tiny_b"]
    published = target / "tiny_a"
    assert sorted(path.name for path in published.iterdir()) == [
        "best.pt", "config.yaml", "evaluation.json", "history.json", "result.json"]  # a tiny model is small
    assert (published / "evaluation.json").read_bytes() == (trained / "tiny_a" / "evaluation.json").read_bytes()
    assert [row["recipe"] for row in json.loads((target / "results.json").read_text())] == ["tiny_a", "tiny_b"]
    assert (target / "results.md").read_text().strip() in ran.stdout

    # A later session publishes another recipe from elsewhere: the earlier ones stay in the table, and a
    # checkpoint over the limit is left out.
    elsewhere = tmp_path / "elsewhere"
    run_recipe(TrainConfig.from_yaml(tiny_recipe(tmp_path, "tiny_c", epochs=1)), synthetic_store, elsewhere,
               log=lambda _: None)
    monkeypatch.setattr(ml.recipes, "PUBLISHED_CHECKPOINT_MAX_BYTES", 1000)
    ml.recipes.publish_results(elsewhere, target, log=lambda _: None)
    assert not (target / "tiny_c" / "best.pt").exists() and (target / "tiny_c" / "result.json").exists()
    assert [row["recipe"] for row in json.loads((target / "results.json").read_text())] == [
        "tiny_a", "tiny_b", "tiny_c"]


def test_publishing_a_folder_with_nothing_finished_names_it(tmp_path):
    ran = subprocess.run([sys.executable, "-m", "ml", "publish-recipes", tmp_path / "empty", tmp_path / "out"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2
    assert "empty: no finished recipe" in ran.stderr and "Traceback" not in ran.stderr
    assert not (tmp_path / "out").exists()
