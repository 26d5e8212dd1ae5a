"""DeviceBatches and the `data_pipeline` switch: a split held on the device, served as one epoch per pass."""
import pytest
import torch

from ml.models import Preprocessing
from ml.train import ConfigError, TrainConfig, fit
from ml.train import loop
from ml.train.batch_augment import batch_eval_transform
from ml.train.device_data import DeviceBatches


def numbered_images(count: int) -> torch.Tensor:
    """Image i is filled with the value i, so a batch shows which indices it holds."""
    return torch.arange(count, dtype=torch.uint8).view(-1, 1, 1).expand(count, 48, 48).contiguous()


def untouched(images, generator):
    return images


def config(**overrides) -> TrainConfig:
    base = {"model": {"name": "cnn3"}, "batch_size": 8, "seed": 3, "device": "cpu", "num_workers": 0}
    return TrainConfig.from_dict({**base, **overrides})


def test_an_epoch_serves_every_image_once_with_its_own_label():
    batches = DeviceBatches(numbered_images(50), torch.arange(50), untouched, batch_size=8, device="cpu")
    served = [(images[:, 0, 0], labels) for images, labels in batches]
    assert len(served) == len(batches) == 7
    indices = torch.cat([labels for _, labels in served])
    assert sorted(indices.tolist()) == list(range(50))
    assert all(torch.equal(images.long(), labels) for images, labels in served)
    assert indices.tolist() != list(range(50))  # shuffled


def test_training_batches_drop_the_last_partial_batch_as_the_dataloader_path_does():
    images, labels = numbered_images(20), torch.arange(20) % 7
    batches = DeviceBatches.for_training(images, labels, config(), Preprocessing(48), "cpu")
    sizes = [len(labels) for _, labels in batches]
    assert sizes == [8, 8] and len(batches) == 2


def test_the_same_epoch_gives_the_same_batches_and_another_epoch_different_ones():
    images, labels = numbered_images(64), torch.arange(64) % 7
    recipe = config(augment={"hflip": True, "rotation": 10, "random_erasing": 0.5})

    def epoch_of(epoch: int) -> list[torch.Tensor]:
        batches = DeviceBatches.for_training(images, labels, recipe, Preprocessing(48), "cpu")
        batches.set_epoch(epoch)
        return [x for x, _ in batches]

    assert all(torch.equal(a, b) for a, b in zip(epoch_of(1), epoch_of(1)))
    assert not all(torch.equal(a, b) for a, b in zip(epoch_of(1), epoch_of(2)))


def test_the_weighted_sampler_draws_classes_evenly():
    labels = torch.cat([torch.full((count,), label) for label, count in enumerate([600, 60, 200, 40])])
    images = torch.zeros(len(labels), 48, 48, dtype=torch.uint8)
    batches = DeviceBatches(images, labels, untouched, batch_size=100, device="cpu", order="weighted")
    drawn = torch.cat([labels for _, labels in batches])
    assert len(drawn) == len(labels)
    shares = torch.bincount(drawn, minlength=4) / len(drawn)
    assert torch.allclose(shares, torch.full((4,), 0.25), atol=0.05)


def test_a_weighted_recipe_uses_the_weighted_order():
    images, labels = numbered_images(20), torch.arange(20) % 7
    batches = DeviceBatches.for_training(images, labels, config(sampler="weighted"), Preprocessing(48), "cpu")
    assert batches.order == "weighted"


def test_evaluation_batches_keep_the_order_and_only_resize_and_normalise():
    images, labels, preprocessing = numbered_images(30) * 8, torch.arange(30) % 7, Preprocessing(64)
    batches = DeviceBatches.for_evaluation(images, labels, preprocessing, batch_size=16, device="cpu")
    served = list(batches)
    assert [len(y) for _, y in served] == [16, 14]
    assert torch.equal(torch.cat([x for x, _ in served]), batch_eval_transform(images, preprocessing))
    assert torch.equal(torch.cat([y for _, y in served]), labels)


def test_auto_picks_the_device_pipeline_on_cuda_only():
    assert not loop.uses_device_pipeline(config(), torch.device("cpu"))
    assert loop.uses_device_pipeline(config(), torch.device("cuda"))
    assert loop.uses_device_pipeline(config(data_pipeline="device"), torch.device("cpu"))
    assert not loop.uses_device_pipeline(config(data_pipeline="dataloader"), torch.device("cuda"))


def test_an_unknown_pipeline_is_named():
    with pytest.raises(ConfigError) as error:
        config(data_pipeline="gpu")
    assert error.value.key == "data_pipeline"


def test_fit_trains_through_the_device_pipeline_on_cpu(synthetic_store, tmp_path, monkeypatch):
    def no_dataloader(*args, **kwargs):
        raise AssertionError("the device pipeline must not build a DataLoader")

    monkeypatch.setattr(loop, "make_train_loader", no_dataloader)
    monkeypatch.setattr(loop, "DataLoader", no_dataloader)
    recipe = config(
        epochs=1, data_pipeline="device", sampler="weighted",
        augment={"hflip": True, "rotation": 10, "crop_padding": 4, "random_erasing": 0.5},
    )
    result = fit(recipe, synthetic_store, tmp_path, log=None)
    assert result.stop_reason == "completed" and result.epochs_run == 1
    assert result.best_checkpoint.exists() and result.last_checkpoint.exists()
    assert all(row.images_per_second > 0 for row in result.history)
    assert TrainConfig.from_yaml(tmp_path / "config.yaml").data_pipeline == "device"
