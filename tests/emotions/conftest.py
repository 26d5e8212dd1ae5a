"""Fixtures for the web app: personas, records, and for the integration tests a real redis-server and
real Celery workers (processes on 127.0.0.1, random free ports) sharing a file SQLite database and
MEDIA_ROOT with the test process."""
from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client
from emotions_test_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    BrowserPage,
    PostgresServer,
    RedisServer,
    Stack,
    dataset_for,
    make_experiment,
    make_noise_store,
    save_tiny_checkpoint,
)

from emotions.models import Dataset, Experiment


# The database and files ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request, tmp_path_factory):
    """A test database in a file (not in memory), so worker processes can open the same one; or, with
    --database=postgresql, on a PostgreSQL server of the run's own."""
    if request.config.getoption("--database") == "postgresql":
        server = request.getfixturevalue("postgres_server")
        database = settings.DATABASES["default"]
        test = {**database.get("TEST", {}), **server.database_settings().pop("TEST")}
        # In place, over Django's defaults; OPTIONS replaced: SQLite's (timeout, WAL) mean nothing here.
        database.update(server.database_settings(), TEST=test)
        try:
            del connections["default"]  # made from the SQLite settings if anything touched it already
        except AttributeError:
            pass
        return
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = PostgresServer()
    except RuntimeError as error:  # not installed
        pytest.fail(str(error))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Each test its own MEDIA_ROOT: run folders are named by pk, and pks repeat after a rollback."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def noise_dataset(db, _media_in_tmp) -> Dataset:
    return dataset_for(make_noise_store(), "noise")


@pytest.fixture(scope="session")
def fer2013_tiny_store(fer2013_store):
    """100 real FER2013 faces per split (300 in all): a run of an epoch or two takes seconds on a CPU."""
    return fer2013_store.subsample(100, seed=0)


@pytest.fixture
def fer2013_tiny_dataset(db, fer2013_tiny_store, _media_in_tmp) -> Dataset:
    return dataset_for(fer2013_tiny_store, "fer2013-tiny")


@pytest.fixture
def experiment(noise_dataset) -> Experiment:
    return make_experiment(noise_dataset)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """The shipped model of the upload, video and live tests (their conftests point SHIPPED_MODEL_PATH at it)."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("weights") / "default.pt")


@pytest.fixture
def no_model(settings, tmp_path):
    settings.SHIPPED_MODEL_PATH = tmp_path / "missing" / "default.pt"


# Personas ---------------------------------------------------------------------------------------
@pytest.fixture
def staff(django_user_model):
    """Staff with every permission on the emotions app: runs experiments."""
    user = django_user_model.objects.create_user("staff", password="staff-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="emotions"))
    return user


@pytest.fixture
def viewer(django_user_model):
    """Staff who may only look at experiments and runs."""
    user = django_user_model.objects.create_user("viewer", password="viewer-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="emotions", codename__startswith="view_"))
    return user


@pytest.fixture
def outsider(django_user_model):
    """A signed-up user who is not staff."""
    return django_user_model.objects.create_user("outsider", password="outsider-password")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def member(django_user_model):
    """A signed-up user who is not staff: uploads photos and videos, looks at the dashboards."""
    return django_user_model.objects.create_user("member", password="member-password")


@pytest.fixture
def member_client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def visitor(db) -> Client:
    """Someone who opened the site without logging in: their photos and videos belong to their session."""
    return Client()


@pytest.fixture
def stranger(db) -> Client:
    """Another anonymous visitor, in a browser session of their own."""
    return Client()


# Processes (integration tests) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker_stack(django_db_setup, redis_server, tmp_path_factory):
    with Stack(redis_server, tmp_path_factory.mktemp("stack")) as processes:
        processes.start_worker()
        processes.start_beat()  # the periodic sweep, every second here
        yield processes


@pytest.fixture
def media_shared_with_workers(settings, _media_in_tmp, worker_stack):
    settings.MEDIA_ROOT = worker_stack.media


@pytest.fixture(scope="module")
def inference_worker_env() -> dict:
    """What the `inference` worker's environment adds to the test process's (a folder's conftest may say more)."""
    return {}


@pytest.fixture(scope="module")
def inference_stack(django_db_setup, redis_server, tmp_path_factory, inference_worker_env):
    """A prefork worker on the `inference` queue alone, as production runs it, on the module's Redis."""
    with Stack(redis_server, tmp_path_factory.mktemp("inference-stack")) as processes:
        processes.env.update(inference_worker_env)
        processes.start_inference_worker()
        yield processes


@pytest.fixture
def media_shared_with_inference_worker(settings, _media_in_tmp, inference_stack):
    settings.MEDIA_ROOT = inference_stack.media


# A real browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """Debian's headless Chromium, driven by Playwright (which cannot download a browser here)."""
    if not CHROMIUM.exists():
        message = f"needs Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test` installs it)"
        if os.environ.get("CI"):  # CI must run the browser tests, never pass by skipping them
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # While Playwright runs, its sync API keeps an asyncio loop in this thread, and Django refuses database
    # calls made here (SynchronousOnlyOperation) though no coroutine is involved: the tests write rows
    # between page actions. So the check is off while a browser is open, the browser is open for one
    # module only, and it opens after the test database is made.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A desktop page on the live server (`page.base_url`) that fails the test on any JavaScript error: the
    upload and video pages' (the dashboards and the live page have pages of their own, logged in or filmed)."""
    # 30 s: a video's progress and a worker-less photo take their time
    watched = BrowserPage(browser.new_context(viewport={"width": 1280, "height": 900}), live_server.url, 30_000)
    yield watched.page
    watched.close_without_errors()
