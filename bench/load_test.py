"""Uploads per second the whole stack answers, on loopback, with 1, 4, 8 and 16 clients at once.

Each client posts scikit-image's astronaut (512x512 JPEG, one face) to `POST /api/predictions/?wait=1`
and sends its next upload as soon as it has the answer; every level sends a bounded number of uploads.
An upload counts as answered when it comes back 201 with status "done"; anything else (another status,
a connection error, a timeout) counts as failed. The table gives throughput, latency percentiles and
which process predicted (the inference worker or the web process's fallback).

By default it starts the stack itself (`manage.py runstack` on free ports, a throw-away VAR_DIR) twice:
as `make run` serves it, and as a baseline in the same run with untuned serving settings (Django's
runserver (without its reloader), 2 torch threads per process, the web process stepping in after 3 s
unclaimed). On the first
it then runs the failure rows: 4 clients for 20 s while the inference worker, then Redis, is
SIGKILLed 4 s in (runstack restarts it; the uploads must all be answered anyway).

    python bench/load_test.py                                   # both stacks, 1/4/8/16 clients
    python bench/load_test.py --concurrency 8 --requests 100 --no-baseline
    python bench/load_test.py --url http://127.0.0.1:8000       # a stack already running
"""
from __future__ import annotations

import argparse
import collections
import http.client
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from report import cpu_name  # bench/, beside this script

ROOT = Path(__file__).resolve().parent.parent
API = "/api/predictions/?wait=1"

# Untuned serving settings, for the baseline stack.
BASELINE_ENV = {"INFERENCE_THREADS": "2", "INFERENCE_SHARE_CORES": "0", "INFERENCE_WORKER_TIMEOUT_SECONDS": "3",
                "GOMP_SPINCOUNT": "300000"}  # libgomp's own default


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running stack's address; default: start one (and the baseline)")
    parser.add_argument("--concurrency", default="1,4,8,16", help="clients at once, comma-separated levels")
    parser.add_argument("--requests", type=int, default=0,
                        help="uploads per level (default: 12 per client, at least 20)")
    parser.add_argument("--warmup", type=int, default=6, help="uploads before measuring, to load the models")
    parser.add_argument("--no-baseline", action="store_true", help="only the stack as `make run` serves it")
    parser.add_argument("--baseline-only", action="store_true", help="only the baseline stack")
    parser.add_argument("--inference-concurrency", type=int, default=2, help="for the stacks it starts")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one upload may take")
    parser.add_argument("--faults", type=float, default=20,
                        help="seconds of uploads (4 clients) with the inference worker, then Redis, SIGKILLed 4 s "
                             "in; 0 skips (only with a stack of its own)")
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args(argv)


