"""Each `labels` mode learns from real FER2013 faces and their real FER+ votes; a store without votes still
trains and evaluates; a run can start from a member of the shipped ensemble."""
import dataclasses

import numpy as np
import pytest
import torch

from ml.evaluate import evaluate_checkpoint
from ml.models import create_model
from ml.train import TrainConfig, fit
from ml.train.checkpoint import CheckpointError, initial_checkpoint, load_checkpoint
from ml.train.dataset import target_tensor
from ml.train.losses import build_loss
from ml.train.targets import LABEL_MODES, training_targets
from ml.transforms import FerEvalPreset

pytestmark = pytest.mark.fer2013

SHIPPED = "ml/weights/default.pt"


def _config(**changes):
    return TrainConfig.from_dict({
        "name": "ferplus-smoke", "model": {"name": "ferlite", "options": {"width": 8}},
        "optimizer": {"name": "adamw", "lr": 3e-3}, "epochs": 1, "batch_size": 64, "limit": 300,
        "num_workers": 0, "device": "cpu", "seed": 0, **changes,
    })


@pytest.mark.parametrize("mode", LABEL_MODES)
def test_each_label_mode_moves_its_loss_on_real_faces_and_votes(fer2013_store, mode):
    store = fer2013_store.subsample(200, seed=1)
    images, labels = store.split("train")
    targets = training_targets(mode, labels, store.split_votes("train"), fer2013_weight=0.5)
    assert targets.rows.sum() == len(targets.targets) > 150
    if mode in ("ferplus_distribution", "mixed"):
        assert targets.targets.shape[1] == 7 and np.allclose(targets.targets.sum(axis=1), 1, atol=1e-5)

    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=7, width=8)
    transform = FerEvalPreset(model.preprocessing)
    batch = torch.stack([transform(face) for face in images[targets.rows]])
    target = target_tensor(targets.targets)
    criterion = build_loss(_config().loss, targets.class_indices, 7)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = criterion(model(batch), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], (mode, losses[0], losses[-1])


@pytest.mark.parametrize("mode", ["ferplus_distribution", "mixed"])
def test_a_ferplus_run_is_scored_on_both_label_sets_and_left_out_faces_are_logged(fer2013_store, tmp_path, mode):
    lines = []
    result = fit(_config(labels=mode), fer2013_store, tmp_path, log=lines.append)
    assert any("left out" in line for line in lines)
    epoch = result.history[0]
    assert 0 < epoch.val_ferplus_acc <= 1 and 0 < epoch.val_ferplus_macro_f1 <= 1
    checkpoint = load_checkpoint(result.best_checkpoint)
    assert checkpoint["config"]["labels"] == mode
    assert checkpoint["metrics"]["validation_ferplus"]["num_samples"] < checkpoint["metrics"]["validation"]["num_samples"]

    metrics = evaluate_checkpoint(result.best_checkpoint, fer2013_store.subsample(300, seed=0), "private_test", device="cpu")
    assert metrics["labels"] == "fer2013" and metrics["ferplus"]["labels"] == "ferplus_majority"
    assert metrics["ferplus"]["num_samples"] < metrics["num_samples"]


def test_a_store_without_votes_still_trains_and_evaluates(fer2013_store, tmp_path):
    no_votes = dataclasses.replace(fer2013_store, votes=None)
    result = fit(_config(), no_votes, tmp_path, log=None)
    assert result.history[0].val_ferplus_acc is None
    metrics = evaluate_checkpoint(result.best_checkpoint, no_votes.subsample(300, seed=0), "public_test", device="cpu")
    assert "ferplus" not in metrics and metrics["num_samples"] > 0
    with pytest.raises(ValueError, match="--ferplus"):
        fit(_config(labels="ferplus_distribution"), no_votes, tmp_path / "fp", log=None)


def test_fine_tuning_starts_from_a_member_of_the_shipped_ensemble(fer2013_store, tmp_path):
    member = initial_checkpoint(SHIPPED, 3)
    config = _config(labels="mixed", init_from=SHIPPED, init_member=3, optimizer={"name": "adamw", "lr": 1e-9})
    result = fit(config, fer2013_store, tmp_path, log=None)
    trained = load_checkpoint(result.best_checkpoint)
    # The member's architecture, and (at a learning rate of nearly zero) still its weights.
    assert trained["model"]["options"] == member["model"]["options"]
    assert trained["config"]["model"]["options"]["width"] == member["model"]["options"]["width"]
    key = next(k for k in member["state_dict"] if k.endswith("weight") and member["state_dict"][k].ndim == 4)
    torch.testing.assert_close(trained["state_dict"][key], member["state_dict"][key], atol=1e-6, rtol=0)
    with pytest.raises(CheckpointError, match="init_member"):
        initial_checkpoint(SHIPPED)
