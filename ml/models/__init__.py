"""Models by name: `create_model("cnn3")`, `list_models()`. Importing this package registers them all."""
from ml.models.preprocessing import Preprocessing
from ml.models.registry import (
    ModelInfo,
    count_parameters,
    create_model,
    get_model_info,
    list_models,
    model_preprocessing,
    parameter_groups,
    register_model,
)

# Imported for their @register_model side effect.
from ml.models import cnn3, fer2013v1, ferlite, resnet9, resnet_fer, transfer, vgg_style  # noqa: E402,F401  isort: skip

__all__ = [
    "ModelInfo",
    "Preprocessing",
    "count_parameters",
    "create_model",
    "get_model_info",
    "list_models",
    "model_preprocessing",
    "parameter_groups",
    "register_model",
]