# One upload -----------------------------------------------------------------------------------------
def astronaut_jpeg() -> bytes:
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def multipart(photo: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join([
        f"--{boundary}\r\n".encode(),
        b'Content-Disposition: form-data; name="image"; filename="astronaut.jpg"\r\n',
        b"Content-Type: image/jpeg\r\n\r\n", photo, f"\r\n--{boundary}--\r\n".encode(),
    ])
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Outcome:
    seconds: float
    answered: bool
    predicted_by: str = ""
    problem: str = ""


def upload(base_url: str, body: bytes, content_type: str, timeout: float) -> Outcome:
    parts = urllib.parse.urlsplit(base_url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("POST", API, body, {"Content-Type": content_type})
        response = connection.getresponse()
        payload = response.read()
        seconds = time.perf_counter() - started
        try:
            answer = json.loads(payload)
        except ValueError:
            return Outcome(seconds, False, problem=f"HTTP {response.status}, not JSON")
        if response.status == 201 and answer.get("status") == "done":
            return Outcome(seconds, True, predicted_by=answer.get("predicted_by") or "")
        return Outcome(seconds, False, problem=f"HTTP {response.status}, {answer.get('status') or answer.get('error')}")
    except OSError as error:
        return Outcome(time.perf_counter() - started, False, problem=f"{type(error).__name__}: {error}")
    finally:
        connection.close()


# One level ------------------------------------------------------------------------------------------
@dataclass
class Level:
    server: str
    clients: int
    requests: int
    answered: int
    failed: int
    seconds: float
    per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    predicted_by: dict[str, int] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)
    load_average: float = 0.0
    cpu_ms_per_upload: dict[str, float] = field(default_factory=dict)  # by process of the stack


def drive(base_url: str, photo: bytes, clients: int, requests: int, timeout: float,
          seconds: float | None = None) -> tuple[list[Outcome], float]:
    """`clients` threads, each sending its next upload when it has its answer: `requests` in all, or
    as many as they start within `seconds`."""
    body, content_type = multipart(photo)
    left = iter(range(requests))
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    stop_at = time.perf_counter() + seconds if seconds else None

    def client() -> None:
        while True:
            with lock:
                if stop_at is not None:
                    if time.perf_counter() >= stop_at:
                        return
                elif next(left, None) is None:
                    return
            outcome = upload(base_url, body, content_type, timeout)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - started


def measure(server: str, base_url: str, photo: bytes, clients: int, requests: int, timeout: float,
            stack: StartedStack | None = None, for_seconds: float | None = None) -> Level:
    load = os.getloadavg()[0]
    cpu_before = stack.cpu_seconds() if stack else {}
    outcomes, seconds = drive(base_url, photo, clients, requests, timeout, for_seconds)
    cpu_after = stack.cpu_seconds() if stack else {}
    requests = len(outcomes)
    answered = [o for o in outcomes if o.answered]
    latencies = np.array([o.seconds * 1000 for o in answered]) if answered else np.array([np.nan])
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    return Level(
        server=server, clients=clients, requests=requests, answered=len(answered),
        failed=len(outcomes) - len(answered), seconds=round(seconds, 2),
        per_second=round(len(answered) / seconds, 2), p50_ms=round(float(p50), 1), p90_ms=round(float(p90), 1),
        p99_ms=round(float(p99), 1),
        predicted_by=dict(collections.Counter(o.predicted_by for o in answered)),
        problems=dict(collections.Counter(o.problem for o in outcomes if not o.answered)),
        load_average=round(load, 2),
        cpu_ms_per_upload={name: round((cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / max(1, len(answered)), 1)
                           for name in cpu_after},
    )


# A stack of its own ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


PROCESS_NAMES = [("-Q inference", "inference worker"), ("-Q training", "training worker"), ("beat", "beat"),
                 ("redis-server", "Redis"), ("gunicorn", "web server"), ("runserver", "web server")]


class StartedStack:
    """`manage.py runstack` on free ports with a throw-away VAR_DIR, stopped with Ctrl-C's signal."""

    def __init__(self, name: str, extra_args: list[str], extra_env: dict[str, str], inference_concurrency: int):
        self.name = name
        self.directory = Path(tempfile.mkdtemp(prefix="load-test-"))
        self.web_port, redis_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        env = {key: value for key, value in os.environ.items()
               if key not in ("REDIS_URL", "DATABASE_URL", "MEDIA_ROOT", "DJANGO_SETTINGS_MODULE")}
        env.update(VAR_DIR=str(self.directory), **extra_env)
        self.log = self.directory / "runstack.log"
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "runstack", f"127.0.0.1:{self.web_port}",
                 "--redis-port", str(redis_port), "--inference-concurrency", str(inference_concurrency), *extra_args],
                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait_until_serving(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while True:
            text = self.log.read_text(errors="replace")
            if answers(f"{self.url}/admin/login/") and "inference@" in text and text.count(" ready.") >= 2:
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} stack did not come up; its log:\n{text[-3000:]}")
            time.sleep(1)

    def child(self, marker: str):
        """The supervisor's direct child whose command line contains `marker`, as a psutil.Process."""
        import psutil

        for child in psutil.Process(self.process.pid).children():
            try:
                if marker in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                continue
        return None

    def kill_later(self, marker: str, after: float) -> threading.Thread:
        def kill() -> None:
            time.sleep(after)
            victim = self.child(marker)
            if victim is not None:
                victim.send_signal(signal.SIGKILL)

        thread = threading.Thread(target=kill, daemon=True)
        thread.start()
        return thread

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each process of the stack has used so far, with what it forked: where
        the time of an upload goes, measured rather than guessed."""
        import psutil

        totals: dict[str, float] = collections.defaultdict(float)
        for child in psutil.Process(self.process.pid).children():
            try:
                command = " ".join(child.cmdline())
                name = next((name for marker, name in PROCESS_NAMES if marker in command), "other")
                for process in [child, *child.children(recursive=True)]:
                    times = process.cpu_times()
                    totals[name] += times.user + times.system
            except psutil.Error:
                continue
        return dict(totals)

    def events(self) -> list[str]:
        """runstack's own lines after start-up: restarts, and a give-up with its reason."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if line.startswith(("The ", "Restarted ", "CommandError"))
                or (line and not line[0].isspace() and " | " not in line and "Error" in line)]

    def stop(self) -> None:
        for line in self.events():
            print(f"    {self.name}: {line}", flush=True)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


