import numpy as np
import pytest
import torch
import torch.nn as nn

from ml.evaluate import compute_metrics, predict_probabilities
from ml.models import Preprocessing


def test_metrics_match_a_hand_checked_example():
    # true:  A A B B C C
    # pred:  A B B B C A
    metrics = compute_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], ["A", "B", "C"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["per_class"]["A"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert metrics["per_class"]["B"]["precision"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["B"]["recall"] == 1.0
    assert metrics["per_class"]["B"]["f1"] == pytest.approx(0.8)
    assert metrics["per_class"]["C"]["precision"] == 1.0
    assert metrics["per_class"]["C"]["f1"] == pytest.approx(2 / 3)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert metrics["weighted_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)  # equal supports
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics["class_names"] == ["A", "B", "C"]


def test_a_class_never_predicted_counts_as_zero_not_an_error():
    metrics = compute_metrics([0, 1, 2], [0, 0, 0], ["A", "B", "C"])
    assert metrics["per_class"]["B"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics["confusion_matrix"][2] == [1, 0, 0]


def test_weighted_f1_follows_class_support():
    metrics = compute_metrics([0, 0, 0, 1], [0, 0, 0, 0], ["A", "B"])
    f1_a = metrics["per_class"]["A"]["f1"]
    assert metrics["weighted_f1"] == pytest.approx(0.75 * f1_a)
    assert metrics["macro_f1"] == pytest.approx(f1_a / 2)


class LeftHalfBrightness(nn.Module):
    """Says class 0 when the left half is brighter: its answer flips with the image."""

    def forward(self, x):
        left = x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3))
        right = x[..., x.shape[-1] // 2 :].mean(dim=(1, 2, 3))
        return torch.stack([left - right, right - left], dim=1) * 10


def test_flip_tta_averages_the_image_with_its_mirror():
    image = np.zeros((1, 48, 48), dtype=np.uint8)
    image[:, :, :24] = 255
    plain = predict_probabilities(LeftHalfBrightness(), image, Preprocessing(input_size=48))
    averaged = predict_probabilities(LeftHalfBrightness(), image, Preprocessing(input_size=48), tta_hflip=True)
    assert plain[0, 0] > 0.99
    assert averaged[0] == pytest.approx([0.5, 0.5])
