"""bench/peer_compare.py: the parts that need no TensorFlow always; a whole tiny run where fer's venv exists.

CI never installs TensorFlow for this: the end-to-end test runs only where a developer has already made
fer's virtualenv (var/peer-venv, as the benchmark makes it on its first run).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import peer_compare  # noqa: E402
from jsonl_worker import Worker, WorkerError  # noqa: E402
from peer_fer_worker import box_for_whole_image, largest_face, top_emotion  # noqa: E402

HAPPY, SAD, NEUTRAL = 3, 4, 6
PEER_VENV = ROOT / "var" / "peer-venv"


def test_a_photo_without_a_face_is_a_miss_when_strict_and_its_whole_image_counts_otherwise():
    labels = [HAPPY, SAD, NEUTRAL]
    largest = [HAPPY, None, SAD]  # no face found in the second photo
    whole = [None, SAD, None]
    scored = peer_compare.score_photos(labels, largest, whole)
    assert scored["strict"]["accuracy"] == pytest.approx(1 / 3)
    assert scored["strict"]["per_class"]["Sad"]["recall"] == 0
    assert scored["strict"]["per_class"]["Sad"]["precision"] == 0  # the neutral photo called sad
    assert scored["whole_image_fallback"]["accuracy"] == pytest.approx(2 / 3)
    assert scored["whole_image_fallback"]["per_class"]["Sad"]["recall"] == 1


def test_fers_labels_map_onto_our_classes_by_name():
    assert peer_compare.class_indices(["angry", "neutral", None, "Happy"]) == [0, NEUTRAL, None, HAPPY]


def test_fer_is_given_a_crop_as_a_box_that_its_offsets_widen_back_to_the_whole_crop():
    assert box_for_whole_image(48, 48) == (10, 10, 28, 28)  # fer cuts x-10 .. x+w+10: exactly 0..48
    assert box_for_whole_image(300, 200) == (10, 10, 280, 180)
    assert box_for_whole_image(16, 40) == (0, 0, 16, 40)  # too small to inset


def test_the_largest_face_and_fers_top_emotion_take_the_first_of_equals():
    faces = [{"box": (0, 0, 10, 10), "emotions": {}}, {"box": (5, 5, 20, 5), "emotions": {}},
             {"box": (50, 50, 4, 25), "emotions": {}}]
    assert largest_face(faces) is faces[0]
    assert largest_face([]) is None
    assert top_emotion({"angry": 0.1, "sad": 0.45, "happy": 0.45}) == "sad"


def test_the_table_shows_both_systems_for_every_measurement():
    def metrics(accuracy, macro_f1, n=10):
        return {"accuracy": accuracy, "macro_f1": macro_f1, "num_samples": n}

    photos = {"num_photos": 1232, "skipped": [], "no_face": 3,
              "strict": metrics(0.393, 0.30), "whole_image_fallback": metrics(0.40, 0.31)}
    theirs = {**photos, "no_face": 40, "skipped": [{"path": "a.jpg", "reason": "OpenCV cannot decode it"}]}
    results = {
        "environment": {
            "cpu": "AMD EPYC", "cores": 2, "load_average_start": 1.0, "load_average": 1.5, "threads": 2,
            "date": "2026-12-01", "code": "abc1234", "seconds": 600, "checkpoint": "ml/weights/default.pt",
            "checkpoint_sha256": "286a0f8c014c1d10",
            "ours": {"model": "ferlite", "detector": "mtcnn", "torch": "2.14.1", "opencv": "4.14.0",
                     "python": "3.11.7"},
            "fer": {"fer": "25.10.3", "tensorflow": "2.21.0", "opencv": "4.14.0", "python": "3.11.7",
                    "detector": "OpenCV Haar cascade", "classifier": "TFLite"},
        },
        "privatetest": {"ours": metrics(0.697, 0.678, 3589), "fer": metrics(0.658, 0.641, 3589)},
        "devsets": {"twpfe": {"ours": photos, "fer": theirs}},
        "astronaut": {"ours": {"median_ms": 52.1, "p90_ms": 55.0, "runs": 30},
                      "fer": {"median_ms": 80.0, "p90_ms": 90.5, "runs": 30}},
    }
    table = peer_compare.markdown(results)
    assert "| accuracy (macro-F1) | ours (ferlite) | fer 25.10.3 |" in table
    assert "| FER2013 PrivateTest, 3,589 crops 48x48 | 69.7% (0.678) | 65.8% (0.641) |" in table
    strict = "| twpfe, 1,232 photos, largest face, strict (no face = miss) | 39.3% (0.300) | 39.3% (0.300) |"
    assert strict in table
    assert "| twpfe, whole image where no face was found | 40.0% (0.310) | 40.0% (0.310) |" in table
    assert "| twpfe, photos with no face found | 3 | 40 |" in table
    assert "| twpfe, photos skipped as unreadable | 0 | 1 |" in table
    assert "median ms (p90), 30 runs | 52.1 (55.0) | 80.0 (90.5) |" in table
    assert "AMD EPYC (2 cores" in table and "the run took 10 min" in table


def test_a_worker_answers_each_request_on_its_own_line_and_reports_its_failures():
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from jsonl_worker import serve\n"
        "def chatty(n):\n"
        "    print('a library printing to stdout')\n"
        "    return {'twice': 2 * n}\n"
        "def broken():\n"
        "    raise ValueError('no such face')\n"
        "serve({'chatty': chatty, 'broken': broken})\n"
    )
    with Worker([sys.executable, "-c", script, str(ROOT / "bench")]) as worker:
        assert worker.request("chatty", n=21) == {"twice": 42}
        with pytest.raises(WorkerError, match="no such face"):
            worker.request("broken")
        assert worker.request("chatty", n=1) == {"twice": 2}  # still serving


def test_skip_install_fails_clearly_when_fers_venv_is_missing(tmp_path):
    ran = subprocess.run([sys.executable, ROOT / "bench/peer_compare.py", "--skip-install",
                          "--peer-venv", tmp_path / "no-venv"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ran.returncode != 0
    assert "has no working fer" in ran.stderr and "run without --skip-install" in ran.stderr


@pytest.mark.fer2013
@pytest.mark.skipif(not peer_compare.peer_is_ready(PEER_VENV), reason="fer's venv (var/peer-venv) is not installed")
def test_a_tiny_run_measures_both_systems_on_the_same_faces_and_photos(tmp_path, fer2013_small_store):
    import skimage.data
    from PIL import Image

    fer2013_small_store.subsample(max_per_split=30, seed=0).save(tmp_path / "store.npz")
    photos = {"happy/astronaut.jpg": skimage.data.astronaut(), "neutral/coffee.jpg": skimage.data.coffee()}
    for name, pixels in photos.items():
        (tmp_path / "photos" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "photos" / name)
    arguments = ["--skip-install", "--peer-venv", PEER_VENV, "--store", tmp_path / "store.npz",
                 "--devsets", tmp_path / "photos", "--photo-runs", 2, "--warmup", 1, "--json", tmp_path / "peer.json"]
    ran = subprocess.run(
        [sys.executable, ROOT / "bench/peer_compare.py", *map(str, arguments)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert ran.returncode == 0, ran.stderr
    assert "| FER2013 PrivateTest, 30 crops 48x48 |" in ran.stdout
    results = json.loads((tmp_path / "peer.json").read_text())
    assert results["privatetest"]["fer"]["num_samples"] == results["privatetest"]["ours"]["num_samples"] == 30
    for system in ("ours", "fer"):
        photos = results["devsets"]["photos"][system]
        assert photos["num_photos"] == 2 and photos["no_face"] == 1  # the coffee cup
        assert results["astronaut"][system]["faces_found"] == 1 and results["astronaut"][system]["runs"] == 2
