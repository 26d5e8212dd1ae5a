"""Fine-tuning on the user's own faces: several data sets drawn by weight, a single model or the shipped
ensemble as the start, a few steps on real FER2013 faces."""
import dataclasses

import numpy as np
import pytest
import torch

from ml.train import TrainConfig, fit
from ml.classes import FER_CLASSES
from ml.models import create_model
from ml.train.checkpoint import checkpoint_payload, ensemble_payload, load_checkpoint, save_checkpoint
from ml.train.finetune import fine_tune, resumable_members
from ml.train.loop import training_data

pytestmark = pytest.mark.fer2013

SHIPPED = "ml/weights/default.pt"


def _config(**changes):
    return TrainConfig.from_dict({
        "name": "finetune-smoke", "model": {"name": "ferlite", "options": {"width": 8}},
        "optimizer": {"name": "adamw", "lr": 5e-4}, "epochs": 1, "batch_size": 32,
        "num_workers": 0, "device": "cpu", "seed": 0, **changes,
    })


@pytest.fixture(scope="module")
def two_stores(fer2013_store):
    """Real faces: a big "FER2013" and a small "user" store whose faces are all labelled Happy."""
    big = fer2013_store.subsample(400, seed=1)
    small = fer2013_store.subsample(60, seed=2)
    small = dataclasses.replace(small, labels=np.full(len(small), 3), votes=None, source_checksum="user-faces")
    return small, big


def test_each_data_set_is_drawn_by_its_weight_whatever_its_size(two_stores):
    small, big = two_stores
    data = training_data(_config(data_weights=[3, 1], samples_per_epoch=4000), [small, big], log=lambda line: None)
    n_small = int((small.splits == 0).sum())
    weights = data.sample_weights
    assert len(weights) == n_small + int((big.splits == 0).sum())
    drawn = torch.multinomial(torch.as_tensor(weights), 4000, replacement=True, generator=torch.Generator().manual_seed(0))
    share_small = (drawn < n_small).float().mean().item()
    assert share_small == pytest.approx(0.75, abs=0.03)
    even = training_data(_config(), [small, big], log=lambda line: None)
    assert even.sample_weights is None  # unweighted: every face once per epoch


def test_a_ferplus_recipe_keeps_the_users_one_hot_labels(two_stores):
    small, big = two_stores
    lines = []
    data = training_data(_config(labels="ferplus_distribution"), [small, big], log=lines.append)
    n_small = int((small.splits == 0).sum())
    assert data.targets.targets.ndim == 2
    assert (data.targets.targets[:n_small].argmax(axis=1) == 3).all()
    assert np.allclose(data.targets.targets[:n_small].max(axis=1), 1.0)
    assert any("left out" in line for line in lines)  # only FER2013 faces without a FER+ reading


def test_the_raters_majority_over_two_stores_stays_one_class_per_face(two_stores):
    small, big = two_stores
    data = training_data(_config(labels="ferplus_majority"), [small, big], log=lambda line: None)
    assert data.targets.targets.ndim == 1  # what a focal or class-weighted loss needs
    n_small = int((small.splits == 0).sum())
    assert (data.targets.targets[:n_small] == 3).all()


def test_ferplus_labels_with_no_votes_in_any_store_are_refused(two_stores):
    small, big = two_stores
    without_votes = dataclasses.replace(big, votes=None)
    with pytest.raises(ValueError, match="needs FER\\+ votes in at least one of the data sets"):
        training_data(_config(labels="mixed"), [small, without_votes], log=lambda line: None)
    with pytest.raises(ValueError, match="needs FER\\+ votes in the store"):
        training_data(_config(labels="ferplus_distribution"), [without_votes], log=lambda line: None)


def test_a_mixed_recipe_validates_on_the_users_own_labels_when_their_store_comes_first(two_stores, tmp_path):
    small, big = two_stores
    config = _config(labels="mixed", mixed_fer2013_weight=0.5, data_weights=[3, 1], samples_per_epoch=128)
    result = fit(config, [small, big], tmp_path, log=None)
    first = result.history[0]
    assert first.val_ferplus_acc is None  # the user's faces have no raters
    assert np.isfinite(first.val_loss)  # scored against their one-hot labels
    assert first.selection_score == pytest.approx(first.val_macro_f1)
    assert result.best_checkpoint is not None


def test_a_single_member_of_the_shipped_ensemble_is_fine_tuned_on_two_stores(two_stores, tmp_path):
    small, big = two_stores
    config = _config(init_from=SHIPPED, init_member=0, data_weights=[3, 1], samples_per_epoch=256)
    result = fit(config, [small, big], tmp_path, log=None)
    checkpoint = load_checkpoint(result.best_checkpoint)
    assert checkpoint["data_checksums"] == ["user-faces", big.source_checksum]
    assert result.history[0].epoch == 1
    assert checkpoint["model"]["options"] == load_checkpoint(SHIPPED)["members"][0]["model"]["options"]


