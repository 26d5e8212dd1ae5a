"""The benchmark scripts run from a checkout and print their tables (their figures go in the README)."""
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, ROOT / "bench" / script, *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_train_speed_compares_both_data_paths_for_each_model(tmp_path):
    ran = run_bench("train_speed.py", "--device", "cpu", "--models", "ferlite,cnn3", "--steps", 1, "--warmup", 0,
                    "--batch-size", 8, "--workers", 0, "--json", tmp_path / "speed.json")
    assert ran.returncode == 0, ran.stderr
    assert "| model | params | input | DataLoader img/s | device-resident img/s | speed-up |" in ran.stdout
    rows = json.loads((tmp_path / "speed.json").read_text())["rows"]
    assert [row["model"] for row in rows] == ["ferlite", "cnn3"]
    assert all(row["dataloader_img_s"] > 0 and row["device_img_s"] > 0 for row in rows)


def test_predict_speed_times_the_shipped_model_against_its_baselines(tmp_path):
    ran = run_bench("predict_speed.py", "--checkpoint", ROOT / "ml/weights/default.pt", "--face-runs", 3,
                    "--batch-runs", 1, "--photo-runs", 1, "--json", tmp_path / "predict.json")
    assert ran.returncode == 0, ran.stderr
    rows = json.loads((tmp_path / "predict.json").read_text())["rows"]
    measured = {(row["measurement"], row["model"]) for row in rows}
    checkpoint = torch.load(ROOT / "ml/weights/default.pt", weights_only=True)
    shipped = checkpoint["model"]["name"]  # ferlite, ensemble...
    precision = "int8" if "int8_calibration" in checkpoint else "float32"
    assert ("one face (batch 1)", f"{shipped} (deployed, {precision})") in measured
    assert ("one face (batch 1)", f"{shipped}, not optimized (baseline)") in measured
    if precision == "int8":  # what quantising buys, beside the same model in float
        assert ("one face (batch 1)", f"{shipped}, float (baseline)") in measured
    upload = next(row for row in rows if row["measurement"] == "upload, faces detected")
    assert upload["faces_found"] == 1  # the astronaut's face


def test_face_detection_compares_the_detectors_on_each_photo_set(tmp_path):
    import skimage.data
    from PIL import Image

    for name, pixels in (("faces/a.jpg", skimage.data.astronaut()), ("faces/b/c.png", skimage.data.coffee())):
        (tmp_path / "sets" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "sets" / name)
    ran = run_bench("face_detection.py", tmp_path / "sets", "--astronaut-runs", 1, "--astronaut-threads", 1,
                    "--json", tmp_path / "faces.json")
    assert ran.returncode == 0, ran.stderr
    assert "| set | detector | photos with a face | photos with more than one | median ms | p90 ms |" in ran.stdout
    results = json.loads((tmp_path / "faces.json").read_text())
    rows = {row["detector"]: row for row in results["sets"]["faces"]}
    assert list(rows) == ["Haar cascade", "MTCNN", "MTCNN, Haar where it finds none"]
    assert all(row["photos"] == 2 and row["with_a_face"] == 1 and row["with_more_than_one"] == 0 for row in rows.values())
    assert [row["faces"] for row in results["astronaut"]] == [1, 1, 1]
