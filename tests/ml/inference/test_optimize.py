"""Prediction runs on a leaner copy of the model (batch norms folded, channels_last) that predicts the same."""
import pytest
import torch
from torch import nn

from ml.inference import EmotionPredictor
from ml.inference.optimize import optimize_for_inference
from ml.models import create_model, get_model_info, list_models
from ml.train.checkpoint import load_model


def with_learnt_statistics(model: nn.Module) -> nn.Module:
    """Batch norms with running statistics and affine weights far from their defaults, as after training."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1, generator=generator)
            module.running_var.uniform_(0.2, 3, generator=generator)
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
            module.bias.data.uniform_(-0.5, 0.5, generator=generator)
    return model.eval()


@pytest.mark.parametrize("name", list_models())
def test_every_model_predicts_the_same_after_optimizing(name):
    torch.manual_seed(0)
    size = get_model_info(name).preprocessing.input_size
    model = with_learnt_statistics(create_model(name, num_classes=7))
    batch = torch.randn(3, 1, size, size)
    norms_before = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.inference_mode():
        expected = model(batch)
        optimized = optimize_for_inference(model)
        got = optimized(batch)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == norms_before, "the original is untouched"


def test_ferlite_loses_every_batch_norm_and_keeps_its_preprocessing():
    model = with_learnt_statistics(create_model("ferlite", num_classes=7, width=8))
    optimized = optimize_for_inference(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in optimized.modules())
    assert sum(isinstance(m, nn.Conv2d) for m in optimized.modules()) == 10
    assert optimized.preprocessing == model.preprocessing
    assert not optimized.training


def test_the_predictor_serves_the_optimized_copy_with_the_checkpoints_predictions(tiny_checkpoint):
    import numpy as np

    from ml.evaluate import predict_probabilities

    predictor = EmotionPredictor.from_checkpoint(tiny_checkpoint)
    # Served as a frozen TorchScript trace of the folded model: convolutions, and no batch norm left.
    graph = str(predictor.model.inlined_graph)
    assert "aten::conv2d" in graph or "aten::_convolution" in graph
    assert "batch_norm" not in graph
    original, _ = load_model(tiny_checkpoint)
    # More faces than one serving batch: the trace, made at batch 1, takes any batch size.
    faces = np.random.default_rng(1).integers(0, 256, size=(70, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(
        predictor.predict_faces(faces), predict_probabilities(original, faces, original.preprocessing), atol=1e-5
    )
