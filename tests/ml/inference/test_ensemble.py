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


def imbalanced_store(path, train_counts=(40, 4, 20, 80, 30, 25, 35)):
    """A saved store whose Training split is as lopsided as FER2013's (few Disgust, many Happy)."""
    from ml.data import FerStore

    labels = np.concatenate([np.repeat(np.arange(7), train_counts), np.arange(7), np.arange(7)])
    splits = np.concatenate([np.zeros(sum(train_counts)), np.ones(7), np.full(7, 2)]).astype(np.uint8)
    images = np.random.default_rng(0).integers(0, 256, size=(len(labels), 48, 48), dtype=np.uint8)
    FerStore(images=images, labels=labels, splits=splits, class_names=FER_CLASSES, source_checksum="lopsided",
             report={"source": "test"}).save(path)
    return np.array(train_counts) / sum(train_counts)


def test_a_prior_correction_divides_the_mean_probabilities_by_the_training_prior(members, faces, tmp_path):
    from ml.models.ensemble import training_prior_correction

    counts = [40, 4, 20, 80, 30, 25, 35]
    correction = training_prior_correction(counts, 0.5)
    payload = ensemble_payload([load_checkpoint(p) for p in members], prior_correction=correction)
    path = save_checkpoint(payload, tmp_path / "corrected.pt")
    model, _ = load_model(path)
    served = predict_probabilities(model, faces, model.preprocessing, device=torch.device("cpu"))
    expected = member_probabilities(members, faces) / (np.array(counts) / sum(counts)) ** 0.5
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    # The rare class gains the most: its share rises more than the common class's.
    plain = member_probabilities(members, faces)
    assert (served[:, 1] / plain[:, 1]).mean() > (served[:, 3] / plain[:, 3]).mean()
    # Folded for serving, the correction is still there.
    np.testing.assert_allclose(EmotionPredictor.from_checkpoint(path).predict_faces(faces), expected, atol=1e-4)


def test_the_command_line_reads_the_prior_from_the_store_the_members_learned(members, faces, tmp_path, capsys):
    prior = imbalanced_store(tmp_path / "store.npz")
    out = tmp_path / "corrected.pt"
    assert main(["ensemble", *map(str, members), "--out", str(out), "--prior-correction", "0.25",
                 "--data", str(tmp_path / "store.npz")]) == 0
    assert "training prior (fer2013) to the power 0.25" in capsys.readouterr().out
    model, checkpoint = load_model(out)
    correction = checkpoint["model"]["options"]["prior_correction"]
    assert correction["exponent"] == 0.25
    np.testing.assert_allclose(correction["train_prior"], prior)
    served = predict_probabilities(model, faces, model.preprocessing, device=torch.device("cpu"))
    expected = member_probabilities(members, faces) / prior ** 0.25
    np.testing.assert_allclose(served, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize("extra, message", [
    ([], "--prior-correction needs --data"),
    (["--data", "STORE"], "not the data the members were trained on"),
    (["--data", "MISSING"], "no store file"),
])
def test_a_prior_correction_without_the_right_store_is_refused(members, tmp_path, capsys, extra, message):
    other = save_checkpoint(member_payload(5, data_checksum="fer2013-sha"), tmp_path / "m5.pt")
    imbalanced_store(tmp_path / "store.npz")  # its checksum is not the member's
    paths = {"STORE": str(tmp_path / "store.npz"), "MISSING": str(tmp_path / "missing.npz")}
    out = tmp_path / "e.pt"
    extra = [paths.get(arg, arg) for arg in extra]
    assert main(["ensemble", str(other), "--out", str(out), "--prior-correction", "0.5", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("exponent", [0.0, -0.5, 1.5])
def test_a_prior_correction_exponent_outside_zero_to_one_is_refused(members, tmp_path, capsys, exponent):
    imbalanced_store(tmp_path / "store.npz")
    out = tmp_path / "e.pt"
    assert main(["ensemble", str(members[0]), "--out", str(out), "--prior-correction", str(exponent),
                 "--data", str(tmp_path / "store.npz")]) == 2
    assert "exponent" in capsys.readouterr().err
    assert not out.exists()


def test_members_that_learned_ferplus_divide_by_the_raters_mean_distribution(members, faces, tmp_path, capsys):
    import dataclasses

    from ml.data import FerStore

    imbalanced_store(tmp_path / "store.npz")
    store = FerStore.load(tmp_path / "store.npz")
    # FER+ columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
    readings = np.array([[4, 6, 0, 0, 0, 0, 0, 0, 0, 0], [10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 2, 2, 2, 2, 2, 0, 0, 0]])
    votes = readings[np.arange(len(store)) % 3].astype(np.int16)
    train_rows = np.flatnonzero(store.splits == 0)
    votes[train_rows[0]] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]  # not a face: left out of the prior
    dataclasses.replace(store, votes=votes).save(tmp_path / "store.npz")
    kinds = np.bincount(train_rows[1:] % 3, minlength=3) / (len(train_rows) - 1)
    neutral = kinds[0] * 0.4 + kinds[1]
    out = tmp_path / "ferplus.pt"
    assert main(["ensemble", *map(str, members), "--out", str(out), "--prior-correction", "0.5", "--prior-from",
                 "ferplus", "--data", str(tmp_path / "store.npz")]) == 0
    assert "training prior (ferplus) to the power 0.5" in capsys.readouterr().out
    correction = load_model(out)[1]["model"]["options"]["prior_correction"]
    assert correction["labels"] == "ferplus"
    np.testing.assert_allclose(correction["train_prior"][FER_CLASSES.index("Neutral")], neutral, rtol=1e-6)
    np.testing.assert_allclose(correction["train_prior"][FER_CLASSES.index("Happy")], kinds[0] * 0.6, rtol=1e-6)
    np.testing.assert_allclose(correction["train_prior"][FER_CLASSES.index("Fear")], kinds[2] * 0.2, rtol=1e-6)
