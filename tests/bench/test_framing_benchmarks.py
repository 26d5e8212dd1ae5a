"""The crop-geometry and framing benchmarks run from a checkout and print the tables docs/photo-pipeline.md quotes."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import torch
from PIL import Image

from ml.classes import FER_CLASSES
from ml.data import FerStore
from ml.models import create_model
from ml.train.checkpoint import checkpoint_payload, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, ROOT / "bench" / script, *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def astronaut_face_store(path: Path) -> Path:
    """A store whose training faces are the astronaut's face cut as FER2013 would cut it: 48x48 gray."""
    face = Image.fromarray(skimage.data.astronaut()).convert("L").crop((150, 35, 270, 155)).resize((48, 48))
    faces = np.stack([np.asarray(face), np.asarray(face)[:, ::-1]] * 2)
    store = FerStore(images=faces, labels=np.array([3, 3, 3, 3]), splits=np.zeros(4, dtype=np.uint8),
                     class_names=FER_CLASSES, source_checksum="astronaut", report={"source": "test"})
    store.save(path)
    return path


def astronaut_photos(folder: Path) -> Path:
    """A labelled photo folder: the astronaut as "happy" and her mirror image as "sad"."""
    for label, image in (("happy", skimage.data.astronaut()), ("sad", skimage.data.astronaut()[:, ::-1])):
        (folder / label).mkdir(parents=True)
        Image.fromarray(image).save(folder / label / "a.jpg")
    return folder


def tiny_checkpoint(path: Path) -> Path:
    """An untrained ferlite at width 4: the benchmarks' tables, not their figures, are under test."""
    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=7, width=4)
    return save_checkpoint(checkpoint_payload(model, name="ferlite", options={"width": 4}, class_names=FER_CLASSES), path)


def test_crop_geometry_measures_fer2013s_framing_around_each_detectors_box(tmp_path):
    store = astronaut_face_store(tmp_path / "faces.npz")
    framings = tmp_path / "framings.json"
    ran = run_bench("crop_geometry.py", "--data", store, "--faces", 4, "--detector", "mtcnn", "--write",
                    "--framings-file", framings)
    assert ran.returncode == 0, ran.stderr
    assert "| detector | faces | found | scale (IQR) | offset_x | offset_y (IQR) | eye tilt median / p90 |" in ran.stdout
    measured = json.loads(framings.read_text())["mtcnn"]
    assert measured["found"] == 4
    # The crop is a little larger than the face: MTCNN's box covers most of it.
    assert 0.8 < measured["scale"] < 1.6 and abs(measured["offset_x"]) < 0.1


def test_framing_sweep_scores_each_framing_and_model_on_labelled_photos(tmp_path):
    photos = astronaut_photos(tmp_path / "photos")
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    ran = run_bench("framing_sweep.py", photos, "--checkpoint", checkpoint, "--only", "margin 0.0",
                    "--only", "measured, mirrored, level", "--only", "(served)", "--cache", tmp_path / "cache")
    assert ran.returncode == 0, ran.stderr
    rows = [line for line in ran.stdout.splitlines() if line.startswith("| margin") or line.startswith("| measured")]
    assert [row.split(" | ")[0] for row in rows] == [
        "| margin 0.0", "| margin 0.0, mirrored, level", "| margin 0.0, gray, level", "| margin 0.0, fit inside, level",
        "| measured, mirrored, level", "| measured, fit inside, level (served)"]
    assert all(cell.strip().endswith("%") for row in rows for cell in row.split(" | ")[2:3])
    cached = json.loads((tmp_path / "cache" / "photos-mtcnn.json").read_text())
    assert set(cached) == {"happy/a.jpg", "sad/a.jpg"} and all(face is not None for face in cached.values())


