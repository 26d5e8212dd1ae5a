"""Separate hosts on one machine for the tests beside this file: each host a Linux network namespace with
an address, a hostname and a view of the shared media folder of its own, all on one bridge.

The bridge lives in a namespace of its own too, so nothing here touches the machine's own network. The
test process stays in the machine's namespace; what it says to the hosts (HTTP as a browser behind the
proxy would, SQL and Redis as an operator would) goes through threads that joined a `client` host
(`Client`). The services are started from the systemd units in deploy/ (`Unit`), so the commands a user
is told to run are the commands tested.

(A module of its own, imported by name: tests/ has no packages.)
"""
from __future__ import annotations

import ctypes
import html
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from emotions.infra import stack

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SITE = "fer.example.test"  # the name people reach the site by, through the proxy
# What the TLS proxy in front of `web` adds to each request it passes on (the person's address made up).
PROXY_HEADERS = {"Host": SITE, "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
PREFIX = "ferhosts"  # namespaces ferhosts-<pid>-<host>, folders /tmp/ferhosts-<pid>-*
SUBNET = "10.231.0"
NUMBERS = {"db": 10, "broker": 11, "web": 12, "cpu": 13, "gpu1": 14, "gpu2": 15, "client": 100}
GHOST = f"{SUBNET}.250"  # an address nobody holds: traffic routed through it vanishes without an error
CLONE_NEWNET = 0x40000000
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
            "HOME": "/root", "PYTHONUNBUFFERED": "1"}

# Where the units say the code, the state and the site's settings live on a host.
INSTALL_DIR = "/srv/fer"
STATE_DIR = "/var/lib/fer"
SITE_ENV_FILE = "/etc/fer/fer.env"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def why_hosts_cannot_be_made() -> str | None:
    """None when this machine can make network namespaces; else why not, for the skip."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns)"
    for tool in ("ip", "unshare", "setpriv", "mount", "hostname"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` on PATH to make hosts"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    made = ip("netns", "add", probe, check=False)
    if made.returncode:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    try:
        for what, args in (("a bridge", ("link", "add", "br0", "type", "bridge")),
                           ("a veth pair", ("link", "add", "probe0", "type", "veth", "peer", "name", "probe1"))):
            made = ip("-n", probe, *args, check=False)
            if made.returncode:
                return f"cannot make {what} in a network namespace here: {made.stderr.strip()}"
    finally:
        ip("netns", "del", probe, check=False)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def namespaces() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()]


def delete_namespace(name: str) -> None:
    """Kill every process still in the namespace (all started by a run of these tests), then remove it."""
    for _ in range(20):
        pids = [int(pid) for pid in ip("netns", "pids", name, check=False).stdout.split()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    ip("netns", "del", name, check=False)


def clean_leftovers() -> list[str]:
    """What an earlier run killed before its finalizers ran left behind: its namespaces, with whatever
    still runs in them, and its folders. A run whose process is alive is left alone."""
    removed = []
    for name in namespaces():
        found = re.fullmatch(rf"{PREFIX}-(\d+)-\w+", name)
        if found and not _alive(int(found[1])):
            delete_namespace(name)
            removed.append(name)
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*"):
        found = re.match(rf"{PREFIX}-(\d+)-", folder.name)
        if found and not _alive(int(found[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


class Network:
    """The hosts' namespaces, each joined to the bridge by a veth pair, and the faults: a host's cable
    pulled (`cut`), two hosts that cannot reach each other (`partition`)."""

    def __init__(self, hosts=NUMBERS):
        self.run_id = str(os.getpid())
        self.hosts = dict(hosts)
        self.switch = f"{PREFIX}-{self.run_id}-switch"
        self.made: list[str] = []

    def namespace(self, host: str) -> str:
        return f"{PREFIX}-{self.run_id}-{host}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts[host]}"

    def create(self) -> Network:
        self._add_namespace(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for host in self.hosts:
            namespace = self._add_namespace(self.namespace(host))
            # Made inside the switch namespace with its peer moved straight into the host's: no interface
            # ever appears in the machine's own namespace.
            ip("-n", self.switch, "link", "add", self._port(host), "type", "veth", "peer", "name", "eth0",
               "netns", namespace)
            ip("-n", self.switch, "link", "set", self._port(host), "master", "br0", "up")
            ip("-n", namespace, "link", "set", "lo", "up")
            ip("-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
        return self

    def _add_namespace(self, name: str) -> str:
        ip("netns", "add", name)
        self.made.append(name)
        return name

    def _port(self, host: str) -> str:
        return f"p-{host}"

    def cut(self, host: str) -> None:
        """Its switch port down: its packets go nowhere and nobody's reach it; its processes run on."""
        ip("-n", self.switch, "link", "set", self._port(host), "down")

    def reconnect(self, host: str) -> None:
        ip("-n", self.switch, "link", "set", self._port(host), "up")

    def partition(self, a: str, b: str) -> None:
        """`a` and `b` lose each other silently (packets dropped, no error), both still reach the rest."""
        ip("-n", self.namespace(a), "route", "add", f"{self.address(b)}/32", "via", GHOST)
        ip("-n", self.namespace(b), "route", "add", f"{self.address(a)}/32", "via", GHOST)

    def heal(self, a: str, b: str) -> None:
        ip("-n", self.namespace(a), "route", "del", f"{self.address(b)}/32", check=False)
        ip("-n", self.namespace(b), "route", "del", f"{self.address(a)}/32", check=False)

    def destroy(self) -> None:
        for name in reversed(self.made):
            delete_namespace(name)
        self.made.clear()


