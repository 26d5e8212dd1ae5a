"""Connections to the database and the broker give up on a host that went silent instead of hanging on
it: settings read DATABASE_TIMEOUT_SECONDS and BROKER_TIMEOUT_SECONDS into the drivers' options."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHOW = ("from django.conf import settings; import json; print(json.dumps({'database': settings.DATABASES['default']"
        ".get('OPTIONS', {}), 'broker': settings.CELERY_BROKER_TRANSPORT_OPTIONS}))")


def settings_with(**env) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_TIMEOUT_SECONDS",
                                                             "BROKER_TIMEOUT_SECONDS", "DJANGO_SETTINGS_MODULE")}
    done = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {SHOW}"], cwd=ROOT,
                          env={**base, "DJANGO_SETTINGS_MODULE": "fer_site.settings", **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_postgresql_connections_give_up_on_a_silent_server_after_the_timeout():
    options = settings_with(DATABASE_URL="postgres://fer:secret@db.internal:5432/fer", DATABASE_TIMEOUT_SECONDS="5")
    assert options["database"]["connect_timeout"] == 5
    assert options["database"]["tcp_user_timeout"] == 5000
    assert options["database"]["keepalives"] == 1


def test_an_option_in_the_database_url_wins():
    options = settings_with(DATABASE_URL="postgres://fer:secret@db.internal:5432/fer?connect_timeout=9")
    assert str(options["database"]["connect_timeout"]) == "9"
    assert options["database"]["tcp_user_timeout"] == 30_000


def test_sqlite_gets_no_network_options():
    assert "connect_timeout" not in settings_with(DATABASE_URL="sqlite:////tmp/x.sqlite3")["database"]


def test_broker_commands_give_up_on_a_silent_broker_after_the_timeout():
    options = settings_with(BROKER_TIMEOUT_SECONDS="4")["broker"]
    assert options["socket_timeout"] == 4 and options["socket_keepalive"] is True
    assert options["socket_connect_timeout"] == 3
