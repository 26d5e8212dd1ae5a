"""bench/load_test.py starts the stack from a checkout, drives it with a few uploads and prints its tables."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_the_load_test_starts_the_stack_and_reports_every_level(tmp_path):
    ran = subprocess.run(
        [sys.executable, ROOT / "bench" / "load_test.py", "--concurrency", "1,2", "--requests", "2", "--warmup", "1",
         "--no-baseline", "--faults", "0", "--inference-concurrency", "1", "--json", tmp_path / "load.json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "| server | clients | uploads | answered | failed | uploads/s | p50 ms | p90 ms | p99 ms |" in ran.stdout
    assert "CPU milliseconds per answered upload" in ran.stdout
    levels = json.loads((tmp_path / "load.json").read_text())["levels"]
    assert [(level["clients"], level["answered"], level["failed"]) for level in levels] == [(1, 2, 0), (2, 2, 0)]
    assert all(sum(level["predicted_by"].values()) == 2 for level in levels)
    assert all(level["cpu_ms_per_upload"]["inference worker"] > 0 for level in levels)
