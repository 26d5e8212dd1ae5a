"""A short CPU run on real FER2013 faces must learn: clearly better than always guessing the commonest class."""
import numpy as np
import pytest

from ml.evaluate import evaluate_checkpoint
from ml.train import TrainConfig, fit

pytestmark = pytest.mark.fer2013


def test_a_short_cpu_run_on_fer2013_learns(fer2013_store, tmp_path):
    config = TrainConfig.from_dict({
        "name": "smoke",
        "model": {"name": "ferlite", "options": {"width": 16}},
        "optimizer": {"name": "adamw", "lr": 2e-3, "weight_decay": 1e-4},
        "scheduler": {"name": "cosine"},
        "epochs": 3,
        "batch_size": 64,
        "limit": 5000,
        "augment": {"hflip": True},
        "num_workers": 0,
        "device": "cpu",
        "seed": 0,
    })
    result = fit(config, fer2013_store, tmp_path, log=print)

    metrics = evaluate_checkpoint(result.best_checkpoint, fer2013_store, "private_test", device="cpu")
    _, labels = fer2013_store.split("private_test")
    majority_rate = np.bincount(labels).max() / len(labels)
    assert metrics["num_samples"] == 3589
    assert metrics["accuracy"] > majority_rate + 0.08, (metrics["accuracy"], majority_rate)
    assert metrics["macro_f1"] > 0.2
    assert metrics["data_checksum_matches"]
