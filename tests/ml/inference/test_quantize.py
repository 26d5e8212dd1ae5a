"""Serving a model in int8: calibration faces travel in the checkpoint, predictions stay the model's."""
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.classes import FER_CLASSES
from ml.evaluate import evaluate_checkpoint, predict_probabilities
from ml.inference import EmotionPredictor
from ml.inference.quantize import calibration_faces, calibration_payload, quantize_model
from ml.train.checkpoint import ensemble_payload, load_checkpoint, load_model, save_checkpoint

from test_ensemble import member_payload  # tests/ has no packages: sibling test modules import by name

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "ml" / "weights" / "default.pt"


def run_ml(*args):
    return subprocess.run([sys.executable, "-m", "ml", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def quantized_modules(model: torch.nn.Module) -> list[str]:
    return [type(m).__module__ for m in model.modules() if ".quantized" in type(m).__module__]


def runs_int8_kernels(served: torch.nn.Module) -> bool:
    """The predictor serves a frozen TorchScript trace: its graph names the int8 convolutions it calls."""
    return "quantized::conv2d" in str(served.inlined_graph)


@pytest.fixture
def pattern_faces(synthetic_store):
    return synthetic_store.split("train")  # 8 faces of each class, the class drawn as a bright block


@pytest.fixture
def ensemble_path(tmp_path, pattern_faces):
    folder = tmp_path
    members = [member_payload(seed, width) for seed, width in ((1, 8), (2, 12))]
    faces = calibration_faces(*pattern_faces, count=56)
    payload = ensemble_payload(members, int8_calibration=calibration_payload(faces))
    return save_checkpoint(payload, folder / "ensemble_int8.pt")


def test_calibration_takes_the_same_share_of_every_class(pattern_faces):
    images, labels = pattern_faces
    faces = calibration_faces(images, labels, count=35, seed=1)
    assert faces.shape == (35, 48, 48) and faces.dtype == np.uint8
    picked = [int(np.flatnonzero((images == face).all(axis=(1, 2)))[0]) for face in faces]
    assert sorted(np.bincount(labels[picked], minlength=7)) == [5] * 7
    np.testing.assert_array_equal(faces, calibration_faces(images, labels, count=35, seed=1))  # reproducible
    assert len(calibration_faces(images, labels, count=30)) == 30  # not a multiple of the classes: exact


def test_an_int8_ensemble_predicts_what_the_float_one_does(ensemble_path, pattern_faces):
    model, checkpoint = load_model(ensemble_path)
    before = [p.detach().clone() for p in model.parameters()]
    quantized = quantize_model(model, checkpoint["int8_calibration"]["faces"].numpy(), model.preprocessing)
    assert len(quantized_modules(quantized.members[0])) > 0 and len(quantized_modules(quantized.members[1])) > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the float model is untouched

    images = pattern_faces[0]
    exact = predict_probabilities(model, images, model.preprocessing, device=torch.device("cpu"))
    int8 = predict_probabilities(quantized, images, model.preprocessing, device=torch.device("cpu"))
    assert np.abs(int8 - exact).max() < 0.05
    assert (int8.argmax(1) == exact.argmax(1)).mean() >= 0.9


def test_the_predictor_serves_int8_only_where_the_checkpoint_is_calibrated(ensemble_path, tmp_path, astronaut):
    served = EmotionPredictor.from_checkpoint(ensemble_path)
    assert served.precision == "int8" and runs_int8_kernels(served.model)
    assert EmotionPredictor.from_checkpoint(ensemble_path, int8=False).precision == "float32"
    (face,) = served.analyse(astronaut).faces
    assert sum(face.probabilities.values()) == pytest.approx(1, abs=1e-3)

    # Every load calibrates from the same stored faces, so a restarted worker predicts the same.
    faces = np.random.default_rng(0).integers(0, 256, size=(8, 48, 48), dtype=np.uint8)
    np.testing.assert_array_equal(served.predict_faces(faces), EmotionPredictor.from_checkpoint(ensemble_path)
                                  .predict_faces(faces))

    plain = save_checkpoint(member_payload(3), tmp_path / "plain.pt")
    assert EmotionPredictor.from_checkpoint(plain).precision == "float32"


def test_without_an_int8_engine_the_model_is_served_in_float(ensemble_path, monkeypatch, caplog):
    monkeypatch.setattr("ml.inference.predictor.int8_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="ml.inference.predictor"):
        predictor = EmotionPredictor.from_checkpoint(ensemble_path)
    assert predictor.precision == "float32" and not runs_int8_kernels(predictor.model)
    assert "no x86 int8 engine" in caplog.text


def test_the_calibration_faces_load_without_running_code(ensemble_path):
    checkpoint = torch.load(ensemble_path, map_location="cpu", weights_only=True)
    assert checkpoint["int8_calibration"]["backend"] == "x86"
    assert checkpoint["int8_calibration"]["faces"].dtype == torch.uint8


def test_calibration_faces_must_be_grayscale_bytes():
    with pytest.raises(ValueError, match="uint8"):
        calibration_payload(np.zeros((4, 48, 48), dtype=np.float32))
    with pytest.raises(ValueError, match="at least one face"):
        calibration_faces(np.zeros((4, 48, 48), np.uint8), np.zeros(4, np.int64), count=0)


def test_the_quantize_command_reports_both_scores_and_the_checkpoint_is_served_int8(tmp_path, synthetic_zip):
    store = tmp_path / "faces.npz"
    assert run_ml("import", synthetic_zip, "--out", store).returncode == 0
    source = save_checkpoint(member_payload(4), tmp_path / "model.pt")
    before = source.read_bytes()

    quantized = run_ml("quantize", source, "--data", store, "--faces", 42, "--out", tmp_path / "model_int8.pt")
    assert quantized.returncode == 0, quantized.stderr
    assert "public_test, float: accuracy" in quantized.stdout and "public_test, int8: accuracy" in quantized.stdout
    assert source.read_bytes() == before  # --out leaves the original alone
    checkpoint = load_checkpoint(tmp_path / "model_int8.pt")
    assert checkpoint["int8_calibration"]["faces"].shape == (42, 48, 48)

    int8 = run_ml("evaluate", "--checkpoint", tmp_path / "model_int8.pt", "--data", store, "--split", "public_test")
    as_float = run_ml("evaluate", "--checkpoint", tmp_path / "model_int8.pt", "--data", store, "--split",
                      "public_test", "--float")
    assert int8.stdout.startswith("public_test (int8), FER2013 labels:")
    assert as_float.stdout.startswith("public_test (float32), FER2013 labels:")

    refused = run_ml("quantize", source, "--data", store, "--faces", 0)
    assert refused.returncode == 2 and "at least one face" in refused.stderr and "Traceback" not in refused.stderr
    assert source.read_bytes() == before


@pytest.mark.fer2013
def test_the_shipped_model_in_int8_scores_as_it_does_in_float(fer2013_store):
    served = evaluate_checkpoint(SHIPPED, fer2013_store, "public_test", device="cpu")
    exact = evaluate_checkpoint(SHIPPED, fer2013_store, "public_test", device="cpu", int8=False)
    assert served["precision"] == "int8" and exact["precision"] == "float32"
    assert abs(served["accuracy"] - exact["accuracy"]) <= 0.005
    assert abs(served["macro_f1"] - exact["macro_f1"]) <= 0.01
