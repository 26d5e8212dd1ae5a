"""Helpers for the emotions tests: records, waiting, and the real processes of the integration tests.

(A module of its own, since tests import it by name: tests/ has no packages.)"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from django.conf import settings

from emotions.infra import stack
from emotions.models import Dataset, Experiment, TrainingRun
from emotions.training import configs
from fer_site.celery import app as celery_app


# A real browser ---------------------------------------------------------------------------------
SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


class BrowserPage:
    """A Playwright page in a context of its own on the live server, collecting every JavaScript error
    (uncaught or logged to the console) so that its fixture can fail the test on them when it closes."""

    def __init__(self, context, base_url: str, timeout_ms: int, home: str = "/"):
        context.set_default_timeout(timeout_ms)
        self.context = context
        self.page = context.new_page()
        self.page.base_url = base_url
        self.base_url = base_url
        self.home = home
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))

    def open(self, path: str | None = None):
        self.page.goto(self.base_url + (path or self.home))
        return self.page

    def screenshot(self, name: str) -> Path:
        return save_screenshot(self.page, name)

    def close_without_errors(self) -> None:
        self.context.close()
        assert self.errors == [], "JavaScript errors on the page"


def save_screenshot(page, name: str) -> Path:
    """The whole page as test-output/browser/NAME.png, for a person to look at after the run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def upload_in_browser(page, name: str, data: bytes, *, learn_from_corrections: bool = False) -> None:
    """Choose one JPEG on the upload page, as a person does, and send it; the result page follows."""
    page.goto(page.base_url + "/upload/")
    page.set_input_files('input[type="file"]', files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    if learn_from_corrections:
        page.check('input[name="learn_from_corrections"]')
    page.click("button[type=submit]")


# Records ----------------------------------------------------------------------------------------
def make_noise_store(per_split: int = 14, seed: int = 0):
    """A FerStore of random faces, two per class per split and up: enough to run ml end to end."""
    from ml.classes import FER_CLASSES
    from ml.data import FerStore

    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(FER_CLASSES)), per_split * 3 // len(FER_CLASSES) + 1)[: per_split * 3]
    return FerStore(
        images=rng.integers(0, 255, size=(per_split * 3, 48, 48), dtype=np.uint8),
        labels=labels.astype(np.int64),
        splits=np.repeat(np.arange(3, dtype=np.uint8), per_split),
        source_checksum="noise",
        report={"source": "noise"},
    )


def dataset_for(store, name: str) -> Dataset:
    relative = f"datasets/{name}.npz"
    if not (Path(settings.MEDIA_ROOT) / relative).exists():
        store.save(Path(settings.MEDIA_ROOT) / relative)
    return Dataset.objects.create(
        name=name, source_name=f"{name}.zip", source_checksum=store.source_checksum, store_file=relative,
        class_names=list(store.class_names), counts=store.counts(), report=store.report,
    )


def tiny_config(**changes) -> dict:
    """The cnn3 preset cut down to seconds on a CPU."""
    config = configs.load_preset("seed002_cnn3")
    config.update(epochs=2, batch_size=32, limit=300, device="cpu", num_workers=0, deterministic=False)
    config.update(changes)
    return configs.resolve(config)


def make_experiment(dataset: Dataset, name: str = "tiny cnn3", **changes) -> Experiment:
    return Experiment.objects.create(name=name, config=tiny_config(**changes), dataset=dataset)



def save_tiny_checkpoint(path: Path) -> Path:
    """A ferlite of width 8 with seeded random weights, in the layout ml's load_model reads: the shipped
    model of the upload, video and live tests."""
    import torch

    from ml.classes import FER_CLASSES
    from ml.models import create_model
    from ml.train.checkpoint import checkpoint_payload, save_checkpoint

    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=len(FER_CLASSES), width=8)
    return save_checkpoint(checkpoint_payload(model, name="ferlite", options={"width": 8}, class_names=FER_CLASSES), path)

def succeeded_run(experiment: Experiment, checkpoint: Path) -> TrainingRun:
    """A run recorded as succeeded, with a copy of `checkpoint` as its model."""
    import shutil

    run = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="succeeded")
    run.out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint, run.out_dir / "best.pt")
    run.checkpoint = f"{run.out_dir_name}/best.pt"
    run.save()
    return run


# Waiting ----------------------------------------------------------------------------------------
def wait_for(condition, timeout: float, message: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)


def wait_for_run(run: TrainingRun, condition, timeout: float, message: str) -> TrainingRun:
    def check():
        run.refresh_from_db()
        return condition(run)

    try:
        wait_for(check, timeout, message)
    except AssertionError as error:
        raise AssertionError(f"{error}; run is {run.status}, epoch {run.epoch}, error {run.error!r}\n{run.log_tail(30)}") from None
    return run


# Processes --------------------------------------------------------------------------------------
def point_celery_at(url: str) -> None:
    """Send this process's tasks to `url`. Celery reads the broker URL once and pools connections to it,
    so both are reset (as Celery itself does after a fork)."""
    celery_app.conf.broker_url = url
    celery_app._after_fork()


class RedisServer:
    def __init__(self, directory: Path):
        self.port = stack.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.child: stack.Child | None = None

    def start(self) -> RedisServer:
        self.child = stack.Child(
            "redis", stack.redis_server_command(self.port, self.directory), log_path=self.directory / "redis.log"
        ).start()
        stack.wait_for_redis(self.url)
        return self

    def stop(self) -> None:
        self.child.kill()