def _join_namespace(path: str) -> None:
    """A thread's network namespace is its own: this thread moves, the rest of the process stays."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(descriptor, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(descriptor)


class Client:
    """Threads in the `client` host: whatever they open (HTTP, PostgreSQL, Redis) goes over the hosts'
    network. `run(fn, ...)` calls fn on one of them and returns what it returns."""

    def __init__(self, network: Network, threads: int = 8):
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="client",
                                       initializer=_join_namespace, initargs=(f"/run/netns/{network.namespace('client')}",))

    def run(self, fn, *args, timeout: float = 180, **kwargs):
        return self.pool.submit(fn, *args, **kwargs).result(timeout)

    def submit(self, fn, *args, **kwargs):
        return self.pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


# Hosts and their processes ---------------------------------------------------------------------------
class Host:
    """One host: commands run in its namespace with its hostname, the shared folder mounted at its own
    path (`media`), and state of its own (`var`)."""

    def __init__(self, network: Network, name: str, run_dir: Path, shared: Path, clock_offset: str | None = None):
        self.network = network
        self.name = name
        self.address = network.address(name)
        self.shared = shared
        self.media = run_dir / "hosts" / name / "media"  # empty outside this host's mount namespace
        self.var = run_dir / "hosts" / name / "var"
        self.logs = run_dir / "logs"
        self.clock_offset = clock_offset  # faketime's, e.g. "-5m": this host's clock is wrong by that much
        for folder in (self.media, self.var, self.logs):
            folder.mkdir(parents=True, exist_ok=True)

    def command(self, argv: list[str], *, user: str | None = None, cwd: Path = ROOT) -> list[str]:
        inner = list(argv)
        if self.clock_offset:
            inner = ["faketime", "-m", "--exclude-monotonic", "-f", self.clock_offset, *inner]
        if user:  # after the mount, which needs root; the parent-death signal survives the change of user
            inner = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--pdeathsig=KILL", "--", *inner]
        script = 'hostname "$1" && mount --bind "$2" "$3" && cd "$4" && shift 4 && exec "$@"'
        return ["ip", "netns", "exec", self.network.namespace(self.name),
                "unshare", "--mount", "--uts", "--propagation", "private", "--",
                "sh", "-c", script, "sh", self.name, str(self.shared), str(self.media), str(cwd), *inner]

    def start(self, name: str, argv: list[str], env: dict[str, str], *, user: str | None = None) -> stack.Child:
        log = self.logs / f"{self.name}-{name}.log"
        return stack.Child(f"{self.name} {name}", self.command(argv, user=user), {**BASE_ENV, **env}, log_path=log).start()


def finish(child: stack.Child, timeout: float = 300) -> str:
    """Wait for a one-off command started with Host.start; its output, or AssertionError with it."""
    try:
        child.process.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        raise AssertionError(f"{child.name} ran past {timeout:.0f}s:\n{child.last_output()}") from None
    output = child.log_text()
    assert child.process.returncode == 0, f"{child.name} {stack.describe_exit(child.process.returncode)}:\n{output}"
    return output


# The units in deploy/ ----------------------------------------------------------------------------------
@dataclass
class Unit:
    """What the test needs of a systemd unit: its Environment=, EnvironmentFile= and ExecStart= lines."""

    path: Path
    environment: dict[str, str]
    environment_files: list[str]
    working_directory: str
    exec_start: list[str]

    @classmethod
    def read(cls, name: str) -> Unit:
        path = DEPLOY / name
        environment, files, commands, working_directory = {}, [], [], ""
        section = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section != "[Service]":
                continue
            key, _, value = line.partition("=")
            if key == "Environment":
                for assignment in shlex.split(value):
                    variable, _, setting = assignment.partition("=")
                    environment[variable] = setting
            elif key == "EnvironmentFile":
                files.append(value.lstrip("-"))
            elif key == "ExecStart":
                commands.append(value)
            elif key == "WorkingDirectory":
                working_directory = value
        return cls(path, environment, files, working_directory, commands)

    def commands(self, host: Host, env: dict[str, str], instance: str = "") -> list[list[str]]:
        """Each ExecStart= as argv on `host`: systemd's %i, %H and %% and its ${NAME} from `env`, and the
        install paths mapped onto this checkout and the host's state folder."""
        commands = []
        for line in self.exec_start:
            argv = []
            for word in shlex.split(_specifiers(line, host.name, instance)):
                word = re.sub(r"\$\{(\w+)\}", lambda found: env[found[1]], word)
                assert "$" not in word, f"{self.path.name}: write ${{NAME}}, not $NAME: {word}"
                argv.append(_installed(word, host))
            commands.append(argv)
        return commands

    def env(self, host: Host, site: dict[str, str], instance: str = "") -> dict[str, str]:
        """Environment= first, then the site's file over it, as systemd applies them."""
        assert self.environment_files == [SITE_ENV_FILE], f"{self.path.name} reads {self.environment_files}"
        assert self.working_directory == INSTALL_DIR, f"{self.path.name} runs in {self.working_directory}"
        unit = {name: _installed(_specifiers(value, host.name, instance), host) for name, value in self.environment.items()}
        return {**unit, **site}


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines, as systemd's EnvironmentFile= reads them (comments and blank lines skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def _specifiers(text: str, hostname: str, instance: str) -> str:
    def expand(found):
        return {"%": "%", "i": instance, "H": hostname}[found[1]]

    return re.sub(r"%(.)", expand, text)


