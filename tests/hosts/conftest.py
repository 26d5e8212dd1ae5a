"""The stack on six hosts: `db` (PostgreSQL), `broker` (Redis), `web` (gunicorn, production settings),
`cpu` (the inference worker and beat), `gpu1` and `gpu2` (a training worker each), plus `client`, where
the people and programs using the site stand. Configured as deploy/README.md tells a user: the site's
settings in one environment file per host (DATABASE_URL, REDIS_URL, MEDIA_ROOT, ...), the services
started from the systemd units in deploy/, the shared folder mounted at a different path on each host.

Timings are shortened through the settings' own variables, so a host that goes away is noticed in
seconds. Everything made here (namespaces, processes, folders) goes at the end, also when a test fails
or the run is interrupted; what a killed run left is removed when the next one starts."""
from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hosts_support import (
    DEPLOY,
    PREFIX,
    SITE,
    Browser,
    Client,
    Host,
    Network,
    PostgreSQL,
    Redis,
    Sql,
    Unit,
    clean_leftovers,
    finish,
    postgres_bin_dir,
    read_env_file,
    wait_for,
    why_hosts_cannot_be_made,
)

from emotions.infra import stack

STAFF = ("operator", "operator-password-for-the-hosts-test")
CLOCK_OFFSET = "-5m"  # gpu2's clock runs five minutes behind everybody else's
# Shortened through the settings' own variables: a silent host is noticed in seconds, not minutes.
TIMINGS = {
    "TRAINING_HEARTBEAT_SECONDS": "1",
    "TRAINING_STALE_AFTER_SECONDS": "12",
    "SWEEP_INTERVAL_SECONDS": "1",
    "INFERENCE_STALE_SECONDS": "10",
    "DATABASE_TIMEOUT_SECONDS": "5",
}


