"""bench/video_throughput.py runs from a checkout on a tiny video and prints its table (figures go in the README)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_video_throughput_times_the_served_path_against_its_baselines(tmp_path):
    ran = subprocess.run(
        [sys.executable, ROOT / "bench" / "video_throughput.py", "--seconds", "1", "--video-fps", "8", "--size", "320x240",
         "--every-frame-seconds", "0.5", "--threads", "1", "--json", tmp_path / "video.json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert ran.returncode == 0, ran.stderr
    assert "| measurement | video s | frames | faces | wall s | CPU s | frames/s | x real time |" in ran.stdout
    rows = {row["measurement"]: row for row in json.loads((tmp_path / "video.json").read_text())["rows"]}
    served, one_by_one = rows["fps 4, 8 frames per batch (as served)"], rows["fps 4, one frame at a time (baseline)"]
    assert served["frames"] == one_by_one["frames"] == 4 and served["faces"] == one_by_one["faces"] == 8  # two faces
    every = rows["every frame (8 fps), 8 per batch (baseline)"]
    assert every["frames"] == 4 and every["video_seconds"] == 0.5
    assert rows["decoding and sampling at fps 4 alone"]["frames"] == 4
    assert all(row["frames_per_s"] > 0 for row in rows.values())
