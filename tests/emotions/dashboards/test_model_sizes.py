"""Parameter counts for the leaderboard, derived from a run's config without building real weights."""
from emotions.dashboards.model_sizes import parameter_count
from ml.models import count_parameters, create_model


def test_the_count_is_the_models_own():
    config = {"model": {"name": "cnn3", "options": {"dropout": 0.4}}}
    assert parameter_count(config, num_classes=4) == count_parameters(create_model("cnn3", num_classes=4, dropout=0.4))


def test_a_transfer_model_is_counted_without_reading_its_backbone_weights():
    config = {"model": {"name": "vgg16_transfer", "options": {"pretrained_weights": "/nowhere/vgg16.pth"}}}
    assert parameter_count(config, num_classes=7) > 14_000_000  # VGG16's convolutions alone


def test_an_architecture_ml_no_longer_has_counts_as_unknown():
    assert parameter_count({"model": {"name": "retired_net", "options": {}}}, num_classes=7) is None
