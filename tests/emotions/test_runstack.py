"""`manage.py runstack` (what `make run` calls): Redis, both workers, beat and the web server come up
together and go down together on Ctrl-C."""
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request

import pytest
from emotions_test_support import wait_for

from emotions import stack
from emotions.management.commands.runstack import Command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
                 90, "the web server")
        assert supervisor.poll() is None, log.read_text()
        stack.wait_for_redis(f"redis://127.0.0.1:{redis_port}/0", timeout=5)
        assert (tmp_path / "redis").is_dir()  # Redis keeps its data under var/
        wait_for(lambda: log.read_text().count(" ready.") >= 2, 90, "both workers")
        assert "training@" in log.read_text() and "inference@" in log.read_text()

        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            assert db.execute("select is_superuser from auth_user where username='admin'").fetchall() == [(1,)]

        children = [int(pid) for pid in subprocess.run(
            ["pgrep", "-P", str(supervisor.pid)], capture_output=True, text=True).stdout.split()]
        assert len(children) == 5  # redis, two workers, beat, web server

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


def test_a_taken_redis_port_is_a_clear_error(tmp_path):
    import socket

    from django.core.management import CommandError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(CommandError, match="Port .* is taken"):
            Command().local_redis(taken.getsockname()[1])