class PostgresServer:
    """A throw-away PostgreSQL server from Debian's `postgresql` package: a cluster made with initdb in a
    temporary folder, listening on a free 127.0.0.1 port, gone with the folder at stop(). Durability is
    off (fsync, synchronous commit): nothing here outlives the test run."""

    def __init__(self):
        import tempfile

        self.bin_dir = postgres_bin_dir()
        # Not under pytest's tmp_path: as root that is private to root, and the server runs as postgres.
        self.directory = Path(tempfile.mkdtemp(prefix="fer-test-postgresql-"))
        self.port = stack.free_port()
        self.child: stack.Child | None = None
        # PostgreSQL refuses to run as root; Debian's package made the account it runs as.
        self.user = "postgres" if os.geteuid() == 0 else None

    def start(self) -> PostgresServer:
        import shutil
        import subprocess

        data, sockets = self.directory / "data", self.directory / "sockets"
        sockets.mkdir(parents=True)
        if self.user:
            shutil.chown(self.directory, self.user)
            shutil.chown(sockets, self.user)
        made = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            capture_output=True, text=True, preexec_fn=stack._child_setup(True, self.user),
        )
        if made.returncode:
            raise RuntimeError(f"initdb failed:\n{made.stdout}{made.stderr}")
        command = [
            str(self.bin_dir / "postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1",
            "-k", str(sockets), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]
        self.child = stack.Child("postgresql", command, log_path=self.directory / "postgresql.log", user=self.user)
        self.child.start()
        wait_for(self._answers, 60, f"PostgreSQL on port {self.port}")
        return self

    def _answers(self) -> bool:
        import psycopg

        assert self.child.running, self.child.log_text()
        try:
            psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def database_settings(self, name: str = "fer") -> dict:
        return {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": "postgres", "PASSWORD": "",
                "HOST": "127.0.0.1", "PORT": str(self.port), "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False,
                "OPTIONS": {}, "TEST": {"NAME": f"test_{name}"}}

    def stop(self) -> None:
        import shutil
        import signal

        if self.child is not None:
            self.child.signal(signal.SIGINT)  # a fast shutdown: SIGTERM's waits for every client to leave
            self.child.wait_or_kill(30)
        shutil.rmtree(self.directory, ignore_errors=True)


def postgres_bin_dir() -> Path:
    """Where Debian keeps initdb and postgres (not on PATH): the newest /usr/lib/postgresql/<version>/bin."""
    import shutil

    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (make test installs it)")


def database_url() -> str:
    """The test database as a DATABASE_URL, for the worker processes the integration tests start."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return f"sqlite:///{database['NAME']}"


class Stack:
    """Workers and beat for one test module, run against `redis` with the test database and media. As a
    context manager it also points this process's Celery at `redis`, and at the end stops what it started
    and points Celery back."""

    def __init__(self, redis: RedisServer, directory: Path):
        self.redis = redis
        self.directory = directory
        self.media = directory / "media"
        self.children: list[stack.Child] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fer_site.settings",
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(self.media),
            "VAR_DIR": str(directory),
            "REDIS_URL": redis.url,
            "TRAINING_HEARTBEAT_SECONDS": "0.5",
            "TRAINING_STALE_AFTER_SECONDS": "3",
            "SWEEP_INTERVAL_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }

    def start_worker(self, name: str = "training@test") -> stack.Child:
        # One solo worker on both queues: it trains, and between runs it also does the sweep.
        log = self.directory / f"{name.replace('@', '-')}-{len(self.children)}.log"
        command = stack.celery_command(*stack.training_worker_args(name=name, queues="training,inference"))
        worker = stack.Child(name, command, self.env, log_path=log).start()
        self.children.append(worker)
        wait_for(lambda: " ready." in worker.log_text() or not worker.running, 90, f"worker {name} to start")
        assert worker.running, worker.log_text()
        return worker

    def start_inference_worker(self, name: str = "inference@test", concurrency: int = 1) -> stack.Child:
        """A prefork worker on the `inference` queue only, started as `manage.py runstack` starts one."""
        log = self.directory / f"{name.replace('@', '-')}-{len(self.children)}.log"
        worker = stack.Child(name, stack.celery_command(*stack.inference_worker_args(concurrency, name=name)), self.env,
                             log_path=log).start()
        self.children.append(worker)
        wait_for(lambda: " ready." in worker.log_text() or not worker.running, 90, f"worker {name} to start")
        assert worker.running, worker.log_text()
        return worker

    def start_beat(self) -> stack.Child:
        command = stack.celery_command("beat", "-l", "INFO", "-s", str(self.directory / "beat-schedule"))
        beat = stack.Child("beat", command, self.env, log_path=self.directory / "beat.log").start()
        self.children.append(beat)
        return beat

    def running_workers(self) -> list[stack.Child]:
        return [child for child in self.children if child.running and child.name != "beat"]

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop(timeout=5)

    def __enter__(self) -> Stack:
        point_celery_at(self.redis.url)
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
        point_celery_at(settings.CELERY_BROKER_URL)


# Talking to a running stack -----------------------------------------------------------------------
def post_photo(url: str, data: bytes, name: str = "photo.jpg", timeout: float = 90) -> tuple[int, dict]:
    """POST `data` as the multipart field `image`, as curl -F does; (HTTP status, JSON body).
    Connection errors (a server that is down or was killed mid-request) are raised as OSError."""
    import http.client
    import json
    import urllib.parse
    import uuid

    boundary = uuid.uuid4().hex
    body = b"".join([
        f"--{boundary}\r\n".encode(),
        f'Content-Disposition: form-data; name="image"; filename="{name}"\r\n'.encode(),
        b"Content-Type: image/jpeg\r\n\r\n", data, f"\r\n--{boundary}--\r\n".encode(),
    ])
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", f"{parts.path}?{parts.query}", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()
