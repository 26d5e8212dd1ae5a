"""A warm worker process answering one JSON line per request: the benchmark's way to time two systems alike.

Each system under comparison runs in its own process (its own interpreter and virtualenv, its own thread
settings), loads its model once, and then serves requests until told to quit; the driver times nothing
itself, the worker times its own work, so pipes and JSON never count. Standard library only: the same
file runs under our virtualenv and under the peer's.

    worker side:  serve({"classify": classify, ...})          # handler(**request) -> dict
    driver side:  with Worker([python, "bench/peer_fer_worker.py"]) as fer: fer.request("classify", path=p)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable


class WorkerError(RuntimeError):
    """The worker failed a request or died; the message carries its side of the story."""


def serve(handlers: dict[str, Callable[..., dict]]) -> None:
    """Answer requests read from stdin until 'quit' or end of input.

    Libraries print (TensorFlow, OpenCV, logging): stdout is pointed at stderr for everyone but us, so
    the only lines on the real stdout are answers.
    """
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            break
        try:
            answer = {"ok": True, **handlers[op](**request)}
        except Exception as error:  # reported to the driver, which decides whether the run can go on
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")


class Worker:
    """The driver's end: start the worker, send requests, read answers, stop it."""

    def __init__(self, command: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None):
        self.name = Path(command[1]).name if len(command) > 1 else command[0]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, **(env or {})}, cwd=cwd,
        )  # stderr is inherited: the worker's warnings and progress show where the driver's do

    def request(self, op: str, **arguments) -> dict:
        self._process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise WorkerError(f"{self.name} exited (status {self._process.wait()}) during {op!r}")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise WorkerError(f"{self.name} failed {op!r}: {answer['error']}\n{answer['traceback']}")
        return answer

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
