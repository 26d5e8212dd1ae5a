"""Several trained models served as one checkpoint: averaged probabilities, one batch, flip TTA."""
import numpy as np
import pytest
import torch

from ml.classes import FER_CLASSES
from ml.cli import main
from ml.evaluate import predict_probabilities
from ml.inference import EmotionPredictor
from ml.models import Preprocessing, create_model
from ml.train.checkpoint import (
    CheckpointError,
    checkpoint_payload,
    ensemble_payload,
    load_checkpoint,
    load_model,
    save_checkpoint,
)


def member_payload(seed: int, width: int = 8, class_names=FER_CLASSES, **extra):
    torch.manual_seed(seed)
    model = create_model("ferlite", num_classes=len(class_names), width=width)
    # Random batch-norm statistics, so folding them for serving is really exercised.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return checkpoint_payload(model, name="ferlite", options={"width": width}, class_names=class_names,
                              config={"name": f"member{seed}"}, **extra)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    folder = tmp_path_factory.mktemp("members")
    return [save_checkpoint(member_payload(seed, width), folder / f"m{seed}.pt") for seed, width in ((1, 8), (2, 12))]


@pytest.fixture(scope="module")
def faces():
    return np.random.default_rng(0).integers(0, 256, size=(20, 48, 48), dtype=np.uint8)


def member_probabilities(paths, faces, flip=False):
    rows = []
    for path in paths:
        model, _ = load_model(path)
        rows.append(predict_probabilities(model, faces, model.preprocessing, device=torch.device("cpu")))
        if flip:
            rows.append(predict_probabilities(model, faces[:, :, ::-1].copy(), model.preprocessing,
                                              device=torch.device("cpu")))
    return np.mean(rows, axis=0)


def save_ensemble(paths, out, flip_tta=False):
    payload = ensemble_payload([load_checkpoint(p) for p in paths], flip_tta=flip_tta)
    return save_checkpoint(payload, out)


@pytest.mark.parametrize("flip_tta", [False, True])
def test_an_ensemble_predicts_the_mean_of_its_members_probabilities(members, faces, tmp_path, flip_tta):
    path = save_ensemble(members, tmp_path / "ensemble.pt", flip_tta=flip_tta)
    model, checkpoint = load_model(path)
    assert checkpoint["model"]["name"] == "ensemble" and len(checkpoint["members"]) == 2
    served = predict_probabilities(model, faces, model.preprocessing, device=torch.device("cpu"))
    np.testing.assert_allclose(served, member_probabilities(members, faces, flip=flip_tta), atol=1e-5)


def test_the_predictor_serves_an_ensemble_folded_as_it_serves_one_model(members, faces, tmp_path, astronaut):
    path = save_ensemble(members, tmp_path / "ensemble.pt", flip_tta=True)
    folded, plain = EmotionPredictor.from_checkpoint(path), EmotionPredictor.from_checkpoint(path, optimize=False)
    np.testing.assert_allclose(folded.predict_faces(faces), plain.predict_faces(faces), atol=1e-4)
    np.testing.assert_allclose(folded.predict_faces(faces), member_probabilities(members, faces, flip=True), atol=1e-4)
    (face,) = folded.analyse(astronaut).faces
    assert sum(face.probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert folded.model_name == "ensemble"


def test_an_ensemble_is_one_file_that_loads_without_running_code(members, tmp_path):
    path = save_ensemble(members, tmp_path / "ensemble.pt")
    checkpoint = torch.load(path, weights_only=True)
    assert [m["config"]["name"] for m in checkpoint["members"]] == ["member1", "member2"]


def test_members_that_disagree_on_classes_are_refused(members, tmp_path):
    other = member_payload(3, class_names=["Angry", "Happy", "Sad"])
    with pytest.raises(CheckpointError, match="classes"):
        ensemble_payload([load_checkpoint(members[0]), other])


def test_members_that_read_different_inputs_are_refused(members):
    other = member_payload(3)
    other["preprocessing"] = Preprocessing(64).to_dict()
    with pytest.raises(CheckpointError, match="preprocessing"):
        ensemble_payload([load_checkpoint(members[0]), other])


def test_the_command_line_builds_an_ensemble(members, faces, tmp_path, capsys):
    out = tmp_path / "served" / "ensemble.pt"
    assert main(["ensemble", *map(str, members), "--out", str(out), "--flip-tta"]) == 0
    assert "2 members" in capsys.readouterr().out
    model, checkpoint = load_model(out)
    assert checkpoint["model"]["options"]["flip_tta"] is True
    served = predict_probabilities(model, faces, model.preprocessing, device=torch.device("cpu"))
    np.testing.assert_allclose(served, member_probabilities(members, faces, flip=True), atol=1e-5)


def test_the_command_line_names_a_missing_member(members, tmp_path, capsys):
    assert main(["ensemble", str(members[0]), str(tmp_path / "nope.pt"), "--out", str(tmp_path / "e.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert not (tmp_path / "e.pt").exists()
