"""bench/recipe_time.py: how long a recipe takes here, from a short timed run of the recipe itself."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_recipe_time_estimates_every_recipe_against_the_baseline(tmp_path, fer2013_small_store):
    store = fer2013_small_store.save(tmp_path / "fer.npz")
    configs = [ROOT / "configs/ferlite_cpu_long.yaml", ROOT / "configs/seed003_resnet18_4class.yaml"]
    ran = subprocess.run([sys.executable, ROOT / "bench/recipe_time.py", *configs, "--data", store, "--limit", "16",
                          "--json", tmp_path / "times.json"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stderr
    assert "| recipe | model | train img/s | x baseline | one epoch | epochs | estimate |" in ran.stdout
    rows = json.loads((tmp_path / "times.json").read_text())["rows"]
    assert [row["recipe"] for row in rows] == ["ferlite_cpu_long", "seed003_resnet18_4class"]
    baseline, four_class = rows
    # The estimate covers the recipe's own classes (four of seven) and its configured epochs.
    assert four_class["train_images"] < baseline["train_images"] == len(fer2013_small_store.split("train")[1])
    for row in rows:
        assert row["train_img_s"] > 0
        expected_hours = row["epoch_minutes"] * row["epochs"] / 60
        assert abs(row["total_hours"] - expected_hours) <= 0.01 * expected_hours + 0.01
    assert "`seed003_resnet18_4class` | resnet18_transfer" in ran.stdout
