"""The processor a benchmark ran on, for the line above its table (benchmarks run as scripts from bench/)."""
from __future__ import annotations

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
