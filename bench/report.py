"""What every benchmark reports besides its table: the processor it ran on, and its figures as JSON.

Benchmarks run as scripts, so this module is imported from bench/, beside them.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path


def cpu_name() -> str:
    """The model name Linux reports ("AMD EPYC ..."), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def save_json(path: str | Path | None, results: dict) -> None:
    """Write `results` to `path` (its folder made), for `--json`; nothing when no path was given."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