# The report -----------------------------------------------------------------------------------------
def machine() -> str:
    return f"{os.cpu_count()} cores, {cpu_name()}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def table(levels: list[Level]) -> str:
    lines = [
        "| server | clients | uploads | answered | failed | uploads/s | p50 ms | p90 ms | p99 ms | predicted by | load avg |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for level in levels:
        by = ", ".join(f"{name or '?'} {count}" for name, count in sorted(level.predicted_by.items())) or "-"
        lines.append(
            f"| {level.server} | {level.clients} | {level.requests} | {level.answered} | {level.failed} | "
            f"{level.per_second:.1f} | {level.p50_ms:,.0f} | {level.p90_ms:,.0f} | {level.p99_ms:,.0f} | {by} | "
            f"{level.load_average:.1f} |"
        )
    return "\n".join(lines)


def run_levels(server: str, url: str, photo: bytes, args, levels: list[int],
               stack: StartedStack | None = None) -> list[Level]:
    if args.warmup:
        drive(url, photo, min(2, args.warmup), args.warmup, args.timeout)
    results = []
    for clients in levels:
        requests = args.requests or max(20, 12 * clients)
        level = measure(server, url, photo, clients, requests, args.timeout, stack)
        print(table([level]).splitlines()[-1], flush=True)
        if level.problems:
            print(f"    failures: {level.problems}", flush=True)
        results.append(level)
    return results


FAULTS = [("-Q inference", "inference worker"), ("redis-server", "Redis")]


def run_faults(server: str, stack: StartedStack, photo: bytes, args) -> list[Level]:
    """The failure rows: 4 clients, one process SIGKILLed 4 s in; runstack restarts it."""
    results = []
    for marker, victim in FAULTS:
        ready_before = stack.log.read_text(errors="replace").count(" ready.")
        killer = stack.kill_later(marker, 4.0)
        # No CPU figures: a killed process takes its CPU time with it.
        level = measure(f"{server}, {victim} SIGKILLed after 4 s", stack.url, photo, 4, 0, args.timeout,
                        for_seconds=args.faults)
        killer.join()
        print(table([level]).splitlines()[-1], flush=True)
        if level.problems:
            print(f"    failures: {level.problems}", flush=True)
        results.append(level)
        if victim == "inference worker":  # back before the next fault, so each row shows one fault
            deadline = time.monotonic() + 180
            while stack.log.read_text(errors="replace").count(" ready.") <= ready_before and time.monotonic() < deadline:
                time.sleep(1)
    return results


def cpu_table(levels: list[Level]) -> str:
    names = sorted({name for level in levels for name in level.cpu_ms_per_upload})
    if not names:
        return ""
    lines = [f"| server | clients | {' | '.join(names)} | total |", "| --- | ---: |" + " ---: |" * (len(names) + 1)]
    for level in levels:
        if not level.cpu_ms_per_upload:
            continue
        spent = [level.cpu_ms_per_upload.get(name, 0.0) for name in names]
        lines.append(f"| {level.server} | {level.clients} | {' | '.join(f'{ms:.0f}' for ms in spent)} | {sum(spent):.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    levels = [int(value) for value in args.concurrency.split(",") if value.strip()]
    photo = astronaut_jpeg()
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the start")
    print(f"Photo: skimage.data.astronaut, 512x512 JPEG ({len(photo):,} bytes), POST {API}\n")
    print(table([]), flush=True)

    results: list[Level] = []
    if args.url:
        results += run_levels("running stack", args.url.rstrip("/"), photo, args, levels)
    else:
        stacks = [] if args.baseline_only else [("gunicorn (make run)", [], {})]
        if not args.no_baseline:
            # Without its reloader: an edit to the code during the run would restart it mid-measurement.
            stacks.append(("runserver, 2 threads (baseline)", ["--dev-server", "--no-reload"], BASELINE_ENV))
        for name, extra_args, extra_env in stacks:
            started = StartedStack(name, extra_args, extra_env, args.inference_concurrency)
            try:
                started.wait_until_serving()
                results += run_levels(name, started.url, photo, args, levels, started)
                if args.faults and not extra_args:
                    results += run_faults(name, started, photo, args)
            finally:
                started.stop()

    print()
    print(table(results))
    if cpu_table(results):
        print("\nCPU milliseconds per answered upload, by process of the stack (with what each forked):\n")
        print(cpu_table(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "machine": machine(), "photo": "skimage.data.astronaut, JPEG quality 90", "endpoint": API,
            "levels": [asdict(level) for level in results],
        }, indent=2))
    return 0 if all(level.failed == 0 for level in results) else 1


if __name__ == "__main__":
    sys.exit(main())
