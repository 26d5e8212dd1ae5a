"""A prediction alone takes every core; with others running on the machine they share them, and a
process killed mid-prediction stops counting."""
import os
import signal
import subprocess
import sys

import pytest

from emotions.infra import cpu_share

REAL_MACHINE_BUSY = cpu_share.machine_busy  # kept before the fixtures replace it
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# Another process predicting: it holds its share until killed.
PREDICTING = """
import sys, time
from pathlib import Path
from emotions.infra import cpu_share
cpu_share.FOLDER = Path(sys.argv[1])
cpu_share.machine_busy = lambda cores: False
with cpu_share.share_of_cores(2) as threads:
    print(threads, flush=True)
    time.sleep(600)
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_share, "FOLDER", tmp_path / "predicting")
    monkeypatch.setattr(cpu_share, "machine_busy", lambda cores: False)  # whatever else this machine does
    return tmp_path / "predicting"


@pytest.fixture
def another_prediction(folder):
    process = subprocess.Popen([sys.executable, "-c", PREDICTING, str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "2"  # it was alone
    yield process
    process.kill()
    process.wait()


def test_a_prediction_alone_takes_every_core(folder):
    with cpu_share.share_of_cores(2) as threads:
        assert threads == 2 and cpu_share.running_predictions() == 1
    assert cpu_share.running_predictions() == 0


def test_two_at_once_take_one_core_each(another_prediction):
    import torch

    with cpu_share.share_of_cores(2) as threads:
        assert threads == 1 and torch.get_num_threads() == 1
        assert cpu_share.running_predictions() == 2


def test_a_process_killed_mid_prediction_stops_counting(another_prediction, folder):
    assert cpu_share.running_predictions() == 1
    another_prediction.send_signal(signal.SIGKILL)
    another_prediction.wait()
    assert cpu_share.running_predictions() == 0
    assert not (folder / f"{another_prediction.pid}.lock").exists()  # its file is cleared away
    with cpu_share.share_of_cores(2) as threads:
        assert threads == 2



def test_on_a_machine_busy_with_other_work_a_prediction_takes_one_core(folder, monkeypatch):
    monkeypatch.setattr(cpu_share, "machine_busy", REAL_MACHINE_BUSY)
    monkeypatch.setattr(cpu_share.os, "getloadavg", lambda: (2.3, 2.1, 2.0))  # a training run on both cores
    with cpu_share.share_of_cores(2) as threads:
        assert threads == 1


def test_the_load_average_tells_busy_from_quiet(monkeypatch):
    monkeypatch.setattr(cpu_share.os, "getloadavg", lambda: (2.3, 2.1, 2.0))
    assert REAL_MACHINE_BUSY(2)
    monkeypatch.setattr(cpu_share.os, "getloadavg", lambda: (1.2, 1.0, 0.9))  # our own predictions alone
    assert not REAL_MACHINE_BUSY(2)
