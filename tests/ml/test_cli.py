"""`python -m ml` end to end, as a person runs it: import, train, evaluate, and the errors they see."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_ml(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "ml", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def imported_store(synthetic_zip, tmp_path):
    store = tmp_path / "faces.npz"
    result = run_ml("import", synthetic_zip, "--out", store)
    assert result.returncode == 0, result.stderr
    return store


def test_import_train_and_evaluate_from_the_command_line(imported_store, tmp_path):
    run_dir = tmp_path / "run"
    trained = run_ml(
        "train", "--config", ROOT / "configs/seed002_cnn3.yaml", "--data", imported_store, "--out", run_dir,
        "--epochs", 2, "--num-workers", 0, "--device", "cpu",
    )
    assert trained.returncode == 0, trained.stderr
    progress = [line for line in trained.stdout.splitlines() if line.startswith("epoch")]
    assert len(progress) == 2 and "val loss" in progress[0] and "img/s" in progress[0]
    assert (run_dir / "best.pt").exists() and (run_dir / "last.pt").exists()

    evaluated = run_ml("evaluate", "--checkpoint", run_dir / "best.pt", "--data", imported_store,
                       "--split", "private_test", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "class_names"} <= metrics.keys()
    assert metrics["num_samples"] == 28
    assert sum(map(sum, metrics["confusion_matrix"])) == 28
    assert set(metrics["per_class"]["Happy"]) == {"precision", "recall", "f1", "support"}


def test_a_bad_config_key_is_named_without_a_traceback(imported_store, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  name: cnn3\noptimizer:\n  lr: -0.1\n")
    result = run_ml("train", "--config", config, "--data", imported_store, "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "optimizer.lr" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_store_is_a_clear_error(tmp_path):
    result = run_ml("evaluate", "--checkpoint", tmp_path / "none.pt", "--data", tmp_path / "none.npz")
    assert result.returncode == 2
    assert "none.npz" in result.stderr and "Traceback" not in result.stderr


def test_models_lists_every_registered_architecture():
    result = run_ml("models")
    assert result.returncode == 0, result.stderr
    for name in ("fer2013v1", "vgg16_transfer", "vgg_style", "resnet18_transfer", "cnn3", "resnet9"):
        assert name in result.stdout


def test_a_model_card_records_the_recipe_checksum_and_both_test_scores(imported_store, tmp_path):
    run_dir = tmp_path / "run"
    trained = run_ml("train", "--config", ROOT / "configs/ferlite_cpu.yaml", "--data", imported_store,
                     "--out", run_dir, "--epochs", 1, "--device", "cpu")
    assert trained.returncode == 0, trained.stderr
    card_path = tmp_path / "MODEL_CARD.md"
    made = run_ml("card", "--checkpoint", run_dir / "best.pt", "--data", imported_store, "--out", card_path,
                  "--made-with", "python -m ml train --config configs/ferlite_cpu.yaml")
    assert made.returncode == 0, made.stderr
    card = card_path.read_text()
    assert "`ferlite`" in card and "ferlite_cpu" in card
    assert "| public_test | FER2013 | 28 |" in card and "| private_test | FER2013 | 28 |" in card
    assert "python -m ml train --config configs/ferlite_cpu.yaml" in card
    assert "- **Teacher**: none: trained on the labels alone" in card
    assert re.search(r"- \*\*Speed\*\*: \d+\.\d\d ms per face at batch 1 \(median of 7 rounds of 200 predictions, "
                     r"the rounds' medians \d+\.\d\d-\d+\.\d\d ms; 2 CPU threads", card)
    private_test = json.loads(run_ml("evaluate", "--checkpoint", run_dir / "best.pt", "--data", imported_store,
                                 "--json").stdout)
    assert f"{private_test['accuracy']:.4f}" in card


def test_piping_into_head_ends_quietly():
    piped = subprocess.run(
        f"{sys.executable} -m ml models | head -1", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert piped.stdout.count("\n") == 1 and "params" in piped.stdout
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


def test_a_stopped_ensemble_fine_tune_goes_on_from_its_folder(imported_store, tmp_path):
    import torch

    from ml.classes import FER_CLASSES
    from ml.data import FerStore
    from ml.models import create_model
    from ml.train import TrainConfig
    from ml.train.checkpoint import checkpoint_payload, ensemble_payload, save_checkpoint
    from ml.train.finetune import fine_tune

    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = create_model("ferlite", num_classes=7, width=8)
        members.append(checkpoint_payload(model, name="ferlite", options={"width": 8}, class_names=FER_CLASSES))
    pair = save_checkpoint(ensemble_payload(members, config={"name": "pair"}), tmp_path / "pair.pt")
    config = TrainConfig.from_dict({"name": "short", "model": {"name": "ferlite", "options": {"width": 8}},
                                    "epochs": 2, "batch_size": 16, "num_workers": 0, "device": "cpu",
                                    "init_from": str(pair)})
    (tmp_path / "short.yaml").write_text(config.to_yaml())
    stopped = fine_tune(config, FerStore.load(imported_store), tmp_path / "first", log=None,
                        on_epoch=lambda result: result.epoch >= 3)  # cancelled in the second member
    assert stopped.checkpoint is None

    resumed = run_ml("train", "--config", tmp_path / "short.yaml", "--data", imported_store,
                     "--out", tmp_path / "second", "--resume", tmp_path / "first")
    assert resumed.returncode == 0, resumed.stderr
    assert "member 1 of 2: finished before, kept (2 epochs)" in resumed.stdout
    assert [line.split()[1] for line in resumed.stdout.splitlines() if line.startswith("epoch")] == ["2/2"]
    assert f"done: 2 members fine-tuned; ensemble {tmp_path / 'second' / 'best.pt'}" in resumed.stdout
