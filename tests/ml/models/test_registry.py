"""The registry: names, options, preprocessing and parameter groups, as the trainer and the admin use them."""
import pytest
import torch
from torch import nn

from ml.models import (
    Preprocessing,
    count_parameters,
    create_model,
    get_model_info,
    list_models,
    model_preprocessing,
    parameter_groups,
    register_model,
)
from ml.models import registry

SEED_MODELS = {"fer2013v1", "vgg_style", "cnn3", "resnet9", "vgg16_transfer", "resnet18_transfer"}


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so test registrations vanish afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_it_lists_the_seed_models_sorted():
    names = list_models()
    assert names == sorted(names)
    assert SEED_MODELS <= set(names)


def test_it_rejects_an_unknown_model_and_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown model 'nope'; choose from: .*cnn3.*fer2013v1"):
        create_model("nope")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        get_model_info("nope")


def test_it_rejects_an_unknown_option_by_name_and_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'cnn3' has no option 'dropuot'; valid options: dropout, dropout2d"):
        create_model("cnn3", dropuot=0.1)
    with pytest.raises(ValueError, match="no option 'input_size'"):
        model_preprocessing("fer2013v1", input_size=96)


def test_it_passes_options_and_num_classes_to_the_builder():
    model = create_model("cnn3", num_classes=4, dropout=0.1, dropout2d=0.0)
    assert model.classifier[3].p == 0.1
    assert model.features[-1].p == 0.0
    assert model.classifier[-1].out_features == 4


def test_it_reads_option_defaults_and_source_from_the_registration():
    info = get_model_info("vgg_style")
    assert info.name == "vgg_style"
    assert info.source == "seed 001"
    assert info.defaults == {"dropout": 0.3, "classifier_dropout": 0.5}
    assert info.description
    resnet18 = get_model_info("resnet18_transfer")
    assert resnet18.defaults == {"dropout": 0.5, "input_size": 64, "pretrained_weights": None}


def test_every_model_has_a_description_source_and_preprocessing():
    for name in list_models():
        info = get_model_info(name)
        assert info.description and (info.source.startswith("seed") or info.source == "ours")
        assert isinstance(info.preprocessing, Preprocessing)


def test_from_scratch_models_expect_48px_centred_pixels():
    for name in ("fer2013v1", "vgg_style", "cnn3", "resnet9"):
        assert model_preprocessing(name) == Preprocessing(input_size=48, mean=(0.5,), std=(0.5,))


def test_transfer_models_expect_plain_pixels_at_64px():
    # ImageNet normalisation happens inside these models, so the pipeline must not normalise again.
    for name in ("vgg16_transfer", "resnet18_transfer"):
        assert model_preprocessing(name) == Preprocessing(input_size=64, mean=(0.0,), std=(1.0,))


def test_an_input_size_option_overrides_the_registered_size():
    assert model_preprocessing("resnet18_transfer", input_size=224).input_size == 224
    with pytest.warns(UserWarning, match="random weights"):
        model = create_model("resnet18_transfer", input_size=96)
    assert model.preprocessing == Preprocessing(input_size=96, mean=(0.0,), std=(1.0,))


def test_create_model_attaches_the_preprocessing():
    assert create_model("fer2013v1").preprocessing == get_model_info("fer2013v1").preprocessing


def test_preprocessing_survives_a_weights_only_checkpoint(tmp_path):
    original = Preprocessing(input_size=64, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    path = tmp_path / "ckpt.pt"
    torch.save({"preprocessing": original.to_dict()}, path)
    loaded = torch.load(path, weights_only=True)["preprocessing"]
    assert Preprocessing.from_dict(loaded) == original
    assert Preprocessing.from_dict(loaded).mean == (0.485, 0.456, 0.406)


def test_preprocessing_to_dict_holds_plain_python_types():
    d = Preprocessing(input_size=48).to_dict()
    assert d == {"input_size": 48, "mean": [0.5], "std": [0.5]}
    assert type(d["input_size"]) is int and type(d["mean"][0]) is float


def test_preprocessing_rejects_mismatched_mean_and_std():
    with pytest.raises(ValueError, match="differ in length"):
        Preprocessing(input_size=48, mean=(0.5,), std=(0.5, 0.5))


def test_a_model_can_be_registered_and_built_by_name(scratch_registry):
    @register_model("tiny", preprocessing=Preprocessing(input_size=8), description="test", source="test")
    def tiny(num_classes: int, in_channels: int, width: int = 3):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 64, width), nn.Linear(width, num_classes))

    assert "tiny" in list_models()
    model = create_model("tiny", num_classes=2, width=5)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 2)
    assert model.preprocessing.input_size == 8


def test_it_refuses_a_second_model_under_the_same_name(scratch_registry):
    with pytest.raises(ValueError, match="already registered"):
        register_model("cnn3", preprocessing=Preprocessing(48), description="", source="")(
            lambda num_classes, in_channels: None
        )


def test_it_refuses_builders_whose_options_have_no_default(scratch_registry):
    with pytest.raises(TypeError, match="'width' needs a default"):
        register_model("bad", preprocessing=Preprocessing(48), description="", source="")(
            lambda num_classes, in_channels, width: None
        )


def test_parameter_groups_default_to_one_group_of_trainable_parameters():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    model[0].requires_grad_(False)
    groups = parameter_groups(model)
    assert list(groups) == ["all"]
    assert groups["all"] == list(model[1].parameters())


def test_parameter_groups_use_the_models_own_groups_and_drop_frozen_ones():
    class TwoPart(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = nn.Linear(2, 3), nn.Linear(3, 4)

        def param_groups(self):
            return {"backbone": list(self.body.parameters()), "head": list(self.head.parameters())}

    model = TwoPart()
    assert set(parameter_groups(model)) == {"backbone", "head"}
    model.body.requires_grad_(False)
    assert set(parameter_groups(model)) == {"head"}


def test_count_parameters_can_count_only_trainable_ones():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))  # 9 + 16
    model[0].requires_grad_(False)
    assert count_parameters(model) == 25
    assert count_parameters(model, trainable_only=True) == 16
