"""`evaluate-photos` scores the whole upload path on a labelled photo folder, strictly and with the
whole-image fallback, and says clearly what is wrong with a folder it cannot read."""
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.classes import FER_CLASSES
from ml.cli import main
from ml.inference import Analysis, Box, EmotionPredictor, FacePrediction
from ml.inference.framing import Framing
from ml.inference.photo_eval import (
    PhotoFolderError,
    evaluate_photos,
    load_photo_evaluations,
    read_labelled_folder,
    save_photo_evaluation,
)
from ml.models import create_model
from ml.train.checkpoint import checkpoint_payload, save_checkpoint

ROOT = Path(__file__).resolve().parents[3]
HAPPY, SAD = FER_CLASSES.index("Happy"), FER_CLASSES.index("Sad")


def save_always(path: Path, answer: int) -> Path:
    """A ferlite whose head ignores the face and always answers `answer`."""
    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=len(FER_CLASSES), width=8)
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.zero_()
        model.head[-1].bias[answer] = 4.0
    return save_checkpoint(checkpoint_payload(model, name="ferlite", options={"width": 8}, class_names=FER_CLASSES),
                           path)


@pytest.fixture(scope="module")
def always_happy(tmp_path_factory) -> Path:
    return save_always(tmp_path_factory.mktemp("always_happy") / "best.pt", HAPPY)