def _installed(text: str, host: Host) -> str:
    return text.replace(INSTALL_DIR, str(ROOT)).replace(STATE_DIR, str(host.var))


# PostgreSQL and Redis ----------------------------------------------------------------------------------
def postgres_bin_dir() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    return versions[-1].parent if versions else None


class PostgreSQL:
    """Debian's PostgreSQL on the `db` host: a cluster made with initdb in a temporary folder, listening on
    the host's address alone, password logins from the hosts' subnet. Durability is off: nothing here
    outlives the test."""

    PORT = 5432

    def __init__(self, host: Host, bin_dir: Path, password: str):
        self.host = host
        self.bin_dir = bin_dir
        self.password = password
        # Not under the run folder: the server runs as postgres, which may not enter root's folders.
        self.directory = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{os.getpid()}-postgresql-"))
        self.data = self.directory / "data"
        self.sockets = self.directory / "sockets"
        self.child: stack.Child | None = None

    def url(self, database: str = "fer") -> str:
        return f"postgres://fer:{self.password}@{self.host.address}:{self.PORT}/{database}"

    def init(self) -> None:
        self.sockets.mkdir(parents=True)
        shutil.chown(self.directory, "postgres")
        shutil.chown(self.sockets, "postgres")
        made = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, preexec_fn=stack._child_setup(True, "postgres"), timeout=120,
        )
        assert made.returncode == 0, f"initdb failed:\n{made.stdout}{made.stderr}"
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 scram-sha-256\n")

    def start(self) -> PostgreSQL:
        command = [
            str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.PORT), "-h", self.host.address,
            "-k", str(self.sockets), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]
        self.child = self.host.start("postgresql", command, {}, user="postgres")
        return self

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.psql("SELECT 1", check=False).returncode:
            assert self.child.running, f"PostgreSQL stopped:\n{self.child.last_output()}"
            assert time.monotonic() < deadline, f"PostgreSQL did not start:\n{self.child.last_output()}"
            time.sleep(0.2)

    def psql(self, sql: str, check: bool = True) -> subprocess.CompletedProcess:
        """As the postgres superuser over the server's Unix socket (a file, so no network is needed)."""
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", str(self.sockets), "-p", str(self.PORT), "-U", "postgres", "-d", "postgres",
             "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
            capture_output=True, text=True, timeout=30, preexec_fn=stack._child_setup(True, "postgres"),
        )
        assert not check or done.returncode == 0, done.stderr
        return done

    def create_database(self) -> None:
        self.psql(f"CREATE ROLE fer LOGIN PASSWORD '{self.password}'")
        self.psql("CREATE DATABASE fer OWNER fer")

    def stop(self) -> None:
        if self.child is not None and self.child.process is not None:
            self.child.signal(signal.SIGINT)  # a fast shutdown: clients are cut off, nothing is waited for
            self.child.wait_or_kill(30)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Redis:
    PORT = 6379

    def __init__(self, host: Host, password: str):
        self.host = host
        self.password = password
        self.data = host.var / "redis"
        self.data.mkdir(parents=True, exist_ok=True)
        self.child: stack.Child | None = None

    def url(self) -> str:
        return f"redis://:{self.password}@{self.host.address}:{self.PORT}/0"

    def start(self) -> Redis:
        command = [
            stack.redis_server_binary(), "--bind", self.host.address, "--port", str(self.PORT), "--dir", str(self.data),
            "--appendonly", "yes", "--save", "", "--requirepass", self.password, "--daemonize", "no",
            "--loglevel", "warning",
        ]
        self.child = self.host.start("redis", command, {})
        return self