def test_the_shipped_ensemble_is_fine_tuned_member_by_member_and_rebuilt_for_int8(two_stores, tmp_path):
    small, big = two_stores
    config = _config(init_from=SHIPPED, data_weights=[3, 1], samples_per_epoch=128,
                     optimizer={"name": "adamw", "lr": 3e-3})
    lines = []
    tuned = fine_tune(config, [small, big], tmp_path, log=lines.append)
    shipped = load_checkpoint(SHIPPED)
    rebuilt = load_checkpoint(tuned.checkpoint)
    assert len(tuned.members) == len(shipped["members"]) == len(rebuilt["members"])
    # The prior correction keeps its exponent and divides by what the members learned now: three draws in
    # four are the user's faces, all Happy.
    shipped_prior, rebuilt_prior = (one["model"]["options"]["prior_correction"] for one in (shipped, rebuilt))
    assert rebuilt_prior["exponent"] == shipped_prior["exponent"] and rebuilt_prior["labels"] == "fine_tuning"
    assert "prior_from" not in rebuilt["config"]  # the shipped one's came from the FER+ votes
    assert rebuilt["config"]["members"] == [f"{name} + finetune-smoke" for name in shipped["config"]["members"]]
    assert rebuilt_prior["train_prior"][3] == pytest.approx(0.75 + 0.25 * shipped_prior["train_prior"][3], abs=0.05)
    assert sum(rebuilt_prior["train_prior"]) == pytest.approx(1.0)
    assert "int8_calibration" in rebuilt
    for index, member in enumerate(rebuilt["members"]):
        assert member["config"]["init_member"] == index
        before, after = shipped["members"][index]["state_dict"], member["state_dict"]
        key = next(k for k in before if k.endswith("weight") and before[k].ndim == 4)
        assert not torch.equal(before[key], after[key])  # every member learned something
    # The rebuilt ensemble serves as the shipped one does: int8, from the same loader.
    from ml.inference import EmotionPredictor

    predictor = EmotionPredictor.from_checkpoint(tuned.checkpoint)
    assert predictor.precision == "int8"
    faces, _ = small.split("private_test")
    assert predictor.predict_faces(faces[:4]).shape == (4, 7)


@pytest.fixture
def tiny_ensemble(tmp_path):
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = create_model("ferlite", num_classes=7, width=8)
        members.append(checkpoint_payload(model, name="ferlite", options={"width": 8}, class_names=FER_CLASSES))
    return save_checkpoint(ensemble_payload(members, config={"name": "tiny pair"}), tmp_path / "pair.pt")


def test_an_ensembles_epochs_are_numbered_on_across_its_members(two_stores, tiny_ensemble, tmp_path):
    small, big = two_stores
    config = _config(init_from=str(tiny_ensemble), epochs=2, data_weights=[3, 1], samples_per_epoch=64)
    seen = []
    tuned = fine_tune(config, [small, big], tmp_path / "run", log=None,
                      on_epoch=lambda result: seen.append((result.epoch, result.epochs, result.is_best)))
    assert [(epoch, epochs) for epoch, epochs, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert tuned.epochs_run == 4 and tuned.stop_reason == "completed"
    assert tuned.best_epoch == max(epoch for epoch, _, is_best in seen if is_best)  # the last member's best
    assert tuned.best_epoch in (3, 4)


def test_stopping_an_ensembles_fine_tune_leaves_no_rebuilt_model(two_stores, tiny_ensemble, tmp_path):
    small, big = two_stores
    config = _config(init_from=str(tiny_ensemble), epochs=2, samples_per_epoch=64)
    tuned = fine_tune(config, [small, big], tmp_path / "run", log=None, on_epoch=lambda result: result.epoch >= 3)
    assert tuned.stop_reason == "cancelled" and tuned.checkpoint is None
    assert tuned.epochs_run == 3  # the first member's two, the second's first
    assert not (tmp_path / "run" / "best.pt").exists()


def test_a_stopped_ensemble_fine_tune_resumes_member_by_member(two_stores, tiny_ensemble, tmp_path):
    small, big = two_stores
    config = _config(init_from=str(tiny_ensemble), epochs=2, samples_per_epoch=64)
    stopped = fine_tune(config, [small, big], tmp_path / "first", log=None, on_epoch=lambda result: result.epoch >= 3)
    assert stopped.stop_reason == "cancelled" and resumable_members(tmp_path / "first")
    assert not resumable_members(tmp_path / "elsewhere")

    seen, lines = [], []
    resumed = fine_tune(config, [small, big], tmp_path / "second", log=lines.append, resume_dir=tmp_path / "first",
                        on_epoch=lambda result: seen.append((result.epoch, result.epochs)))
    assert seen == [(4, 4)]  # the first member is kept, the second goes on from its first epoch
    assert "member 1 of 2: finished before, kept (2 epochs)" in lines
    assert f"member 2 of 2, resumed from {tmp_path / 'first' / 'member1' / 'last.pt'}" in lines
    assert resumed.stop_reason == "completed" and resumed.epochs_run == 4
    rebuilt = load_checkpoint(resumed.checkpoint)
    kept = load_checkpoint(tmp_path / "first" / "member0" / "best.pt")
    assert all(torch.equal(kept["state_dict"][key], value) for key, value in rebuilt["members"][0]["state_dict"].items())
    assert (tmp_path / "second" / "member0" / "best.pt").is_file()  # the resumed folder stands on its own
    # A resume of the resume has nothing left to train.
    again = fine_tune(config, [small, big], tmp_path / "third", log=None, resume_dir=tmp_path / "second",
                      on_epoch=lambda result: seen.append(result.epoch))
    assert again.checkpoint is not None and seen == [(4, 4)]


def test_a_fine_tune_resumes_with_the_architecture_it_started_from(two_stores, tmp_path):
    small, big = two_stores
    torch.manual_seed(0)
    narrow = create_model("ferlite", num_classes=7, width=4)  # the recipe below says width 8
    start = save_checkpoint(checkpoint_payload(narrow, name="ferlite", options={"width": 4}, class_names=FER_CLASSES),
                            tmp_path / "narrow.pt")
    config = _config(init_from=str(start), samples_per_epoch=64)
    first = fit(config, [small, big], tmp_path / "run", log=None)
    resumed = fit(config.replace(epochs=2), [small, big], tmp_path / "run", resume_from=first.last_checkpoint, log=None)
    assert [row.epoch for row in resumed.history] == [1, 2]  # the first epoch carried over, the second trained
    assert load_checkpoint(resumed.last_checkpoint)["model"]["options"] == {"width": 4}
