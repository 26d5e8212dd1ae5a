"""bench/adapt.py: the shipped model fine-tuned on some people of a labelled photo folder, scored on the
others and on FER2013 PrivateTest, in one run, beside the raters' own reading of the held-out faces."""
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ml.classes import FER_CLASSES
from ml.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
ACTORS = ["a1", "a2", "a3", "a4", "a5", "a6"]
HELD_OUT = ["a5", "a6"]


def photo_folder(root: Path, fer2013_store) -> tuple[Path, float]:
    """Real FER2013 faces as 64x64 photos (taken as a face already), 14 per actor, with raters' readings
    that agree with the label on every other photo; returns the folder and the raters' held-out accuracy."""
    images, labels = fer2013_store.split("train")
    lines, raters_right, held_out = ["path,label,actor,vote_top,agree"], 0, 0
    for a, actor in enumerate(ACTORS):
        for i in range(14):
            face = images[a * 14 + i]
            label = FER_CLASSES[i % 7]
            agree = i % 2 == 0
            vote_top = label if agree else FER_CLASSES[(i + 1) % 7]
            path = f"{actor}/{i}.png"
            (root / actor).mkdir(parents=True, exist_ok=True)
            out = io.BytesIO()
            Image.fromarray(face).resize((64, 64)).save(out, format="PNG")
            (root / path).write_bytes(out.getvalue())
            lines.append(f"{path},{label.lower()},{actor},{vote_top.lower()},{int(agree)}")
            if actor in HELD_OUT:
                held_out += 1
                raters_right += agree
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root, raters_right / held_out


def test_the_fine_tuned_model_is_scored_on_people_it_never_saw_beside_the_shipped_one(tmp_path, fer2013_small_store):
    folder, raters_accuracy = photo_folder(tmp_path / "faces", fer2013_small_store)
    fer2013 = fer2013_small_store.save(tmp_path / "fer2013.npz")
    # The shipped schedule, cut to a few steps.
    config = TrainConfig.from_yaml(ROOT / "configs/finetune.yaml").replace(epochs=1, samples_per_epoch=64,
                                                                          batch_size=32)
    (tmp_path / "short.yaml").write_text(config.to_yaml())

    ran = subprocess.run(
        [sys.executable, ROOT / "bench/adapt.py", folder, "--group-column", "actor", "--test-groups", ",".join(HELD_OUT),
         "--data", fer2013, "--config", tmp_path / "short.yaml", "--out", tmp_path / "adapt",
         "--json", tmp_path / "adapt.json"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stderr

    held_out_faces = 14 * len(HELD_OUT)
    assert f"where the raters agree ({held_out_faces // 2} faces)" in ran.stdout
    assert f"| the raters' majority ({held_out_faces} faces rated) | {raters_accuracy:.1%}" in ran.stdout
    results = json.loads((tmp_path / "adapt.json").read_text())
    assert results["raters"]["accuracy"] == raters_accuracy == 0.5
    for model in ("baseline", "adapted"):
        row = results[model]
        assert row["held_out_faces"] == held_out_faces
        assert 0 <= row["held_out"] <= 1 and 0 <= row["held_out_raters_agree"] <= 1 and 0 <= row["private"] <= 1
        assert f"{row['held_out']:.1%} ({row['held_out_f1']:.3f}) | {row['held_out_raters_agree']:.1%} |" in ran.stdout
    assert results["fine_tune_seconds"] > 0
    assert (tmp_path / "adapt" / "run" / "best.pt").is_file()

    # The store it wrote holds the listed actors out, and given instead of the folder skips the import.
    stored = tmp_path / "adapt" / "photos.npz"
    again = subprocess.run(
        [sys.executable, ROOT / "bench/adapt.py", stored, "--group-column", "actor", "--test-groups", "a4,a5",
         "--data", fer2013, "--config", tmp_path / "short.yaml", "--out", tmp_path / "again"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "its held-out people are a5,a6, not a4,a5" in again.stderr
    assert np.load(stored)["groups"].size == 14 * len(ACTORS)
