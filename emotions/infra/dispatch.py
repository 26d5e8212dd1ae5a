"""Sending work to the Celery workers by task name.

Services enqueue through here, never through the task objects: a domain's tasks module imports its
services, so a service importing the tasks back would close a circle. `app.send_task` routes by name
through settings.CELERY_TASK_ROUTES exactly as `task.apply_async` would; the names are each task's
`@shared_task(name=...)`, which workers and the routes depend on (tests/emotions/test_layout.py keeps the
services' names and the registered tasks in step).
"""
from __future__ import annotations

from celery.result import AsyncResult

from fer_site.celery import app


def send(task_name: str, args: list, **options) -> AsyncResult:
    """Send `task_name(*args)` to its queue; raises what the broker connection raises when it is down."""
    return app.send_task(task_name, args=args, **options)