# Waiting ----------------------------------------------------------------------------------------------
def wait_for(condition, timeout: float, message, interval: float = 0.25):
    """condition()'s first truthy value; AssertionError naming `message` (a string, or a function that
    says what it saw) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {said}")
        time.sleep(interval)


# Talking to the site ----------------------------------------------------------------------------------
class Browser:
    """Someone using the site through the TLS proxy in front of `web`: each request carries the site's
    name and X-Forwarded-Proto as the proxy sends them (this leg is plain HTTP, so the session's Secure
    cookies are sent on it as the proxy would pass them)."""

    def __init__(self, client: Client, address: str, site: str, port: int = 8000):
        import requests

        self.client = client
        self.base = f"http://{address}:{port}"
        self.site = site
        self.session = requests.Session()
        self.session.headers.update(PROXY_HEADERS)

    def get(self, path: str, *, timeout: float = 60, follow: bool = False, **kwargs):
        return self.client.run(lambda: self._request("GET", path, timeout, follow, **kwargs), timeout=timeout + 30)

    def post(self, path: str, *, timeout: float = 60, follow: bool = False, **kwargs):
        return self.client.run(lambda: self._request("POST", path, timeout, follow, **kwargs), timeout=timeout + 30)

    def _request(self, method: str, path: str, timeout: float, follow: bool, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if method == "POST":  # what a browser sends, and Django's CSRF check over HTTPS reads
            headers.setdefault("Origin", f"https://{self.site}")
            headers.setdefault("Referer", f"https://{self.site}{path}")
        response = self.session.request(method, self.base + path, headers=headers, timeout=timeout,
                                        allow_redirects=False, **kwargs)
        for cookie in self.session.cookies:
            cookie.secure = False
        if follow and response.is_redirect:
            location = re.sub(rf"^https://{re.escape(self.site)}", "", response.headers["Location"])
            return self._request("GET", location, timeout, follow)
        return response

    def log_in(self, username: str, password: str) -> None:
        page = self.get("/admin/login/?next=/admin/")
        response = self.post("/admin/login/?next=/admin/", data={
            "csrfmiddlewaretoken": csrf_token(page.text), "username": username, "password": password, "next": "/admin/",
        })
        assert response.status_code == 302, f"login failed: {response.status_code}\n{response.text[:2000]}"

    def admin_form(self, path: str, fields: dict) -> object:
        """Submit the admin's form at `path` as a person would: its hidden inputs (the CSRF token, the
        inlines' management forms) kept, `fields` filled in."""
        page = self.get(path)
        assert page.status_code == 200, page.status_code
        return self.post(path, data={**hidden_inputs(page.text), **fields})

    def admin_action(self, changelist: str, action: str, pks: list[int]) -> list[str]:
        """Tick `pks` on the admin's list at `changelist`, choose `action`, Go; the messages shown after."""
        page = self.get(changelist)
        assert page.status_code == 200, page.status_code
        response = self.post(changelist, follow=True, data={
            "csrfmiddlewaretoken": csrf_token(page.text), "action": action, "index": "0", "select_across": "0",
            "_selected_action": [str(pk) for pk in pks],
        })
        assert response.status_code == 200, response.status_code
        return messages(response.text)


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found[1]


