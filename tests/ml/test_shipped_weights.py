"""The model a fresh install serves: it loads safely, is small, and scores what its card says."""
import re
from pathlib import Path

import pytest
import torch

from ml.evaluate import evaluate_checkpoint

WEIGHTS = Path(__file__).resolve().parents[2] / "ml" / "weights"
SHIPPED = WEIGHTS / "default.pt"
CARD = WEIGHTS / "MODEL_CARD.md"


def test_the_shipped_checkpoint_loads_without_running_code_and_is_small():
    checkpoint = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    assert checkpoint["class_names"] == ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
    assert "optimizer" not in checkpoint  # a best checkpoint: weights only, no training state
    assert SHIPPED.stat().st_size < 20 * 2**20


@pytest.mark.fer2013
def test_the_shipped_model_reaches_69_percent_on_privatetest_as_its_card_says(fer2013_store):
    metrics = evaluate_checkpoint(SHIPPED, fer2013_store, "private_test", device="cpu")
    assert metrics["accuracy"] >= 0.69
    assert metrics["data_checksum_matches"]
    # The card's first PrivateTest row is the model as served (int8 where the checkpoint is calibrated).
    card_row = re.search(r"\| private_test(?:, int8 as served)? \| 3,589 \| ([0-9.]+) \| ([0-9.]+) \|", CARD.read_text())
    assert card_row, "the model card has no PrivateTest row"
    assert float(card_row.group(1)) == pytest.approx(metrics["accuracy"], abs=1e-4)
    assert float(card_row.group(2)) == pytest.approx(metrics["macro_f1"], abs=1e-4)