@pytest.fixture(scope="module")
def happy_predictor(always_happy):
    return EmotionPredictor.from_checkpoint(always_happy)


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def write(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def class_folders(tmp_path, astronaut, coffee) -> Path:
    """Two happy photos (one has no face) and one sad photo, as <class>/<image>."""
    folder = tmp_path / "posed"
    write(folder, "happy/astronaut.jpg", jpeg(astronaut))
    write(folder, "happy/coffee.jpg", jpeg(coffee))
    write(folder, "Sad/astronaut.jpg", jpeg(astronaut))
    return folder


def test_the_fixture_photos_are_what_the_tests_take_them_for(happy_predictor, astronaut, coffee):
    assert len(happy_predictor.analyse(astronaut).faces) == 1
    assert happy_predictor.analyse(coffee).faces == []


def test_class_folders_are_read_with_their_labels_in_any_case(class_folders):
    photos, source = read_labelled_folder(class_folders)
    assert source == "sub-folders"
    assert [(photo.name, photo.label) for photo in photos] == [
        ("Sad/astronaut.jpg", "Sad"), ("happy/astronaut.jpg", "Happy"), ("happy/coffee.jpg", "Happy")]


def test_no_face_is_a_miss_strictly_and_classified_whole_with_the_fallback(class_folders, always_happy,
                                                                           happy_predictor):
    result = evaluate_photos(class_folders, always_happy, predictor=happy_predictor)
    assert (result["num_photos"], result["no_face"], result["skipped"]) == (3, 1, [])
    assert result["set"] == "posed" and result["labels_from"] == "sub-folders"

    strict = result["strict"]
    assert strict["accuracy"] == pytest.approx(1 / 3)  # the face on a sad photo answered Happy; coffee had no face
    assert strict["per_class"]["Happy"]["recall"] == 0.5 and strict["per_class"]["Happy"]["support"] == 2
    assert strict["no_face_per_class"][HAPPY] == 1 and sum(strict["no_face_per_class"]) == 1
    assert len(strict["confusion_matrix"]) == 7 and all(len(row) == 7 for row in strict["confusion_matrix"])
    assert strict["confusion_matrix"][HAPPY][HAPPY] == 1 and sum(strict["confusion_matrix"][HAPPY]) == 1
    assert strict["confusion_matrix"][SAD][HAPPY] == 1

    fallback = result["whole_image_fallback"]
    assert fallback["accuracy"] == pytest.approx(2 / 3)  # the whole coffee photo is classified, as Happy
    assert fallback["per_class"]["Happy"]["recall"] == 1.0
    assert fallback["confusion_matrix"][HAPPY][HAPPY] == 2
    assert "no_face_per_class" not in fallback


def test_labels_csv_wins_over_the_sub_folders_and_ignores_extra_columns(class_folders, always_happy, happy_predictor):
    # The csv calls every photo happy, whatever folder it is in, and leaves one photo out.
    (class_folders / "labels.csv").write_text(
        "path,label,actor\nSad/astronaut.jpg,HAPPY,01\nhappy/astronaut.jpg,Happy,02\n")
    result = evaluate_photos(class_folders, always_happy, predictor=happy_predictor)
    assert result["labels_from"] == "labels.csv"
    assert result["num_photos"] == 2 and result["no_face"] == 0
    assert result["strict"]["accuracy"] == 1.0
    assert result["strict"]["per_class"]["Happy"]["support"] == 2


def test_the_largest_face_is_the_photo_s_prediction(class_folders, always_happy):
    class TwoFaces:
        class_names = list(FER_CLASSES)
        model_name = "stub"
        detector = "mtcnn"
        framings = {"mtcnn": Framing()}
        calls = []

        def analyse(self, image, *, whole_image=False):
            self.calls.append(whole_image)
            crop = np.zeros((48, 48), np.uint8)
            faces = [FacePrediction(Box(0, 0, 40, 40), "Sad", {}, crop),
                     FacePrediction(Box(50, 0, 90, 90), "Happy", {}, crop),
                     FacePrediction(Box(200, 0, 60, 60), "Angry", {}, crop)]
            return Analysis(faces=faces, whole_image=whole_image, width=512, height=512)

    stub = TwoFaces()
    (class_folders / "labels.csv").write_text("path,label\nhappy/astronaut.jpg,happy\n")
    result = evaluate_photos(class_folders, always_happy, predictor=stub)
    assert result["strict"]["accuracy"] == 1.0 and result["whole_image_fallback"]["accuracy"] == 1.0
    assert stub.calls == [False]  # a face was found: the whole image is not asked for


def test_an_unreadable_photo_is_skipped_by_name_and_the_rest_scored(class_folders, always_happy, happy_predictor,
                                                                    astronaut):
    write(class_folders, "happy/notes.jpg", b"not an image at all")
    write(class_folders, "sad/truncated.jpg", jpeg(astronaut)[:2000])
    result = evaluate_photos(class_folders, always_happy, predictor=happy_predictor)
    assert result["num_photos"] == 3
    assert result["skipped"] == [
        {"path": "happy/notes.jpg", "reason": "not an image we can read (JPEG, PNG, WebP, BMP)"},
        {"path": "sad/truncated.jpg", "reason": "the image is truncated or corrupt"},
    ]
    assert result["strict"]["num_samples"] == 3


def test_a_folder_of_only_unreadable_photos_is_an_error(tmp_path, always_happy):
    write(tmp_path / "broken", "happy/a.jpg", b"nope")
    with pytest.raises(PhotoFolderError, match=r"none of the 1 photos .* could be scored \(happy/a\.jpg: not an image"):
        evaluate_photos(tmp_path / "broken", always_happy)


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(PhotoFolderError, match="missing is not a folder"):
        read_labelled_folder(tmp_path / "missing")


def test_an_empty_folder_is_an_error_that_says_what_is_expected(tmp_path):
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    with pytest.raises(PhotoFolderError, match=r"no labelled photos in .*empty: expected <class>/<image> sub-folders"):
        read_labelled_folder(tmp_path / "empty")


def test_an_unknown_class_folder_is_named_with_the_valid_labels(tmp_path, astronaut):
    write(tmp_path / "set", "joyful/a.jpg", jpeg(astronaut))
    with pytest.raises(PhotoFolderError) as error:
        read_labelled_folder(tmp_path / "set")
    assert "sub-folder joyful: unknown label 'joyful'" in str(error.value)
    assert "angry, disgust, fear, happy, sad, surprise, neutral" in str(error.value)


def test_a_csv_row_naming_a_missing_file_is_named_by_file_and_row(class_folders):
    (class_folders / "labels.csv").write_text("path,label\nhappy/astronaut.jpg,happy\nhappy/gone.jpg,happy\n")
    with pytest.raises(PhotoFolderError, match=r"labels\.csv row 3: happy/gone\.jpg is not a file in"):
        read_labelled_folder(class_folders)


def test_an_unknown_csv_label_is_named_by_file_and_row_with_the_valid_labels(class_folders):
    (class_folders / "labels.csv").write_text("path,label\nhappy/astronaut.jpg,contempt\n")
    with pytest.raises(PhotoFolderError) as error:
        read_labelled_folder(class_folders)
    assert "labels.csv row 2: unknown label 'contempt'; valid labels are angry, disgust, fear" in str(error.value)


def test_a_csv_without_a_label_column_is_an_error(class_folders):
    (class_folders / "labels.csv").write_text("file,emotion\nhappy/astronaut.jpg,happy\n")
    with pytest.raises(PhotoFolderError, match="the header must name the columns path and label, it has file, emotion"):
        read_labelled_folder(class_folders)


def test_the_command_prints_the_result_as_json(class_folders, always_happy):
    ran = subprocess.run([sys.executable, "-m", "ml", "evaluate-photos", str(class_folders), "--checkpoint",
                          str(always_happy), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert {"folder", "checkpoint", "num_photos", "skipped", "no_face", "strict", "whole_image_fallback",
            "seconds"} <= result.keys()
    assert (result["folder"], result["checkpoint"]) == (str(class_folders), str(always_happy))
    assert (result["num_photos"], result["no_face"]) == (3, 1)
    # How the faces were cut is part of the figure: the served framing, square kept inside the photo.
    assert result["detector"] == "mtcnn" and result["framing"]["border"] == "fit"
    assert result["framing"]["scale"] == pytest.approx(0.95, abs=0.02)
    assert result["strict"]["accuracy"] == pytest.approx(1 / 3)
    assert result["whole_image_fallback"]["accuracy"] == pytest.approx(2 / 3)
    assert not (always_happy.parent / "photo_eval.json").exists()  # only --save writes


def test_the_command_reports_both_ways_and_the_skipped_photos(class_folders, always_happy, capsys):
    write(class_folders, "happy/notes.jpg", b"not an image at all")
    assert main(["evaluate-photos", str(class_folders), "--checkpoint", str(always_happy)]) == 0
    report = capsys.readouterr().out
    assert "posed: 3 photos scored (sub-folders), 1 with no face found, 1 skipped" in report
    assert "strict (no face is a miss): accuracy 0.3333" in report
    assert "whole image where no face was found: accuracy 0.6667" in report
    assert "happy/notes.jpg: not an image we can read" in report


def test_a_bad_folder_exits_2_with_the_error_and_no_traceback(tmp_path, always_happy):
    ran = subprocess.run([sys.executable, "-m", "ml", "evaluate-photos", str(tmp_path / "missing"), "--checkpoint",
                          str(always_happy)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 2
    assert ran.stderr.startswith("error: ") and "missing is not a folder" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_bad_csv_row_exits_2_from_main(class_folders, always_happy, capsys):
    (class_folders / "labels.csv").write_text("path,label\nhappy/gone.jpg,happy\n")
    assert main(["evaluate-photos", str(class_folders), "--checkpoint", str(always_happy)]) == 2
    assert "error: " in capsys.readouterr().err


def test_save_merges_each_set_beside_the_checkpoint(tmp_path, class_folders, astronaut, capsys):
    checkpoint = save_always(tmp_path / "run" / "best.pt", HAPPY)
    other = tmp_path / "candid"
    write(other, "sad/astronaut.jpg", jpeg(astronaut))
    for folder in (class_folders, other):
        assert main(["evaluate-photos", str(folder), "--checkpoint", str(checkpoint), "--save"]) == 0
    assert "saved as 'candid' in" in capsys.readouterr().out

    saved = json.loads((tmp_path / "run" / "photo_eval.json").read_text())
    assert sorted(saved) == ["candid", "posed"]
    assert saved["posed"]["strict"]["accuracy"] == pytest.approx(1 / 3)
    assert saved["candid"]["strict"]["accuracy"] == 0.0
    assert saved["posed"]["command"] == f"python -m ml evaluate-photos {class_folders} --checkpoint {checkpoint}"
    assert list(load_photo_evaluations(checkpoint)) == ["candid", "posed"]

    write(other, "happy/astronaut.jpg", jpeg(astronaut))  # measured again: replaces its own entry only
    assert main(["evaluate-photos", str(other), "--checkpoint", str(checkpoint), "--save"]) == 0
    evaluations = load_photo_evaluations(checkpoint)
    assert evaluations["candid"]["num_photos"] == 2 and evaluations["posed"]["num_photos"] == 3
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_figures_of_a_replaced_checkpoint_are_not_loaded_as_its_own(tmp_path, class_folders):
    checkpoint = save_always(tmp_path / "run" / "best.pt", HAPPY)
    save_photo_evaluation(evaluate_photos(class_folders, checkpoint))
    assert list(load_photo_evaluations(checkpoint)) == ["posed"]
    save_always(checkpoint, SAD)  # retrained into the same file
    assert load_photo_evaluations(checkpoint) == {}
    assert load_photo_evaluations(tmp_path / "elsewhere" / "best.pt") == {}