def test_prior_sweep_scores_each_exponent_and_chooses_on_public_test_only(tmp_path):
    photos = tmp_path / "photos"
    (photos / "happy").mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()).save(photos / "happy" / "a.jpg")
    rng = np.random.default_rng(0)
    train_labels = np.repeat(np.arange(7), [20, 2, 10, 40, 12, 8, 14])
    labels = np.concatenate([train_labels, np.arange(7), np.arange(7)])
    splits = np.concatenate([np.zeros(len(train_labels)), np.ones(7), np.full(7, 2)]).astype(np.uint8)
    # PrivateTest faces are blank: reading them would not fail, so the test checks the output instead.
    FerStore(images=rng.integers(0, 256, size=(len(labels), 48, 48), dtype=np.uint8), labels=labels, splits=splits,
             class_names=FER_CLASSES, source_checksum="lopsided", report={"source": "test"}).save(tmp_path / "s.npz")
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    ran = run_bench("prior_sweep.py", photos, "--checkpoint", checkpoint, "--data", tmp_path / "s.npz",
                    "--exponents", 0, 0.5, 1, "--cache", tmp_path / "cache")
    assert ran.returncode == 0, ran.stderr
    assert "| exponent | PublicTest acc | PublicTest F1 | photos acc | photos F1 |" in ran.stdout
    rows = [line for line in ran.stdout.splitlines() if line.startswith("| 0 ") or line.startswith("| 0.5 ")
            or line.startswith("| 1 ")]
    assert len(rows) == 3 and all(row.count("%") == 2 for row in rows)
    assert "Disgust 0.019" in ran.stdout  # the training prior, read from the Training split
    assert "chosen: exponent" in ran.stdout and "no lower than without a correction" in ran.stdout
    assert "Private" not in ran.stdout


def test_landmark_alignment_measures_fer2013s_landmark_template_and_scores_both_framings(tmp_path):
    store = astronaut_face_store(tmp_path / "faces.npz")
    photos = astronaut_photos(tmp_path / "photos")
    checkpoint = tiny_checkpoint(tmp_path / "tiny.pt")
    ran = run_bench("landmark_alignment.py", photos, "--data", store, "--faces", 4, "--checkpoint", checkpoint,
                    "--cache", tmp_path / "cache")
    assert ran.returncode == 0, ran.stderr
    assert "template from 4 of 4 Training faces" in ran.stdout
    template = {line.split(":")[0].strip(): tuple(map(float, line.split(":")[1].split(",")))
                for line in ran.stdout.splitlines() if line.startswith("  ") and ":" in line and "," in line}
    # A face the right way up: eyes above the nose above the mouth, the left eye on the left.
    assert template["left eye"][0] < template["nose"][0] < template["right eye"][0]
    assert template["left eye"][1] < template["nose"][1] < template["mouth left"][1]
    rows = [line for line in ran.stdout.splitlines() if line.startswith("| box x") or line.startswith("| landmarks x")]
    assert [row.split(" | ")[0] for row in rows] == [f"| {anchor} x{f}" for anchor in ("box", "landmarks")
                                                     for f in (0.8, 0.9, 1.0, 1.1, 1.2)]
    assert all(row.count("%") == 1 for row in rows)
    assert "landmarks: photos" in ran.stdout


def test_landmark_alignment_carries_a_turned_and_scaled_face_back_onto_the_template():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from landmark_alignment import aligned_crop, similarity_to
    finally:
        sys.path.remove(str(ROOT / "bench"))
    template = np.array([[0.32, 0.39], [0.69, 0.39], [0.51, 0.60], [0.35, 0.79], [0.67, 0.79]])
    turn = np.radians(12)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    in_photo = (template - 0.5) @ rotation.T * 150 + [300, 220]  # 150 pixels a side, turned, off-centre
    scale, fitted_rotation, shift = similarity_to(in_photo, template)
    assert np.allclose(scale * in_photo @ fitted_rotation.T + shift, template, atol=1e-9)
    assert np.isclose(scale, 1 / 150)
    # Draw the eyes as dark dots: after alignment they lie level, where the template puts them.
    photo = np.full((480, 640), 200, dtype=np.uint8)
    for x, y in in_photo[:2]:
        cv2.circle(photo, (round(x), round(y)), 6, 0, -1)
    crop = aligned_crop(photo, in_photo, template)
    dark_rows, dark_cols = np.nonzero(crop < 100)
    left, right = dark_cols < 24, dark_cols >= 24
    assert abs(dark_rows[left].mean() - dark_rows[right].mean()) < 1.0
    assert abs(dark_rows.mean() / 48 - 0.39) < 0.03 and abs(dark_cols[left].mean() / 48 - 0.32) < 0.03
