"""A model card says whether the model is a distilled student, and how fast it serves a face."""
import re

import torch

from ml.classes import FER_CLASSES
from ml.model_card import build_model_card
from ml.models import create_model
from ml.train import TrainConfig
from ml.train.checkpoint import checkpoint_payload, save_checkpoint


def test_a_distilled_student_names_its_teacher(tmp_path, synthetic_store):
    torch.manual_seed(0)
    config = TrainConfig.from_dict({
        "name": "student", "model": {"name": "ferlite", "options": {"width": 4}},
        "distill": {"teacher_checkpoint": "ml/weights/best.pt", "alpha": 0.7, "temperature": 4.0},
    })
    model = create_model("ferlite", num_classes=7, width=4)
    payload = checkpoint_payload(model, name="ferlite", options={"width": 4}, class_names=FER_CLASSES,
                                 config=config.to_dict(), epoch=1, data_checksum=synthetic_store.source_checksum)
    card = build_model_card(save_checkpoint(payload, tmp_path / "student.pt"), synthetic_store)
    assert ("- **Teacher**: distilled from `ml/weights/best.pt` (a student: weight 0.7 on the teacher's "
            "predictions at temperature 4.0, the rest on the labels)") in card
    speed = re.search(r"- \*\*Speed\*\*: (\d+\.\d\d) ms per face at batch 1 \(median of 7 rounds of 200 "
                      r"predictions, the rounds' medians (\d+\.\d\d)-(\d+\.\d\d) ms", card)
    assert speed
    median, quickest, slowest = map(float, speed.groups())
    assert 0 < quickest <= median <= slowest < 1000


def save_tiny_checkpoint(path):
    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=7, width=4)
    return save_checkpoint(checkpoint_payload(model, name="ferlite", options={"width": 4}, class_names=FER_CLASSES,
                                              config={"name": "tiny", "epochs": 1}, epoch=1,
                                              data_checksum="synthetic"), path)


def test_the_card_shows_the_whole_photo_pipeline_figures_saved_for_this_checkpoint(tmp_path, synthetic_store):
    from PIL import Image

    from ml.inference.photo_eval import evaluate_photos, save_photo_evaluation

    checkpoint = save_tiny_checkpoint(tmp_path / "run" / "best.pt")
    assert "Whole photo pipeline" not in build_model_card(checkpoint, synthetic_store)

    folder = tmp_path / "twpfe"
    for i, label in enumerate(FER_CLASSES):  # one 48x48 face per class: classified whole, as uploads are
        (folder / label.lower()).mkdir(parents=True)
        Image.fromarray(synthetic_store.images[synthetic_store.labels == i][0]).save(folder / label.lower() / "a.png")
    result = evaluate_photos(folder, checkpoint)
    result["command"] = "python -m ml evaluate-photos twpfe"
    save_photo_evaluation(result)

    card = build_model_card(checkpoint, synthetic_store)
    assert "## Whole photo pipeline" in card
    assert (f"| twpfe | 7 | 0 | {result['strict']['accuracy']:.4f} | {result['strict']['macro_f1']:.4f} | "
            f"{result['whole_image_fallback']['accuracy']:.4f} | {result['whole_image_fallback']['macro_f1']:.4f} | "
            "— | — | `python -m ml evaluate-photos twpfe` |") in card
    assert "Faces cut as: mtcnn's box, a square of" in card and "kept inside the photo." in card


