"""Settings for the FER workbench, read from the environment with local defaults that need nothing installed.

Locally nothing has to be set: SQLite and the secret key live under var/, Redis is started by
`manage.py runstack`. Production is `DJANGO_ENV=production` (or DEBUG=0) with at least SECRET_KEY and
ALLOWED_HOSTS set; docs/settings.md lists every setting.
"""
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from fer_site.env import env_bool, env_float, env_int, env_list, env_path, env_str
from ml import SHIPPED_CHECKPOINT

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var")

DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"DJANGO_ENV={DJANGO_ENV!r}: use development or production")
DEBUG = env_bool("DEBUG", DJANGO_ENV == "development")


def _local_secret_key(path: Path) -> str:
    """A random key made once and kept under var/, so local sessions survive restarts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", opener=lambda name, flags: os.open(name, flags, 0o600)) as handle:
            handle.write(secrets.token_urlsafe(50))
    except FileExistsError:
        pass  # made earlier, or by a process starting beside this one
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off")
    SECRET_KEY = _local_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set (comma-separated) when DEBUG is off")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "emotions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "emotions.infra.database_unavailable.DatabaseUnavailableMiddleware",  # a 503, not a 500, while it restarts
]

ROOT_URLCONF = "fer_site.urls"
WSGI_APPLICATION = "fer_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the workers write the same file: WAL lets readers go on while one writes, and
    # IMMEDIATE transactions wait for the lock up front instead of failing halfway.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# A database host that goes silent (it crashed, a cable was pulled, the network split) leaves connections
# that hang rather than fail. PostgreSQL connections give up after DATABASE_TIMEOUT_SECONDS without an
# answer, connecting or waiting on a query sent, so a web request fails (503) and a worker notices, and
# each reconnects once the database answers again. Options given in DATABASE_URL's query string win.
DATABASE_TIMEOUT_SECONDS = env_float("DATABASE_TIMEOUT_SECONDS", 30)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _timeout = max(2, round(DATABASE_TIMEOUT_SECONDS))
    for _option, _value in {
        "connect_timeout": _timeout,
        "tcp_user_timeout": _timeout * 1000,  # milliseconds that sent data may stay unacknowledged
        "keepalives": 1, "keepalives_idle": max(1, _timeout // 2), "keepalives_interval": max(1, _timeout // 6),
        "keepalives_count": 3,
    }.items():
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(_option, _value)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "staticfiles")
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # filled by collectstatic; whitenoise warns while it is missing
# Datasets, checkpoints and run logs. Never served as a folder: checkpoints and logs go out only through
# views that check who may see the run's dashboard.
# Across machines, point every host at the same shared folder.
MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Security: on whenever DEBUG is off. Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=1 so
# Django trusts its X-Forwarded-Proto; SECURE_SSL_REDIRECT=0 where the proxy already redirects.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Celery: one Redis is broker for every host. Progress lives on TrainingRun rows, not in a result backend.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "inference"
CELERY_TASK_ROUTES = {
    "emotions.train_run": {"queue": "training"},  # GPU hosts: --pool=solo, one per GPU
    "emotions.sweep_runs": {"queue": "inference"},  # CPU, prefork; never busy with a long run
    "emotions.predict_upload": {"queue": "inference"},
    "emotions.sweep_uploads": {"queue": "inference"},
    "emotions.purge_old_uploads": {"queue": "inference"},
    "emotions.process_video": {"queue": "inference"},
    "emotions.sweep_videos": {"queue": "inference"},
    "emotions.purge_old_videos": {"queue": "inference"},
    # Photo datasets (emotions.photo_sets): CPU work the inference workers take between predictions.
    "emotions.import_photos": {"queue": "inference"},
    "emotions.evaluate_run_on_set": {"queue": "inference"},
    "emotions.sweep_photo_sets": {"queue": "inference"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a training worker must not hold runs another GPU host could take
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# A broker that goes silent (its host down, the network split) leaves connections that hang rather than
# fail, and a send on one would hold its web request until the network healed. Each command waits at most
# BROKER_TIMEOUT_SECONDS for Redis (more than the workers' 1 s BRPOP): then the send fails, the row keeps
# the reason and is sent again by the sweep, and the web process predicts the photo itself.
BROKER_TIMEOUT_SECONDS = env_float("BROKER_TIMEOUT_SECONDS", 5)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 3, "socket_timeout": BROKER_TIMEOUT_SECONDS, "socket_keepalive": True,
}
# Fail fast when Redis is down: the run row is kept and re-sent later (emotions.training.services).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A Redis blip must not kill a training run that is hours in: it goes on, and the redelivered message
# finds the run claimed and does nothing.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Runs: a worker beats every TRAINING_HEARTBEAT_SECONDS; a running run silent for
# TRAINING_STALE_AFTER_SECONDS has lost its worker and is marked failed by the sweep, which also
# re-sends runs the broker never accepted. It runs every SWEEP_INTERVAL_SECONDS and at worker start-up.
TRAINING_HEARTBEAT_SECONDS = env_float("TRAINING_HEARTBEAT_SECONDS", 10)
TRAINING_STALE_AFTER_SECONDS = env_float("TRAINING_STALE_AFTER_SECONDS", 120)
SWEEP_INTERVAL_SECONDS = env_float("SWEEP_INTERVAL_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "sweep-runs": {
        "task": "emotions.sweep_runs",
        "schedule": SWEEP_INTERVAL_SECONDS,
        "options": {"expires": SWEEP_INTERVAL_SECONDS},  # no pile-up while workers are down
    },
    "sweep-uploads": {
        "task": "emotions.sweep_uploads",
        "schedule": SWEEP_INTERVAL_SECONDS,
        "options": {"expires": SWEEP_INTERVAL_SECONDS},
    },
    "purge-old-uploads": {
        "task": "emotions.purge_old_uploads",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    "sweep-videos": {
        "task": "emotions.sweep_videos",
        "schedule": SWEEP_INTERVAL_SECONDS,
        "options": {"expires": SWEEP_INTERVAL_SECONDS},
    },
    "purge-old-videos": {  # the uploads' retention, UPLOAD_RETENTION_DAYS
        "task": "emotions.purge_old_videos",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    "sweep-photo-sets": {  # photo imports whose worker died; runs not yet scored on an evaluation set
        "task": "emotions.sweep_photo_sets",
        "schedule": SWEEP_INTERVAL_SECONDS,
        "options": {"expires": SWEEP_INTERVAL_SECONDS},
    },
}

# Where presets are read from, and the archive `import_fer2013` reads when given no source.
CONFIGS_DIR = BASE_DIR / "configs"
# Measured recipes committed with the code (`python -m ml recipes` output without checkpoints): recorded as
# finished runs, with the shipped model, when a dataset is imported (emotions.training.imports).
RESULTS_DIR = env_path("RESULTS_DIR", BASE_DIR / "results" / "recipes")
FER2013_ZIP = env_str("FER2013_ZIP")
# FER+ raters' votes for that archive (ml/data/ferplus.py), imported beside its labels when set.
FERPLUS_VOTES = env_str("FERPLUS_VOTES")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django": {"level": "INFO", "propagate": True}},
}

# Logins (the admin's and /login/): an address with LOGIN_FAILURE_LIMIT failures within
# LOGIN_FAILURE_WINDOW_SECONDS is refused until the oldest leaves the window (emotions.accounts.login_throttle).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_WINDOW_SECONDS = env_float("LOGIN_FAILURE_WINDOW_SECONDS", 900)
# Behind a proxy: the client's address is the last one of X-Forwarded-For (what the proxy saw).
LOGIN_ADDRESS_FROM_X_FORWARDED_FOR = env_bool("LOGIN_ADDRESS_FROM_X_FORWARDED_FOR", False)

# Experiment dashboards: logged-in users only, unless DASHBOARDS_PUBLIC=1 opens them to every visitor.
DASHBOARDS_PUBLIC = env_bool("DASHBOARDS_PUBLIC", False)

# Uploads: photos people send for prediction (the page and POST /api/predictions/). Kept private under
# MEDIA_ROOT/uploads/ and purged UPLOAD_RETENTION_DAYS after upload (hourly, by beat).
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 10)
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000)
UPLOAD_RETENTION_DAYS = env_float("UPLOAD_RETENTION_DAYS", 30)
# The live camera page (/live/): each frame is predicted in its request and never stored. The page sends
# JPEGs of 480x360 (about 30 kB); a frame over either limit is refused with a 413. A frame waits at most
# LIVE_FRAME_WAIT_SECONDS for the web process's prediction slot, then is skipped with a 503.
LIVE_FRAME_MAX_BYTES = env_int("LIVE_FRAME_MAX_BYTES", 2 * 1024 * 1024)
LIVE_FRAME_MAX_PIXELS = env_int("LIVE_FRAME_MAX_PIXELS", 1920 * 1080)
LIVE_FRAME_WAIT_SECONDS = env_float("LIVE_FRAME_WAIT_SECONDS", 2)
# Videos (the page and POST /api/videos/): analysed on the `inference` queue only, private and purged like
# photos. Longer or larger ones are refused before anything is stored.
VIDEO_MAX_BYTES = env_int("VIDEO_MAX_BYTES", 200 * 1024 * 1024)
VIDEO_MAX_SECONDS = env_float("VIDEO_MAX_SECONDS", 600)
# The deployed run's checkpoint serves predictions; without one, the weights shipped with the code.
SHIPPED_MODEL_PATH = env_path("SHIPPED_MODEL_PATH", SHIPPED_CHECKPOINT)
# The web process predicts an upload itself when its send failed or no `inference` worker is alive
# (emotions.infra.worker_signals), so an install without workers still answers; while a worker is alive and
# merely busy, only once it has waited INFERENCE_WORKER_TIMEOUT_SECONDS unclaimed.
# INFERENCE_WAIT_SECONDS bounds `?wait=1` on the API.
INFERENCE_WORKER_TIMEOUT_SECONDS = env_float("INFERENCE_WORKER_TIMEOUT_SECONDS", 20)
INFERENCE_WAIT_SECONDS = env_float("INFERENCE_WAIT_SECONDS", 60)
# An upload claimed longer ago than this lost its worker (killed mid-prediction): the web process redoes
# it, and the sweep sends it again. A worker restarted under its name releases its claims at once.
INFERENCE_STALE_SECONDS = env_float("INFERENCE_STALE_SECONDS", 30)
# Threads for torch and OpenCV in one prediction: by default this machine's cores, shared among the
# predictions running on it at once (emotions.infra.cpu_share); INFERENCE_SHARE_CORES=0 uses all of them in
# every prediction, however many run.
INFERENCE_THREADS = env_int("INFERENCE_THREADS", 0) or (
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
INFERENCE_SHARE_CORES = env_bool("INFERENCE_SHARE_CORES", True)
# Who finds the faces in uploads: "mtcnn" (facenet-pytorch) or "haar" (OpenCV's cascade); ml/inference/faces.py.
FACE_DETECTOR = env_str("FACE_DETECTOR", "mtcnn")
if FACE_DETECTOR not in ("mtcnn", "haar"):
    raise ImproperlyConfigured(f"FACE_DETECTOR={FACE_DETECTOR!r}: use mtcnn or haar")
# Serve a checkpoint that carries int8 calibration faces (`python -m ml quantize`) in int8: the shipped
# ensemble's members fit the 5 ms per face budget that way (ml/inference/quantize.py); 0 serves float.
MODEL_INT8 = env_bool("MODEL_INT8", True)
# Photo datasets from a zip uploaded in the admin (emotions.photo_sets): the zip's size, what it may unpack
# to and how many files it may hold, checked before it is stored and again as it is unpacked. An import
# whose worker has been silent for PHOTO_IMPORT_STALE_SECONDS died: the sweep marks it failed.
PHOTO_IMPORT_MAX_BYTES = env_int("PHOTO_IMPORT_MAX_BYTES", 512 * 1024 * 1024)
PHOTO_IMPORT_MAX_UNPACKED_BYTES = env_int("PHOTO_IMPORT_MAX_UNPACKED_BYTES", 2 * 1024 * 1024 * 1024)
PHOTO_IMPORT_MAX_FILES = env_int("PHOTO_IMPORT_MAX_FILES", 50_000)
PHOTO_IMPORT_STALE_SECONDS = env_float("PHOTO_IMPORT_STALE_SECONDS", 600)
# Django's own cap on files per request answers a bare 400; ours, below it, says why.
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES + 10
