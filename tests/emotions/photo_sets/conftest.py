"""Fixtures for the photo dataset tests: tasks sent by name are recorded instead of sent (no broker here;
the tests on a real worker send them for real), and the photo folders of photo_sets_test_support."""
from __future__ import annotations

import pytest

from emotions.infra import dispatch


class RecordedSends(list):
    """(task name, args) of every task sent."""

    def of(self, task_name: str) -> list:
        return [args for name, args in self if name == task_name]


@pytest.fixture
def sent(monkeypatch, request) -> RecordedSends:
    recorded = RecordedSends()

    def record(task_name, args, **options):
        recorded.append((task_name, list(args)))
        return type("AsyncResult", (), {"id": f"task-{len(recorded)}"})()

    monkeypatch.setattr(dispatch, "send", record)
    return recorded


@pytest.fixture(autouse=True)
def _no_broker(request):
    if not request.node.get_closest_marker("integration"):
        request.getfixturevalue("sent")
