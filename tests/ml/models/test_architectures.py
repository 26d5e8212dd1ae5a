"""Each registered architecture: shapes, gradients, exact size, and the transfer models' weights and groups."""
import pytest
import torch
import torchvision
from torch import nn

from ml.models import count_parameters, create_model, list_models, parameter_groups
from ml.models.transfer import IMAGENET_MEAN, IMAGENET_STD, GrayToImageNet

# Exact totals for 7 classes, worked out by hand from the seeds' layer lists; a change here changes a recipe.
PARAMETERS = {
    "fer2013v1": 1_299_911,
    "vgg_style": 7_182_535,
    "cnn3": 5_093_255,
    "resnet9": 6_572_679,
    "vgg16_transfer": 27_694_919,  # 14,714,688 in VGG16's features + 12,980,231 in the head
    "resnet18_transfer": 11_309_639,  # 11,176,512 in ResNet-18 without fc + 133,127 in the head
    # ours, width 32: stem 352, 3 strided convs 18,560 + 73,984 + 295,424, residual blocks
    # 73,984 + 295,424 + 1,180,672, head 1,799
    "ferlite": 1_940_199,
    # ours: CIFAR-style ResNet-18 (11,173,962 with a 3-channel stem and 10 classes), less 1,152 for the
    # 1-channel stem and 1,539 for the 7-class head
    "resnet18_fer": 11_171_271,
}
FROM_SCRATCH = ["fer2013v1", "vgg_style", "cnn3", "resnet9", "ferlite", "resnet18_fer"]

no_pretrained_warning = pytest.mark.filterwarnings("ignore:.*random weights:UserWarning")


def batch(model, size=2):
    s = model.preprocessing.input_size
    return torch.rand(size, 1, s, s)


def assert_trains(model, num_classes):
    """A training-mode step: right output shape, and every trainable parameter receives a gradient."""
    model.train()
    out = model(batch(model))
    assert out.shape == (2, num_classes)
    out.sum().backward()
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable
    assert [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None] == []


@pytest.fixture(scope="module")
def vgg16():
    # VGG16 costs seconds to build: one frozen 7-class and one unfrozen 4-class copy serve the module.
    with pytest.warns(UserWarning, match="random weights"):
        return create_model("vgg16_transfer")


@pytest.fixture(scope="module")
def vgg16_unfrozen():
    with pytest.warns(UserWarning, match="random weights"):
        return create_model("vgg16_transfer", num_classes=4, freeze_features=False)


@pytest.fixture(scope="module")
def resnet18():
    with pytest.warns(UserWarning, match="random weights"):
        return create_model("resnet18_transfer")


def test_every_registered_model_has_a_known_size():
    assert set(list_models()) == set(PARAMETERS)


@pytest.mark.parametrize("name", FROM_SCRATCH)
@pytest.mark.parametrize("num_classes", [7, 4])
def test_from_scratch_models_map_a_batch_to_class_scores_and_train(name, num_classes):
    assert_trains(create_model(name, num_classes=num_classes), num_classes)


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_from_scratch_models_have_the_seeds_parameter_count(name):
    assert count_parameters(create_model(name)) == PARAMETERS[name]


def test_fer2013v1_has_about_1_3_million_parameters_as_its_write_up_says():
    assert abs(count_parameters(create_model("fer2013v1")) - 1_300_000) <= 0.05 * 1_300_000


def test_resnet9_pools_globally_so_the_head_sees_512_features():
    model = create_model("resnet9").eval()
    with torch.no_grad():
        assert model.features(batch(model)).shape == (2, 512, 6, 6)


@no_pretrained_warning
def test_it_warns_when_no_pretrained_weights_are_given():
    with pytest.warns(UserWarning, match="resnet18_transfer: no pretrained_weights given.*random weights"):
        create_model("resnet18_transfer")


# --- VGG16 transfer (seed 000) ---


def test_vgg16_maps_a_batch_to_class_scores(vgg16):
    vgg16.eval()
    with torch.no_grad():
        assert vgg16(batch(vgg16)).shape == (2, 7)


def test_vgg16_with_unfrozen_features_trains_end_to_end_for_4_classes(vgg16_unfrozen):
    assert_trains(vgg16_unfrozen, 4)


def test_vgg16_features_are_frozen_by_default_and_the_head_still_trains(vgg16):
    assert all(not p.requires_grad for p in vgg16.backbone.features.parameters())
    assert count_parameters(vgg16) == PARAMETERS["vgg16_transfer"]
    assert count_parameters(vgg16, trainable_only=True) == 12_980_231
    vgg16.zero_grad()
    assert_trains(vgg16, 7)  # frozen features get no gradient and are not counted as trainable


