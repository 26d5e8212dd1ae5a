"""Settings come from the environment, with local defaults that need nothing, and a production mode
that refuses to start without its secrets and passes `check --deploy`."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from fer_site.env import env_bool, env_float, env_int, env_list
from fer_site.settings import _local_secret_key

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DJANGO_ENV": "production", "SECRET_KEY": "k" * 20 + "-production-secret-key-for-the-test-0123456789",
              "ALLOWED_HOSTS": "example.com"}


def manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ENV", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS",
                                                             "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_booleans_lists_and_numbers_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("X_FLAG", "off")
    monkeypatch.setenv("X_HOSTS", "a.example, b.example,")
    monkeypatch.setenv("X_INT", "7")
    monkeypatch.setenv("X_FLOAT", "0.5")
    assert env_bool("X_FLAG", True) is False
    assert env_list("X_HOSTS", []) == ["a.example", "b.example"]
    assert env_int("X_INT", 1) == 7 and env_float("X_FLOAT", 1.0) == 0.5
    assert env_bool("X_UNSET", True) is True and env_list("X_UNSET", ["x"]) == ["x"]


@pytest.mark.parametrize("reader, value", [(env_bool, "perhaps"), (env_int, "seven"), (env_float, "half")])
def test_an_unreadable_value_names_its_variable(monkeypatch, reader, value):
    monkeypatch.setenv("X_BAD", value)
    with pytest.raises(ImproperlyConfigured, match="X_BAD"):
        reader("X_BAD", 1)


def test_the_local_secret_key_is_made_once_and_kept_private(tmp_path):
    key = _local_secret_key(tmp_path / "var" / "secret_key")
    assert len(key) >= 50 and _local_secret_key(tmp_path / "var" / "secret_key") == key
    assert stat.S_IMODE((tmp_path / "var" / "secret_key").stat().st_mode) == 0o600


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", **env)
    assert result.returncode != 0 and f"{missing} must be set" in result.stderr


def test_database_url_broker_and_media_come_from_the_environment(tmp_path):
    script = (
        "import json; import fer_site.settings as s; "
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL, "
        "str(s.MEDIA_ROOT), s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "fer_site.settings",
             "DATABASE_URL": "postgres://fer:pw@db.internal:5432/fer", "REDIS_URL": "redis://queue.internal:6379/2",
             "MEDIA_ROOT": str(tmp_path), "SECURE_PROXY_SSL_HEADER": "1", "SECURE_SSL_REDIRECT": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        "django.db.backends.postgresql", "fer", "redis://queue.internal:6379/2", str(tmp_path), False,
        ["HTTP_X_FORWARDED_PROTO", "https"],
    ]