def _missing(message: str):
    if os.environ.get("CI"):  # CI must run these, never pass by skipping them
        pytest.fail(message)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class Site:
    """The running stack: its hosts, their processes, and the ways in (a staff browser, SQL, Redis)."""

    def __init__(self, run_dir: Path, network: Network, client: Client):
        self.run_dir = run_dir
        self.network = network
        self.client = client
        self.shared = run_dir / "shared"  # the NFS export every app host mounts
        self.shared.mkdir()
        clock = CLOCK_OFFSET if shutil.which("faketime") else None
        self.clock_skewed = clock is not None
        self.hosts = {name: Host(network, name, run_dir, self.shared, clock_offset=clock if name == "gpu2" else None)
                      for name in ("db", "broker", "web", "cpu", "gpu1", "gpu2")}
        self.secret_key = secrets.token_urlsafe(50)
        self.db = PostgreSQL(self.hosts["db"], postgres_bin_dir(), secrets.token_urlsafe(16))
        self.redis = Redis(self.hosts["broker"], secrets.token_urlsafe(16))
        self.services: dict[str, stack.Child] = {}
        self.watchdog = stack.Watchdog()
        self.sql = Sql(client, self.db.url())
        self.web_base = f"http://{network.address('web')}:8000"
        self.staff = Browser(client, network.address("web"), SITE)

    # Configuration, as /etc/fer/fer.env on each host ------------------------------------------------
    def site_env(self, host: Host) -> dict[str, str]:
        """deploy/fer.env.example filled in for this site and host, plus the shortened timings."""
        example = read_env_file(DEPLOY / "fer.env.example")
        filled = {
            "DATABASE_URL": self.db.url(),
            "REDIS_URL": self.redis.url(),
            "MEDIA_ROOT": str(host.media),
            "SECRET_KEY": self.secret_key,
            "ALLOWED_HOSTS": SITE,
            "CSRF_TRUSTED_ORIGINS": f"https://{SITE}",
            "WEB_BIND": f"{host.address}:8000",
        }
        assert set(filled) <= set(example), f"not in deploy/fer.env.example: {set(filled) - set(example)}"
        assert all("CHANGE-ME" not in value for name, value in example.items() if name not in filled)
        return {
            **example, **filled, **TIMINGS,
            # Two cores for six hosts: one thread per process, or OpenMP's threads spin against each other.
            "OMP_NUM_THREADS": "1",
            "INFERENCE_THREADS": "1",
            "INFERENCE_CONCURRENCY": "1",
            "WEB_WORKERS": "1",
            # A ferlite of width 8 as the shipped model: loaded in a moment on every host that predicts.
            "SHIPPED_MODEL_PATH": str(self.run_dir / "weights" / "default.pt"),
        }

    # Processes ------------------------------------------------------------------------------------
    def start_service(self, unit_name: str, host_name: str, instance: str = "") -> stack.Child:
        host = self.hosts[host_name]
        unit = Unit.read(unit_name)
        env = unit.env(host, self.site_env(host), instance)
        [argv] = unit.commands(host, env, instance)
        name = unit_name.split("@")[0].removeprefix("fer-").removesuffix(".service")
        child = host.start(name, argv, env)
        self.watchdog.track(child.pid)
        self.services[f"{host_name} {name}"] = child
        return child

    def service(self, name: str) -> stack.Child:
        return self.services[name]

    def release_commands(self) -> list[list[str]]:
        web = self.hosts["web"]
        unit = Unit.read("fer-release.service")
        return unit.commands(web, unit.env(web, self.site_env(web)))

    def manage(self, *args: str, extra_env: dict | None = None) -> stack.Child:
        """Start `python manage.py ...` on the web host, as the release unit runs it: an operator's command
        (hosts_support.finish waits for it)."""
        web = self.hosts["web"]
        unit = Unit.read("fer-release.service")
        python, manage_py = self.release_commands()[0][:2]
        return web.start(f"manage-{args[0]}", [python, manage_py, *args],
                         {**unit.env(web, self.site_env(web)), **(extra_env or {})})

    def logs_tail(self, lines: int = 25) -> str:
        out = []
        for log in sorted((self.run_dir / "logs").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"==== {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for child in reversed(list(self.services.values())):
            if child.process is not None:
                child.kill()
        self.watchdog.close()


@pytest.fixture(scope="module")
def site(request):
    reason = why_hosts_cannot_be_made()
    if reason:
        pytest.skip(reason)
    if postgres_bin_dir() is None:
        _missing("needs Debian's PostgreSQL (apt-get install postgresql; `make test` installs it)")
    try:
        stack.redis_server_binary()
    except RuntimeError as error:
        _missing(str(error))
    clean_leftovers()

    run_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{os.getpid()}-run-"))
    network = Network()
    client = None
    running = None
    # A SIGTERM (a CI job cancelled, a `kill`) unwinds like Ctrl-C, so the finally below still runs.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        network.create()
        client = Client(network)
        running = Site(run_dir, network, client)
        running.watchdog.start()
        _start(running)
        yield running
    finally:
        if running is not None:
            running.stop()
            running.db.remove()
        if client is not None:
            client.close()
        network.destroy()
        shutil.rmtree(run_dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _start(site: Site) -> None:
    site.db.init()
    site.db.start()
    site.watchdog.track(site.db.child.pid)
    site.redis.start()
    site.watchdog.track(site.redis.child.pid)
    save_tiny_checkpoint(site.run_dir / "weights" / "default.pt")
    csv = site.run_dir / "noise.csv"
    write_noise_csv(csv)
    site.db.wait_until_ready()
    site.db.create_database()

    # Everything at once, as hosts boot: the machine's two cores are shared with whatever else runs, and
    # most of each start is Python importing. A worker up before the tables logs that its start-up
    # sweep failed, and the periodic sweep does it. The web server waits for its static files, the
    # operator's first commands for the tables.
    migrate, collectstatic, check = (site.manage(*argv[2:]) for argv in site.release_commands())
    for unit, host, instance in (("fer-inference.service", "cpu", ""), ("fer-beat.service", "cpu", ""),
                                 ("fer-training@.service", "gpu1", "0"), ("fer-training@.service", "gpu2", "0")):
        site.start_service(unit, host, instance)
    finish(collectstatic)
    site.start_service("fer-web.service", "web")
    finish(migrate)
    one_offs = [
        check,
        site.manage("createsuperuser", "--noinput", extra_env={
            "DJANGO_SUPERUSER_USERNAME": STAFF[0], "DJANGO_SUPERUSER_PASSWORD": STAFF[1],
            "DJANGO_SUPERUSER_EMAIL": "operator@example.test"}),
        site.manage("import_fer2013", str(csv), "--name", "noise", "--no-results"),
    ]
    for child in one_offs:
        finish(child)

    for name in ("cpu inference", "gpu1 training", "gpu2 training"):
        child = site.service(name)
        wait_for(lambda: " ready." in child.log_text() or not child.running, 300, f"the {name} worker to start")
        assert child.running, child.log_text()
    wait_for(lambda: _answers(site), 300, lambda: f"the web server to answer:\n{site.service('web web').last_output()}")
    site.staff.log_in(*STAFF)


def _answers(site: Site) -> bool:
    try:
        return site.staff.get("/admin/login/", timeout=10).status_code == 200
    except OSError:
        return False


def write_noise_csv(path: Path, train: int = 420, test: int = 70, seed: int = 0) -> None:
    """FER2013's CSV layout (emotion, pixels, Usage) with random 48x48 faces: what `import_fer2013` reads."""
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for usage, count in (("Training", train), ("PublicTest", test), ("PrivateTest", test)):
        for index in range(count):
            pixels = " ".join(map(str, rng.integers(0, 256, 48 * 48)))
            lines.append(f"{index % 7},{pixels},{usage}")
    path.write_text("\n".join(lines) + "\n")


def save_tiny_checkpoint(path: Path) -> Path:
    """A ferlite of width 8 with seeded random weights, in the layout ml's load_model reads."""
    import torch

    from ml.classes import FER_CLASSES
    from ml.models import create_model
    from ml.train.checkpoint import checkpoint_payload, save_checkpoint

    torch.manual_seed(0)
    model = create_model("ferlite", num_classes=len(FER_CLASSES), width=8)
    return save_checkpoint(checkpoint_payload(model, name="ferlite", options={"width": 8}, class_names=FER_CLASSES), path)


@pytest.fixture(autouse=True)
def _logs_on_failure(request, site):
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(site.logs_tail())


@pytest.fixture(scope="module")
def photo() -> bytes:
    """Eileen Collins' portrait: one frontal face in a 512x512 JPEG."""
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
