"""A thread beside long work (a training run, a video's analysis) that keeps the work's row alive in the
database and notices when the work is no longer wanted, so the working thread never waits on the database.

It stops with its process: a killed worker stops beating, and a sweep elsewhere takes the row back once
its heartbeat is old."""
from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)


class Heartbeat:
    """Calls `still_wanted()` every `poll_seconds` on a daemon thread; the first False sets `stop_requested`
    and ends the thread. A subclass says what beating and being wanted mean for its row."""

    def __init__(self, name: str, poll_seconds: float):
        self.name = name
        self.poll_seconds = poll_seconds
        self.stop_requested = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def still_wanted(self) -> bool:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        try:
            while not self._done.wait(self.poll_seconds):
                try:
                    close_old_connections()
                    wanted = self.still_wanted()
                except Exception:  # a locked or restarting database: try again at the next poll
                    logger.warning("%s failed", self.name, exc_info=True)
                    continue
                if not wanted:
                    self.stop_requested.set()
                    return
        finally:
            connection.close()  # this thread's own connection, never the working thread's
