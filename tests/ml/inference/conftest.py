"""Fixtures for the inference tests: photos with and without faces, a tiny checkpoint."""
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from ml.classes import FER_CLASSES
from ml.models import create_model
from ml.train.checkpoint import checkpoint_payload, save_checkpoint


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    """Eileen Collins' portrait: one frontal face, in the upper left of a 512x512 photo."""
    return Image.fromarray(skimage.data.astronaut())


@pytest.fixture(scope="session")
def coffee() -> Image.Image:
    """A cup of coffee on a table: a real photo with no face in it."""
    return Image.fromarray(skimage.data.coffee())


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A ferlite of width 8 with random weights: enough to check shapes and plumbing, quick on a CPU."""
    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=len(FER_CLASSES), width=8)
    payload = checkpoint_payload(model, name="ferlite", options={"width": 8}, class_names=FER_CLASSES)
    return save_checkpoint(payload, tmp_path_factory.mktemp("checkpoint") / "tiny.pt")


@pytest.fixture
def face_crop() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(48, 48), dtype=np.uint8))