def test_vgg16_groups_only_the_head_when_frozen(vgg16):
    groups = parameter_groups(vgg16)
    assert list(groups) == ["head"]
    assert groups["head"] == list(vgg16.backbone.classifier.parameters())


def test_vgg16_groups_backbone_and_head_when_unfrozen(vgg16_unfrozen):
    groups = parameter_groups(vgg16_unfrozen)
    assert set(groups) == {"backbone", "head"}
    assert groups["backbone"] == list(vgg16_unfrozen.backbone.features.parameters())


@no_pretrained_warning
def test_vgg16_loads_a_local_imagenet_state_dict_and_ignores_its_classifier(tmp_path):
    imagenet = torchvision.models.vgg16(weights=None)
    state = {k: v for k, v in imagenet.state_dict().items() if k.startswith("features.")}
    state["classifier.6.weight"] = torch.zeros(1000, 4096)  # ImageNet's head: must be skipped, not fitted
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    model = create_model("vgg16_transfer", pretrained_weights=str(path))
    assert torch.equal(model.backbone.features[0].weight, imagenet.features[0].weight)
    assert torch.equal(model.backbone.features[28].bias, imagenet.features[28].bias)


# --- ResNet-18 transfer (seeds 001, 003) ---


def test_resnet18_maps_a_batch_to_class_scores_and_trains(resnet18):
    resnet18.zero_grad()
    assert_trains(resnet18, 7)


@no_pretrained_warning
def test_resnet18_trains_for_4_classes():
    assert_trains(create_model("resnet18_transfer", num_classes=4), 4)


def test_resnet18_has_the_expected_parameter_count(resnet18):
    assert count_parameters(resnet18) == PARAMETERS["resnet18_transfer"]


def test_resnet18_groups_cover_every_trainable_parameter_exactly_once(resnet18):
    groups = parameter_groups(resnet18)
    assert set(groups) == {"backbone", "head"}
    grouped = [id(p) for ps in groups.values() for p in ps]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in resnet18.parameters() if p.requires_grad}
    assert {id(p) for p in groups["head"]} == {id(p) for p in resnet18.backbone.fc.parameters()}


@no_pretrained_warning
def test_resnet18_loads_a_local_imagenet_state_dict(tmp_path):
    imagenet = torchvision.models.resnet18(weights=None)  # its 1000-class fc rides along, as in the real file
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(imagenet.state_dict(), path)
    model = create_model("resnet18_transfer", pretrained_weights=str(path))
    assert torch.equal(model.backbone.conv1.weight, imagenet.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].conv2.weight, imagenet.layer4[1].conv2.weight)


@no_pretrained_warning
def test_resnet18_refuses_a_state_dict_missing_backbone_weights(tmp_path):
    state = torchvision.models.resnet18(weights=None).state_dict()
    del state["layer1.0.conv1.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(RuntimeError, match="layer1.0.conv1.weight"):
        create_model("resnet18_transfer", pretrained_weights=str(path))


@pytest.mark.parametrize("name", ["resnet18_transfer", "vgg16_transfer"])
def test_a_missing_weights_file_is_an_error_naming_the_path(name, tmp_path):
    path = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError, match=f"pretrained weights not found at {path}.*not downloaded"):
        create_model(name, pretrained_weights=str(path))


# --- the gray -> ImageNet stem ---


def test_the_stem_repeats_gray_and_applies_imagenet_statistics():
    gray = torch.rand(2, 1, 4, 4)
    out = GrayToImageNet()(gray)
    assert out.shape == (2, 3, 4, 4)
    for c in range(3):
        assert torch.allclose(out[:, c], (gray[:, 0] - IMAGENET_MEAN[c]) / IMAGENET_STD[c])


def test_the_stem_keeps_its_constants_out_of_checkpoints_but_moves_them_with_the_model():
    stem = GrayToImageNet()
    assert stem.state_dict() == {}
    assert {name for name, _ in stem.named_buffers()} == {"mean", "std"}
    assert stem.to(torch.float64).mean.dtype == torch.float64


def test_the_stem_refuses_other_channel_counts():
    with pytest.raises(ValueError, match="1 \\(gray\\) or 3 \\(RGB\\)"):
        GrayToImageNet(in_channels=2)
