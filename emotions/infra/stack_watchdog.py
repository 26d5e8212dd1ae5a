"""The watchdog of `manage.py runstack` (emotions.infra.stack.Watchdog): `python -m emotions.infra.stack_watchdog`.

It reads '+PGID' (a child's process group started) and '-PGID' (gone) lines from the supervisor on
stdin. 'done' means the supervisor stopped its children itself. End of input without 'done' means the
supervisor died (SIGKILL, a crash): every group still listed gets SIGTERM, and SIGKILL a few seconds later.
The kernel has already killed the children themselves (PR_SET_PDEATHSIG); this ends what they forked.

No Django and no third-party imports: it starts in milliseconds and has nothing that could fail.
"""
import os
import signal
import sys
import time

GRACE_SECONDS = 3.0


def signal_groups(groups: set[int], signum: int) -> set[int]:
    """The groups that were still there."""
    alive = set()
    for pgid in groups:
        try:
            os.killpg(pgid, signum)
            alive.add(pgid)
        except ProcessLookupError:
            pass
        except PermissionError:
            alive.add(pgid)
    return alive


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the end of its input stops it
    groups: set[int] = set()
    for line in sys.stdin:
        line = line.strip()
        if line == "done":
            return 0
        if line[:1] in "+-" and line[1:].isdigit():
            (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
    groups = signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while groups and time.monotonic() < deadline:
        time.sleep(0.1)
        groups = signal_groups(groups, 0)
    signal_groups(groups, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
