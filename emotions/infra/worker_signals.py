"""What the `inference` workers tell the web processes through Redis, the broker they share: that a worker
is alive (keys each worker refreshes every second: any worker's, and its own), and that an upload is finished (a list the waiting
request blocks on, so it answers the moment the worker is done instead of polling the database).

Both are hints. With Redis down no worker counts as alive and waiting falls back to short sleeps; the
upload's row stays the one source of truth.
"""
from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

ALIVE_KEY = "fer:inference-worker-alive"
ALIVE_SECONDS = 3.0  # a worker silent this long is dead (killed, or its host gone)
BEAT_SECONDS = 1.0
FINISHED_KEY = "fer:upload-finished:{}"
FINISHED_KEEP_SECONDS = 60

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _client() -> redis.Redis | None:
    """A client of the broker this process sends tasks to (which tests repoint), None if it is not Redis."""
    from fer_site.celery import app

    url = app.conf.broker_url or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5,
                                                 socket_timeout=settings.BROKER_TIMEOUT_SECONDS)
        return _clients[url]


# Alive ----------------------------------------------------------------------------------------------
def workers_alive() -> bool:
    """Whether some `inference` worker beat within ALIVE_SECONDS."""
    return _exists(ALIVE_KEY)


def worker_alive(node: str) -> bool:
    """Whether the worker with this node name (`inference@host`) beat within ALIVE_SECONDS."""
    return _exists(f"{ALIVE_KEY}:{node}")


def _exists(key: str) -> bool:
    client = _client()
    if client is None:
        return False
    try:
        return bool(client.exists(key))
    except redis.RedisError:
        return False


def beat_once(node: str) -> None:
    client = _client()
    if client is not None:
        alive = int(ALIVE_SECONDS * 1000)
        client.pipeline().set(ALIVE_KEY, "1", px=alive).set(f"{ALIVE_KEY}:{node}", "1", px=alive).execute()


def start_beating(node: str) -> threading.Thread:
    """In a worker's main process: beat every BEAT_SECONDS for as long as the process lives."""

    def beat_forever() -> None:
        while True:
            try:
                beat_once(node)
            except redis.RedisError as error:  # Redis down: nobody can send us work anyway
                logger.debug("inference heartbeat failed: %s", error)
            time.sleep(BEAT_SECONDS)

    thread = threading.Thread(target=beat_forever, name="inference heartbeat", daemon=True)
    thread.start()
    return thread


# Finished -------------------------------------------------------------------------------------------
def announce_finished(upload_id) -> None:
    client = _client()
    if client is None:
        return
    key = FINISHED_KEY.format(upload_id)
    try:
        client.pipeline().rpush(key, "1").expire(key, FINISHED_KEEP_SECONDS).execute()
    except redis.RedisError as error:  # the waiter still sees the row within its next wait
        logger.debug("could not announce upload %s: %s", upload_id, error)


def wait_for_finished(upload_id, timeout: float) -> None:
    """Return when a worker announces `upload_id` finished, or after `timeout` seconds (about)."""
    timeout = max(0.01, timeout)
    client = _client()
    if client is not None:
        started = time.monotonic()
        try:
            client.blpop([FINISHED_KEY.format(upload_id)], timeout=timeout)
            return
        except redis.RedisError:
            timeout -= time.monotonic() - started
    time.sleep(max(0.0, min(timeout, 0.1)))
