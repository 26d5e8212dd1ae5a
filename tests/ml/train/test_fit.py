"""The training loop on a small synthetic store: what it writes, how it stops, how it resumes."""
import math

import pytest
import torch
import torch.nn as nn

from ml.evaluate import evaluate_checkpoint
from ml.train import NonFiniteLossError, TrainConfig, fit, load_checkpoint, load_model
from ml.train import loop


def tiny_config(**overrides) -> TrainConfig:
    base = {
        "name": "tiny",
        "model": {"name": "cnn3"},
        "optimizer": {"name": "adamw", "lr": 1e-3},
        "epochs": 2,
        "batch_size": 8,
        "num_workers": 0,
        "device": "cpu",
        "seed": 7,
        "deterministic": True,
        "augment": {"hflip": True},
    }
    base.update(overrides)
    return TrainConfig.from_dict(base)


def quiet(line):
    pass


def test_fit_writes_best_and_last_checkpoints_and_the_resolved_config(synthetic_store, tmp_path):
    epochs_seen = []
    result = fit(tiny_config(), synthetic_store, tmp_path, on_epoch=epochs_seen.append, log=quiet)

    assert result.stop_reason == "completed"
    assert result.epochs_run == 2
    assert [r.epoch for r in epochs_seen] == [1, 2]
    assert result.best_checkpoint == tmp_path / "best.pt" and result.best_checkpoint.exists()
    assert result.last_checkpoint == tmp_path / "last.pt" and result.last_checkpoint.exists()
    assert TrainConfig.from_yaml(tmp_path / "config.yaml") == tiny_config()
    for row in epochs_seen:
        assert row.images_per_second > 0 and row.seconds > 0 and row.lr == pytest.approx(1e-3)
        assert 0 <= row.val_macro_f1 <= 1 and math.isfinite(row.train_loss)
    best_row = max(epochs_seen, key=lambda r: r.val_macro_f1)
    assert result.best_epoch == best_row.epoch and best_row.is_best


def test_a_checkpoint_carries_what_rebuilds_its_model(synthetic_store, tmp_path):
    result = fit(tiny_config(epochs=1), synthetic_store, tmp_path, log=quiet)
    checkpoint = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["model"] == {"name": "cnn3", "options": {}, "num_classes": 7}
    assert checkpoint["class_names"] == list(synthetic_store.class_names)
    assert checkpoint["preprocessing"]["input_size"] == 48
    assert checkpoint["config"]["name"] == "tiny"
    assert checkpoint["data_checksum"] == "synthetic"
    assert checkpoint["metrics"]["validation"]["confusion_matrix"]
    model, _ = load_model(result.best_checkpoint)
    assert isinstance(model, nn.Module) and not model.training


def test_checkpoint_round_trip_gives_the_same_predictions(synthetic_store, tmp_path):
    result = fit(tiny_config(epochs=1), synthetic_store, tmp_path, log=quiet)
    first = evaluate_checkpoint(result.best_checkpoint, synthetic_store, "private_test", device="cpu")
    again = evaluate_checkpoint(result.best_checkpoint, synthetic_store, "private_test", device="cpu")
    assert first["confusion_matrix"] == again["confusion_matrix"]
    assert first["num_samples"] == 28


def test_the_same_seed_gives_the_same_metrics(synthetic_store, tmp_path):
    first = fit(tiny_config(), synthetic_store, tmp_path / "a", log=quiet)
    second = fit(tiny_config(), synthetic_store, tmp_path / "b", log=quiet)
    assert [r.val_loss for r in first.history] == [r.val_loss for r in second.history]
    assert [r.train_loss for r in first.history] == [r.train_loss for r in second.history]


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(synthetic_store, tmp_path):
    straight = fit(tiny_config(epochs=3), synthetic_store, tmp_path / "straight", log=quiet)

    stop_after_two = lambda result: result.epoch == 2
    first_part = fit(tiny_config(epochs=3), synthetic_store, tmp_path / "resumed", on_epoch=stop_after_two, log=quiet)
    assert first_part.epochs_run == 2
    resumed = fit(
        tiny_config(epochs=3), synthetic_store, tmp_path / "resumed", resume_from=first_part.last_checkpoint, log=quiet
    )
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    assert resumed.history[-1].val_loss == pytest.approx(straight.history[-1].val_loss, rel=1e-5)


def test_on_epoch_can_ask_the_run_to_stop(synthetic_store, tmp_path):
    result = fit(tiny_config(epochs=5), synthetic_store, tmp_path, on_epoch=lambda r: True, log=quiet)
    assert result.stop_reason == "cancelled"
    assert result.epochs_run == 1
    assert load_checkpoint(result.last_checkpoint)["epoch"] == 1


def test_should_stop_cancels_before_the_next_batch(synthetic_store, tmp_path):
    polls = []

    def stop_on_third_poll():
        polls.append(1)
        return len(polls) >= 3

    result = fit(tiny_config(epochs=5), synthetic_store, tmp_path, should_stop=stop_on_third_poll, log=quiet)
    assert result.stop_reason == "cancelled"
    assert len(polls) == 3  # nothing ran after the stop was asked for
    assert result.epochs_run == 0 and result.last_checkpoint is None


