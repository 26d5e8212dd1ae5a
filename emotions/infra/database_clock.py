"""The time by the database's clock, for a time one host writes and another judges (a claim's start that
a web host or the sweep later finds stale): hosts' clocks drift apart, the database's is one for all.

On PostgreSQL that is its now(), microseconds and all, so a row's time read back compares equal to
itself (a claim is recognised by its start). SQLite serves one host, whose clock is then the only one,
and its own now() would round to milliseconds: there it is this process's time.
"""
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone


def database_now():
    """An expression for .update()/.create(): the database's now(); on SQLite, timezone.now()."""
    return timezone.now() if connection.vendor == "sqlite" else Now()
