"""No process started by a test run outlives it: checked once, when the session ends.

At the start of the session this process becomes a *child subreaper* (Linux
``PR_SET_CHILD_SUBREAPER``): a process started by a test that its own parent left behind (a
Postgres that ``pg_ctl`` detached, a broker whose demo exited) is re-parented to this process
instead of to init. So when the session ends, every process the run started and did not stop is
a child of this one. Those still running are named, stopped (they are the run's own), and the
run fails; zombies (exited, never waited for) are reaped.

A test must stop what it started even when it fails: a server left running makes the next run
on the same machine flaky (a port taken, a data folder locked).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PR_SET_CHILD_SUBREAPER = 36
GRACE_S = float(os.environ.get("IOTRACK_TEST_LEFTOVER_GRACE_S", "10"))
"""How long a process a fixture has just told to stop has to exit before it counts as left."""


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (False where unsupported)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of ``pid``, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0]


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:300] or "?"


def children(parent: int) -> dict[int, str]:
    """Every child of ``parent``, with its state letter (``Z``: a zombie)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] == parent:
                found[int(entry.name)] = stat[1]
    return found


def _reap(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def left_running(parent: int, before: set[int], grace_s: float = GRACE_S) -> dict[int, str]:
    """The children of ``parent`` not in ``before`` that still run after ``grace_s``, with
    their command lines; the zombies among them are reaped on the way."""
    deadline = time.monotonic() + grace_s
    while True:
        found = {pid: state for pid, state in children(parent).items() if pid not in before}
        _reap({pid for pid, state in found.items() if state == "Z"})
        running = {pid for pid, state in found.items() if state != "Z"}
        if not running or time.monotonic() >= deadline:
            return {pid: _command(pid) for pid in running}
        time.sleep(0.2)


def stop(pids: set[int]) -> None:
    """SIGTERM, then SIGKILL what is still there after a few seconds; reap them."""
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        alive = set()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                alive.add(pid)
        deadline = time.monotonic() + wait_s
        while alive and time.monotonic() < deadline:
            _reap(alive)
            alive = {p for p in alive if (s := _stat(p)) is not None and s[1] != "Z"}
            time.sleep(0.1)
        if not alive:
            return
    _reap(pids)


@pytest.fixture(scope="session", autouse=True)
def no_process_left() -> Iterator[None]:
    """Fails the run (an error at the teardown of its last test) when a process the run
    started still runs once every other fixture has stopped what it started. Autouse and
    session-scoped: set up before, and so torn down after, every other fixture."""
    me = os.getpid()
    subreaper = become_subreaper()
    before = set(children(me))
    yield
    if not subreaper:
        return
    left = left_running(me, before)
    if left:
        stop(set(left))
        lines = "\n".join(f"  pid {pid}: {command}" for pid, command in sorted(left.items()))
        pytest.fail(
            f"{len(left)} process(es) started by this test run were still running at its end "
            f"(now stopped):\n{lines}\nA test must stop what it starts, even when it fails.",
            pytrace=False,
        )
