from pathlib import Path

import pytest

from ml.train import ConfigError, TrainConfig

CONFIGS = sorted(Path(__file__).resolve().parents[3].joinpath("configs").glob("*.yaml"))


def test_there_is_a_recipe_for_every_seed_write_up():
    names = {path.stem for path in CONFIGS}
    for seed in ("seed000", "seed001", "seed002", "seed003", "seed004"):
        assert any(name.startswith(seed) for name in names), seed


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_recipe_loads_and_survives_a_round_trip(path):
    config = TrainConfig.from_yaml(path)
    assert config.name == path.stem
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_the_seed002_recipe_is_faithful_to_its_write_up():
    config = TrainConfig.from_yaml(Path(__file__).resolve().parents[3] / "configs/seed002_cnn3.yaml")
    assert config.model.name == "cnn3"
    assert (config.optimizer.name, config.optimizer.lr, config.optimizer.weight_decay) == ("adamw", 1e-3, 1e-4)
    assert (config.scheduler.name, config.scheduler.patience) == ("plateau", 3)
    assert (config.batch_size, config.early_stopping_patience) == (64, 7)
    assert config.augment.hflip and config.augment.rotation == 10
    assert config.augment.random_resized_crop == (0.9, 1.0)


def test_seed003_trains_on_four_classes_by_name():
    config = TrainConfig.from_yaml(Path(__file__).resolve().parents[3] / "configs/seed003_resnet18_4class.yaml")
    assert config.classes == ["angry", "happy", "sad", "neutral"]


def test_an_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"epochz": 3})
    assert error.value.key == "epochz"
    assert "unknown key" in str(error.value)


def test_an_unknown_nested_key_is_named_with_its_path():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"optimizer": {"lrr": 0.1}})
    assert error.value.key == "optimizer.lrr"


def test_a_value_of_the_wrong_type_is_named():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"epochs": "ten"})
    assert error.value.key == "epochs"
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"augment": {"hflip": "yes"}})
    assert error.value.key == "augment.hflip"


def test_an_out_of_range_value_is_named():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"optimizer": {"lr": -1}})
    assert error.value.key == "optimizer.lr"
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"loss": {"label_smoothing": 1.5}})
    assert error.value.key == "loss.label_smoothing"


def test_a_choice_outside_the_list_is_named_with_the_choices():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"scheduler": {"name": "step"}})
    assert error.value.key == "scheduler.name"
    assert "plateau" in str(error.value)


def test_an_unknown_model_and_model_option_are_named():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"model": {"name": "alexnet"}})
    assert error.value.key == "model.name"
    assert "cnn3" in str(error.value)
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"model": {"name": "cnn3", "options": {"width": 2}}})
    assert error.value.key == "model.options.width"


def test_an_unknown_class_is_named():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"classes": ["angry", "bored"]})
    assert error.value.key == "classes"
    assert "bored" in str(error.value)


def test_yaml_scientific_notation_without_a_dot_is_read_as_a_number(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("optimizer:\n  lr: 1e-3\n")  # PyYAML reads this as the string '1e-3'
    assert TrainConfig.from_yaml(path).optimizer.lr == 1e-3


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_yaml(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_yaml(broken)


def test_replace_validates_the_changed_value():
    config = TrainConfig.from_dict({"epochs": 5})
    assert config.replace(epochs=2).epochs == 2
    with pytest.raises(ConfigError):
        config.replace(epochs=0)