def test_an_ensemble_card_lists_every_member_with_its_recipe_and_scores_the_whole(tmp_path, synthetic_store):
    from ml.evaluate import evaluate_checkpoint
    from ml.train.checkpoint import ensemble_payload, load_checkpoint

    members = []
    for seed, width in ((0, 4), (1, 6)):
        torch.manual_seed(seed)
        model = create_model("ferlite", num_classes=7, width=width)
        members.append(checkpoint_payload(model, name="ferlite", options={"width": width}, class_names=FER_CLASSES,
                                          config={"name": f"member{width}", "epochs": 3}, epoch=2,
                                          data_checksum="synthetic"))
    correction = {"exponent": 0.2, "train_prior": [1 / 7] * 7}
    path = save_checkpoint(ensemble_payload(members, flip_tta=True, prior_correction=correction,
                                            config={"name": "pair"}, data_checksum="synthetic"), tmp_path / "ensemble.pt")
    card = build_model_card(path, synthetic_store)
    assert "an ensemble of 2 models served as one" in card and "flip TTA" in card
    assert "divided by the Training split's class frequencies to the power 0.2" in card
    assert "  - `member4`: `ferlite` with options `{'width': 4}`" in card
    assert "  - `member6`: `ferlite` with options `{'width': 6}`" in card
    assert "Member `member6`'s training config:" in card
    private = evaluate_checkpoint(path, synthetic_store, "private_test", device="cpu")
    assert f"| private_test | FER2013 | {private['num_samples']:,} | {private['accuracy']:.4f} |" in card
    assert load_checkpoint(path)["members"][0]["config"]["name"] == "member4"


def test_an_int8_card_scores_the_model_as_served_and_as_trained(tmp_path, synthetic_store):
    from ml.evaluate import evaluate_checkpoint
    from ml.inference.quantize import calibration_faces, calibration_payload
    from ml.train.checkpoint import load_checkpoint

    plain = save_tiny_checkpoint(tmp_path / "plain.pt")
    checkpoint = load_checkpoint(plain)
    checkpoint["int8_calibration"] = calibration_payload(calibration_faces(*synthetic_store.split("train"), count=28))
    path = save_checkpoint(checkpoint, tmp_path / "int8.pt")

    card = build_model_card(path, synthetic_store)
    assert "int8 weights and activations (`python -m ml quantize`) as the upload path runs it" in card
    for split in ("public_test", "private_test"):
        for label, int8 in (("int8 as served", True), ("float as trained", False)):
            metrics = evaluate_checkpoint(path, synthetic_store, split, device="cpu", int8=int8)
            assert f"| {split}, {label} | FER2013 | 28 | {metrics['accuracy']:.4f} | {metrics['macro_f1']:.4f} |" in card
    assert "int8" not in build_model_card(plain, synthetic_store)


def test_a_card_says_which_labels_each_member_learned_and_scores_both_label_sets(tmp_path, synthetic_store):
    import dataclasses

    import numpy as np

    from ml.data.ferplus import majority_labels
    from ml.train.checkpoint import ensemble_payload

    # Raters who read every face as Neutral, except each split's first seven faces, which get no majority.
    votes = np.zeros((len(synthetic_store), 10), dtype=np.int16)
    votes[:, 0] = 10
    for code in range(3):
        votes[np.flatnonzero(synthetic_store.splits == code)[:7]] = [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]
    store = dataclasses.replace(synthetic_store, votes=votes)
    members = []
    for width, labels in ((4, "fer2013"), (6, "ferplus_distribution")):
        torch.manual_seed(width)
        model = create_model("ferlite", num_classes=7, width=width)
        config = {"name": f"member{width}", "epochs": 3, "labels": labels, "init_from": "ml/weights/default.pt",
                  "init_member": 0}
        members.append(checkpoint_payload(model, name="ferlite", options={"width": width}, class_names=FER_CLASSES,
                                          config=config, epoch=2, data_checksum="synthetic"))
    path = save_checkpoint(ensemble_payload(members, config={"name": "pair"}, data_checksum="synthetic"),
                           tmp_path / "pair.pt")
    card = build_model_card(path, store)
    assert ("- **Labels learned**: 1 member(s) FER2013's labels; 1 member(s) the FER+ raters' vote distribution"
            in card)
    assert "learned the FER+ raters' vote distribution, fine-tuned from `ml/weights/default.pt` member 0" in card
    with_majority = int((majority_labels(store.split_votes("private_test")) >= 0).sum())
    assert with_majority == (synthetic_store.splits == 2).sum() - 7
    assert re.search(rf"\| private_test \| FER\+ majority \| {with_majority} \| ", card)
    assert "Per class on PrivateTest against the FER+ majority:" in card
