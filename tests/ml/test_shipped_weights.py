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
def test_the_shipped_model_scores_on_privatetest_what_its_card_says_on_both_label_sets(fer2013_store):
    metrics = evaluate_checkpoint(SHIPPED, fer2013_store, "private_test", device="cpu")
    assert metrics["data_checksum_matches"]
    card = CARD.read_text()
    # The card's first PrivateTest rows are the model as served (int8 where the checkpoint is calibrated).
    for label_set, scores, floor in (("FER2013", metrics, 0.67), ("FER\\+ majority", metrics.get("ferplus"), 0.78)):
        assert scores is not None, f"no {label_set} scores: the test store has no FER+ votes"
        assert scores["accuracy"] >= floor
        row = re.search(rf"\| private_test(?:, int8 as served)? \| {label_set} \| ([0-9,]+) \| ([0-9.]+) \| ([0-9.]+) \|", card)
        assert row, f"the model card has no PrivateTest row for {label_set}"
        assert int(row.group(1).replace(",", "")) == scores["num_samples"]
        assert float(row.group(2)) == pytest.approx(scores["accuracy"], abs=1e-4)
        assert float(row.group(3)) == pytest.approx(scores["macro_f1"], abs=1e-4)
