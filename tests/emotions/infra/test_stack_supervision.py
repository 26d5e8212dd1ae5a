"""emotions.infra.stack's supervisor with small real processes: a child that dies comes back, one that keeps
crashing is given up on by name, signals stop everything, and nothing outlives a supervisor that was
SIGKILLed. (`manage.py runstack` with the real stack: test_runstack.py.)"""
import os
import signal
import subprocess
import sys

import psutil
import pytest
from emotions_test_support import wait_for

from emotions.infra import stack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# A supervisor of one child that forks a grandchild, as a prefork worker or gunicorn does.
SUPERVISOR = """
from emotions.infra import stack
children = [stack.Child("sleeper", ["sh", "-c", "sleep 600 & sleep 600"])]
stack.Supervisor(children).run_until_signalled(on_started=lambda: print("started", flush=True))
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def supervisor_process():
    process = subprocess.Popen([sys.executable, "-c", SUPERVISOR], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    assert process.stdout.readline().strip() == "started"
    descendants = wait_for(lambda: [p.pid for p in psutil.Process(process.pid).children(recursive=True)]
                           if len(psutil.Process(process.pid).children(recursive=True)) >= 4 else None,
                           10, "the watchdog, the child and its grandchild")
    yield process, descendants
    for pid in [process.pid, *descendants]:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_child_that_dies_is_restarted_with_a_line_that_says_so():
    said = []
    supervisor = stack.Supervisor([stack.Child("sleeper", ["sleep", "600"])], say=said.append)
    supervisor.start()
    try:
        first = supervisor.children[0].pid
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: supervisor.check() or supervisor.children[0].pid != first, 10, "the restart")
        assert supervisor.children[0].running
        assert said == [
            "The sleeper was killed by SIGKILL (by hand, or out of memory); restarting it in 0.5s "
            "(crash 1 of 5 allowed in 60s).",
            f"Restarted the sleeper (pid {supervisor.children[0].pid}).",
        ]
    finally:
        supervisor.stop()
    assert not supervisor.children[0].running


def test_one_that_keeps_crashing_is_given_up_on_by_name_with_its_last_words():
    crasher = stack.Child("inference worker", ["sh", "-c", "echo 'cannot load the model' >&2; exit 3"])
    policy = stack.RestartPolicy(max_crashes=3, window=60, first_delay=0.01)
    supervisor = stack.Supervisor([crasher], say=lambda line: None, policy=policy)
    supervisor.start()
    try:
        with pytest.raises(stack.GaveUp) as gave_up:
            wait_for(lambda: supervisor.check(), 20, "the supervisor to give up", interval=0.05)
    finally:
        supervisor.stop()
    message = str(gave_up.value)
    assert message.startswith("The inference worker exited with code 3: 3 crashes within 60s, so it is not restarted")
    assert "cannot load the model" in message


def test_the_backoff_doubles_up_to_its_cap():
    policy = stack.RestartPolicy(first_delay=0.5, max_delay=8)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_sigterm_and_sighup_stop_every_child(supervisor_process, signum):
    process, descendants = supervisor_process
    process.send_signal(signum)
    assert process.wait(20) == 0
    wait_for(lambda: all(gone(pid) for pid in descendants), 10, "every child to be gone")


def test_nothing_outlives_a_supervisor_killed_with_sigkill(supervisor_process):
    process, descendants = supervisor_process
    process.kill()
    process.wait()
    wait_for(lambda: all(gone(pid) for pid in descendants), 15, "every child and grandchild to be gone")


def test_a_taken_port_is_traced_to_the_process_holding_it():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        pid, described = stack.port_holder(taken.getsockname()[1])
    assert pid == os.getpid() and "python" in described and "started" in described
    assert stack.port_holder(stack.free_port()) is None


def test_exits_are_described_in_words():
    assert stack.describe_exit(1) == "exited with code 1"
    assert stack.describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV"
