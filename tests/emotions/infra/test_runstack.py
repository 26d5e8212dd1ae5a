"""`manage.py runstack` (what `make run` calls): Redis, both workers, beat and the web server come up
together, come back when killed while uploads keep being answered, and go down together on Ctrl-C or
when the supervisor itself is killed."""
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest
from emotions_test_support import post_photo, wait_for

from emotions.infra import stack
from emotions.management.commands.runstack import Command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.integration
def test_runstack_brings_everything_up_and_ctrl_c_stops_it_all(tmp_path):
    redis_port, web_port = stack.free_port(), stack.free_port()
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "MEDIA_ROOT", "DJANGO_SETTINGS_MODULE")
    }
    env.update(VAR_DIR=str(tmp_path), DJANGO_SUPERUSER_USERNAME="admin", DJANGO_SUPERUSER_PASSWORD="a-long-passphrase",
               DJANGO_SUPERUSER_EMAIL="admin@example.com")
    log = tmp_path / "runstack.log"
    with open(log, "wb") as output:
        supervisor = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", f"127.0.0.1:{web_port}", "--redis-port", str(redis_port),
             "--inference-concurrency", "1"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{web_port}/admin/login/") or supervisor.poll() is not None,
                 180, "the web server")
        assert supervisor.poll() is None, log.read_text()
        stack.wait_for_redis(f"redis://127.0.0.1:{redis_port}/0", timeout=5)
        assert (tmp_path / "redis").is_dir()  # Redis keeps its data under var/
        wait_for(lambda: log.read_text().count(" ready.") >= 2, 180, "both workers")
        assert "training@" in log.read_text() and "inference@" in log.read_text()

        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            assert db.execute("select is_superuser from auth_user where username='admin'").fetchall() == [(1,)]

        children = [int(pid) for pid in subprocess.run(
            ["pgrep", "-P", str(supervisor.pid)], capture_output=True, text=True).stdout.split()]
        assert len(children) == 6  # redis, two workers, beat, web server, and the watchdog

        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(60) == 0, log.read_text()
        assert all(group_is_gone(pid) for pid in children)
        assert stack.port_is_free(redis_port) and stack.port_is_free(web_port)
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)


@pytest.mark.django_db
def test_the_superuser_is_made_once_from_the_environment(monkeypatch, django_user_model):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-passphrase")
    Command().ensure_superuser()
    Command().ensure_superuser()
    admin = django_user_model.objects.get()
    assert admin.is_superuser and admin.check_password("a-long-passphrase")


def test_a_taken_redis_port_is_a_clear_error_naming_who_holds_it(tmp_path):
    import socket

    from django.core.management import CommandError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Port {port} is taken by process {os.getpid()} .*python") as error:
            Command().local_redis(port)
    assert f"Stop it (kill {os.getpid()}), or choose another --redis-port" in str(error.value)


# The whole stack under fire -----------------------------------------------------------------------
def stack_child(supervisor_pid: int, marker: str) -> psutil.Process | None:
    """The supervisor's direct child whose command line contains `marker`."""
    for child in psutil.Process(supervisor_pid).children():
        try:
            if marker in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


class UploadStream:
    """Clients that upload the astronaut with ?wait=1 one after another until stopped. An upload whose
    connection fails (the web server killed under it, or not listening yet) is sent again."""

    def __init__(self, url: str, photo: bytes, clients: int = 2):
        self.url, self.photo = url, photo
        self.answers: list[tuple[int, dict]] = []
        self.connection_errors = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self) -> None:
        while not self.stopping.is_set():
            for _attempt in range(600):
                try:
                    self.answers.append(post_photo(self.url, self.photo))
                    break
                except OSError:
                    self.connection_errors += 1
                    time.sleep(0.1)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(120)

    def wait_for_more(self, count: int, timeout: float, message: str) -> None:
        target = len(self.answers) + count
        wait_for(lambda: len(self.answers) >= target, timeout, f"{count} more answers {message}")


def astronaut_jpeg() -> bytes:
    import io

    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def kill_and_see_it_back(supervisor_pid: int, marker: str, what: str) -> psutil.Process:
    victim = stack_child(supervisor_pid, marker)
    assert victim is not None, f"no {what} running"
    victim.send_signal(signal.SIGKILL)
    started = time.monotonic()
    back = wait_for(lambda: (child := stack_child(supervisor_pid, marker)) and child.pid != victim.pid and child,
                    10, f"the {what} to be restarted")
    assert time.monotonic() - started < 5, f"the {what} took {time.monotonic() - started:.1f}s to come back"
    return back


@pytest.mark.integration
def test_a_killed_process_comes_back_and_every_upload_is_answered_and_done(tmp_path):
    redis_port, web_port = stack.free_port(), stack.free_port()
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "MEDIA_ROOT", "DJANGO_SETTINGS_MODULE")
    }
    env.update(VAR_DIR=str(tmp_path), INFERENCE_STALE_SECONDS="5", SWEEP_INTERVAL_SECONDS="1")
    log = tmp_path / "runstack.log"
    with open(log, "wb") as output:
        supervisor = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", f"127.0.0.1:{web_port}", "--redis-port", str(redis_port),
             "--inference-concurrency", "1", "--web-workers", "1", "--web-threads", "4"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{web_port}/api/predictions/?wait=1"
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{web_port}/admin/login/") or supervisor.poll() is not None,
                 180, "the web server")
        wait_for(lambda: "inference@" in log.read_text() and log.read_text().count(" ready.") >= 2, 180, "both workers")
        with UploadStream(url, astronaut_jpeg()) as stream:
            stream.wait_for_more(3, 120, "from the whole stack")

            kill_and_see_it_back(supervisor.pid, "-Q inference", "inference worker")
            stream.wait_for_more(3, 60, "while the inference worker restarts")
            wait_for(lambda: log.read_text().count("inference@") >= 2 and log.read_text().count(" ready.") >= 3, 120,
                     "the inference worker to be ready again")
            stream.wait_for_more(3, 60, "from the restarted inference worker")

            kill_and_see_it_back(supervisor.pid, "redis-server", "Redis")
            stack.wait_for_redis(f"redis://127.0.0.1:{redis_port}/0", timeout=10)
            stream.wait_for_more(3, 60, "after Redis came back")

            kill_and_see_it_back(supervisor.pid, "gunicorn", "web server")
            wait_for(lambda: answers(f"http://127.0.0.1:{web_port}/admin/login/"), 60, "the web server to answer again")
            stream.wait_for_more(3, 60, "from the restarted web server")

        text = log.read_text()
        for what in ("inference worker", "Redis", "web server"):
            assert f"The {what} was killed by SIGKILL" in text and f"Restarted the {what}" in text
        assert all(status == 201 and body["status"] == "done" for status, body in stream.answers), stream.answers
        assert {body["predicted_by"] for _, body in stream.answers} <= {"worker", "web"}

        # Rows of requests cut short with the web server are finished too (sent by the sweep).
        def statuses():
            with sqlite3.connect(tmp_path / "db.sqlite3") as db:
                return dict(db.execute("select status, count(*) from emotions_upload group by status").fetchall())

        wait_for(lambda: set(statuses()) == {"done"}, 60, f"every upload to end done (now {statuses()})")
        assert statuses()["done"] >= len(stream.answers)

        descendants = psutil.Process(supervisor.pid).children(recursive=True)
        supervisor.kill()
        supervisor.wait()
        wait_for(lambda: not [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], 20,
                 "no process of the stack to be left")
        assert stack.port_is_free(redis_port) and stack.port_is_free(web_port)
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
