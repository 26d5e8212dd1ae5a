"""Threads for one prediction: this machine's cores, shared among the predictions running on it at once.

Alone on a quiet machine, a prediction takes every core (the astronaut's detect-and-classify: 29 ms on
two threads against 50 ms on one, on our 2-core machine). Two at once (the inference worker's two
processes, or a web process stepping in) get one core each: two processes of two threads each spend
their time waiting for each other's threads (160 ms each, measured), which is what made the site slower
with more clients. On a machine kept busy by other work (a training run) every prediction takes one.

A process counts as predicting while it holds an exclusive flock on a file of its own in a folder of
this machine's temporary directory; the kernel drops the lock when the process dies, so one killed
mid-prediction never counts. One prediction at a time per process (the worker's processes are
single-task, and the web process predicts one upload at a time), so torch's process-wide thread count
is this prediction's.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

FOLDER = Path(tempfile.gettempdir()) / f"fer-predicting-{os.getuid()}"

_own: dict[tuple[int, Path], int] = {}  # this process's lock file, kept open; a forked child opens its own


def _own_lock() -> int:
    key = (os.getpid(), FOLDER)
    if key not in _own:
        FOLDER.mkdir(parents=True, exist_ok=True)
        _own[key] = os.open(FOLDER / f"{os.getpid()}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    return _own[key]


def running_predictions() -> int:
    """Predictions running on this machine now, this process's included."""
    count = 0
    for path in FOLDER.glob("*.lock"):
        try:
            probe = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            count += 1
        else:
            fcntl.flock(probe, fcntl.LOCK_UN)
            _remove_if_dead(path)
        finally:
            os.close(probe)
    return count


def _remove_if_dead(path: Path) -> None:
    try:
        os.kill(int(path.stem), 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
    except (ValueError, PermissionError):
        pass


def machine_busy(cores: int) -> bool:
    """Other work keeps the cores busy (a training run, another service): then more than one thread
    only waits for a core, 177 ms instead of 3 per face (bench/predict_speed.py on a busy 2-core machine).
    Our own predictions count in the load average too, which only makes a burst of them keep to one thread
    a while longer."""
    return os.getloadavg()[0] > cores - 0.5


def threads_now(cores: int) -> int:
    threads = max(1, cores // max(1, running_predictions()))
    return 1 if threads > 1 and machine_busy(cores) else threads


@contextlib.contextmanager
def share_of_cores(cores: int):
    """Inside: torch and OpenCV use this prediction's share of `cores`."""
    import cv2
    import torch

    lock = _own_lock()
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        threads = threads_now(cores)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        yield threads
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
