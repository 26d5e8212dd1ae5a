import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml.train.config import LossConfig
from ml.train.losses import FocalLoss, build_loss, inverse_frequency_weights


def test_inverse_frequency_weights_favour_the_rare_class():
    labels = np.array([0] * 90 + [1] * 10)
    weights = inverse_frequency_weights(labels, num_classes=2)
    assert weights.tolist() == pytest.approx([100 / (2 * 90), 100 / (2 * 10)])


def test_a_balanced_data_set_gets_equal_weights():
    weights = inverse_frequency_weights(np.array([0, 1, 2] * 5), num_classes=3)
    assert weights.tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    logits, target = torch.randn(16, 7), torch.randint(0, 7, (16,))
    assert FocalLoss(gamma=0)(logits, target).item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-5)


def test_focal_loss_down_weights_confident_correct_predictions():
    target = torch.tensor([0])
    confident = torch.tensor([[6.0, 0, 0]])
    unsure = torch.tensor([[0.5, 0, 0]])
    focal = FocalLoss(gamma=2)
    ratio_confident = focal(confident, target) / F.cross_entropy(confident, target)
    ratio_unsure = focal(unsure, target) / F.cross_entropy(unsure, target)
    assert ratio_confident < 0.01 < ratio_unsure


def test_weighted_cross_entropy_uses_the_training_class_frequencies():
    labels = np.array([0] * 30 + [1] * 10)
    loss = build_loss(LossConfig(name="weighted_cross_entropy"), labels, num_classes=2)
    assert loss.weight.tolist() == pytest.approx([40 / 60, 40 / 20])


def test_label_smoothing_reaches_the_loss():
    loss = build_loss(LossConfig(name="cross_entropy", label_smoothing=0.1), np.array([0, 1]), num_classes=2)
    assert loss.label_smoothing == 0.1