def test_early_stopping_ends_a_run_that_stopped_improving(synthetic_store, tmp_path, monkeypatch):
    def rising_loss(self, criterion, logits):
        rising_loss.calls += 1
        return float(rising_loss.calls)

    rising_loss.calls = 0
    monkeypatch.setattr(loop.ValidationLabels, "loss", rising_loss)
    result = fit(tiny_config(epochs=10, early_stopping_patience=2), synthetic_store, tmp_path, log=quiet)
    assert result.stop_reason == "early_stopping"
    assert result.epochs_run == 3


def test_a_nan_loss_stops_the_run_with_a_clear_error(synthetic_store, tmp_path, monkeypatch):
    class NanModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(48 * 48, 7)

        def forward(self, x):
            return self.linear(x.flatten(1)) * float("nan")

    real_create = loop.create_model

    def create_nan_model(name, **kwargs):
        model = NanModel()
        model.preprocessing = real_create(name, **kwargs).preprocessing
        return model

    monkeypatch.setattr(loop, "create_model", create_nan_model)
    with pytest.raises(NonFiniteLossError, match="epoch 1, batch 1"):
        fit(tiny_config(), synthetic_store, tmp_path, log=quiet)


def test_a_class_subset_trains_a_smaller_head(synthetic_store, tmp_path):
    result = fit(tiny_config(epochs=1, classes=["happy", "angry"]), synthetic_store, tmp_path, log=quiet)
    checkpoint = load_checkpoint(result.best_checkpoint)
    assert checkpoint["class_names"] == ["Happy", "Angry"]
    assert checkpoint["model"]["num_classes"] == 2
    metrics = evaluate_checkpoint(result.best_checkpoint, synthetic_store, "private_test", device="cpu")
    assert metrics["num_samples"] == 8 and metrics["class_names"] == ["Happy", "Angry"]


def test_the_weighted_sampler_balances_batches(synthetic_store):
    from ml.train.dataset import FerDataset

    images, labels = synthetic_store.split("train")
    keep = (labels != 0) | (torch.arange(len(labels)).numpy() % 8 == 0)  # make class 0 rare
    dataset = FerDataset(images[keep], labels[keep], transform=lambda image: torch.zeros(1))
    config = tiny_config(sampler="weighted", batch_size=len(dataset))
    drawn = torch.cat([next(iter(loop.make_train_loader(dataset, config, 7, epoch)))[1] for epoch in range(20)])
    share_of_rare = (drawn == 0).float().mean().item()
    assert (labels[keep] == 0).mean() < 0.03
    assert 0.10 < share_of_rare < 0.19  # about 1/7


def test_tensorboard_event_files_are_written_when_asked(synthetic_store, tmp_path):
    fit(tiny_config(epochs=1, tensorboard=True), synthetic_store, tmp_path, log=quiet)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_each_scheduler_runs_and_moves_the_learning_rate(synthetic_store, tmp_path):
    cosine = fit(tiny_config(epochs=2, scheduler={"name": "cosine"}), synthetic_store, tmp_path / "c", log=quiet)
    assert cosine.history[-1].lr < 1e-4  # decayed to ~0 by the end
    onecycle = fit(tiny_config(epochs=2, scheduler={"name": "onecycle"}), synthetic_store, tmp_path / "o", log=quiet)
    assert onecycle.history[0].lr > onecycle.history[-1].lr
    plateau = fit(tiny_config(epochs=2, scheduler={"name": "plateau"}), synthetic_store, tmp_path / "p", log=quiet)
    assert plateau.stop_reason == "completed"


def test_mixup_and_cutmix_train_and_checkpoint(synthetic_store, tmp_path):
    config = tiny_config(epochs=1, mix={"mixup_alpha": 0.2, "cutmix_alpha": 1.0})
    result = fit(config, synthetic_store, tmp_path, log=quiet)
    assert result.stop_reason == "completed"
    assert load_checkpoint(result.best_checkpoint)["config"]["mix"]["cutmix_alpha"] == 1.0


def test_with_an_ema_the_checkpoint_holds_the_averaged_weights(synthetic_store, tmp_path):
    result = fit(tiny_config(epochs=2, ema_decay=0.9), synthetic_store, tmp_path, log=quiet)
    last = load_checkpoint(result.last_checkpoint)
    averaged = last["state_dict"]["classifier.1.weight"]
    trained = last["train_state_dict"]["classifier.1.weight"]
    assert not torch.equal(averaged, trained)
    assert torch.equal(last["ema"]["module.classifier.1.weight"], averaged)
    # What the evaluation reads is the averaged model: it reproduces the logged validation score.
    metrics = evaluate_checkpoint(result.last_checkpoint, synthetic_store, "public_test", device="cpu")
    assert metrics["accuracy"] == pytest.approx(result.history[-1].val_acc)


def test_a_run_with_an_ema_resumes_where_an_uninterrupted_one_ends(synthetic_store, tmp_path):
    config = tiny_config(epochs=2, ema_decay=0.9)
    straight = fit(config, synthetic_store, tmp_path / "straight", log=quiet)
    first = fit(config, synthetic_store, tmp_path / "resumed", on_epoch=lambda r: r.epoch == 1, log=quiet)
    resumed = fit(config, synthetic_store, tmp_path / "resumed", resume_from=first.last_checkpoint, log=quiet)
    assert resumed.history[-1].val_loss == pytest.approx(straight.history[-1].val_loss, rel=1e-5)