def hidden_inputs(page: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag:
            name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name[1]] = html.unescape(value[1]) if value else ""
    return fields


def messages(page: str) -> list[str]:
    listed = re.search(r'<ul class="messagelist">(.*?)</ul>', page, re.S)
    if not listed:
        return []
    return [html.unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in re.findall(r"<li[^>]*>(.*?)</li>", listed[1], re.S)]


def post_photo(client: Client, base: str, data: bytes, *, wait: bool = True, timeout: float = 90):
    """A program's POST /api/predictions/ (no session, no token): (status, JSON body or None, seconds)."""
    import requests

    def send():
        started = time.monotonic()
        response = requests.post(f"{base}/api/predictions/" + ("?wait=1" if wait else ""),
                                 files={"image": ("photo.jpg", data, "image/jpeg")}, timeout=timeout,
                                 headers=PROXY_HEADERS, allow_redirects=False)
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
        return response.status_code, body, time.monotonic() - started, response.text[:2000]

    return client.submit(send)


class Sql:
    """The operator's psql: queries on the site's database over the hosts' network."""

    def __init__(self, client: Client, url: str):
        self.client = client
        self.url = url

    def rows(self, query: str, *params) -> list[tuple]:
        def run():
            import psycopg

            with psycopg.connect(self.url, connect_timeout=5) as connection:
                return connection.execute(query, params).fetchall()

        return self.client.run(run, timeout=60)

    def one(self, query: str, *params):
        rows = self.rows(query, *params)
        return rows[0] if rows else None


def celery_control(client: Client, broker_url: str, method: str, **arguments):
    """An operator's `celery control ...`: a remote-control command to the workers, with their replies."""

    def run():
        from celery import Celery

        app = Celery(broker=broker_url)
        try:
            return getattr(app.control, method)(**arguments, reply=True, timeout=5)
        finally:
            app.close()

    return client.run(run, timeout=60)
