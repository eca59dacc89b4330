"""Readiness that means something: whether a long-running process is doing its job, and why not.

A process is *alive* (``/health``) while it runs and its essential threads do; it is *ready*
(``/ready``) while it does its job. Each process declares the checks that say so, one function
each returning a :class:`Check`: an essential thread died, records wait and none is taken, the
consumer lag is over its bound, a spool's oldest record waited too long, the broker or the
database is lost. ``/ready`` answers 503 with the reason of every failing check, ``iotrack
status`` prints it on the process's line, and ``iotrack_ready{process,check}`` is 0 while a
check fails (``iotrack_alive{process}`` likewise), evaluated at every scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

STALL_S = 30.0
"""Records waiting this long with none taken: the process makes no progress."""
MAX_LAG_RECORDS = 100_000
"""Records waiting on a consumer's topics beyond which it is too far behind to be ready."""
MAX_SPOOL_AGE_S = 120.0
"""A reader whose oldest spooled record waited longer is not delivering."""


@dataclass(frozen=True)
class Check:
    """One condition of readiness: its name (a metric label), whether it holds, and why."""

    name: str
    ok: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "reason": self.reason}


Probe = Callable[[], Check]


def passed(name: str, reason: str = "ok") -> Check:
    return Check(name, True, reason)


def failed(name: str, reason: str) -> Check:
    return Check(name, False, reason)


class Readiness:
    """The checks of one process. ``alive`` are those whose failure means the process is no
    longer alive (an essential thread died: only a restart helps); ``ready`` those of doing
    its job. A probe that raises counts as failing, with the error as its reason."""

    def __init__(
        self,
        process: str,
        ready: Sequence[Probe] = (),
        alive: Sequence[Probe] = (),
        *,
        kind: str | None = None,
    ) -> None:
        self.process = process
        """What it is, for people: ``reader ocr@PORT-GATE-1-L2``, ``fusion``."""
        self.kind = kind or process.split(" ", 1)[0]
        """The kind of process, a small closed set (a metric label): reader, fusion, ..."""
        self._ready = list(ready)
        self._alive = list(alive)
        self._lock = threading.Lock()

    def add(self, probe: Probe, *, alive: bool = False) -> None:
        with self._lock:
            (self._alive if alive else self._ready).append(probe)

    @staticmethod
    def _run(probes: Sequence[Probe]) -> list[Check]:
        found = []
        for probe in probes:
            try:
                found.append(probe())
            except Exception as exc:  # a probe that fails is a failing check, never a 500
                name = getattr(probe, "__name__", "check")
                found.append(failed(name, f"the check failed: {type(exc).__name__}: {exc}"))
        return found

    def liveness(self) -> list[Check]:
        with self._lock:
            probes = list(self._alive)
        return self._run(probes)

    def checks(self) -> list[Check]:
        """Every check: liveness first (a dead thread is not ready either)."""
        with self._lock:
            probes = [*self._alive, *self._ready]
        return self._run(probes)

    def alive(self) -> tuple[bool, list[Check]]:
        found = self.liveness()
        return all(c.ok for c in found), found

    def ready(self) -> tuple[bool, list[Check]]:
        found = self.checks()
        return all(c.ok for c in found), found


def reasons(checks: Sequence[Check]) -> str:
    """The failing checks' reasons, or that all is well."""
    failing = [f"{c.name}: {c.reason}" for c in checks if not c.ok]
    return "; ".join(failing) if failing else "doing its job"


def document(readiness: Readiness, *, live_only: bool = False) -> tuple[bool, dict[str, Any]]:
    """``/health`` (``live_only``) or ``/ready`` as (ok, JSON document)."""
    ok, found = readiness.alive() if live_only else readiness.ready()
    words = ("alive", "dead") if live_only else ("ready", "not ready")
    return ok, {
        "status": words[0] if ok else words[1],
        "process": readiness.process,
        "reason": reasons(found),
        "checks": [c.as_json() for c in found],
    }


# -- probes many processes share ------------------------------------------------------------


def thread_alive(name: str, thread: Callable[[], threading.Thread | None]) -> Probe:
    """An essential thread runs (``thread`` gives it; None: not started yet, which passes)."""

    def probe() -> Check:
        found = thread()
        if found is None or found.is_alive():
            return passed(name, f"thread {found.name if found else name} runs")
        return failed(name, f"thread {found.name} died; restart the process")

    probe.__name__ = name
    return probe


def broker(watch: Any, what: str = "broker") -> Probe:
    """A client reaches the cluster (``watch``: a :class:`topics.clients.ClientWatch`)."""

    def probe() -> Check:
        lost = watch.unreachable()
        return passed(what, "a broker is reachable") if lost is None else failed(what, lost)

    probe.__name__ = what
    return probe


def progress(watch: Any, topics: str, stall_s: float = STALL_S) -> Probe:
    """The consumer of ``topics`` makes progress: what it took last is not still in hand after
    ``stall_s``, its loop polls while it holds nothing (librdkafka's statistics keep coming),
    and records that wait are taken (none taken for ``stall_s`` while records wait is no
    progress)."""

    def probe() -> Check:
        stuck = watch.stuck_s()
        if stuck >= stall_s:
            return failed(
                "progress",
                f"the records taken last from {topics} have been in hand for {stuck:.0f} s",
            )
        quiet = watch.quiet_s()
        if not stuck and quiet >= stall_s:  # in hand, it polls not: said above once too long
            return failed(
                "progress",
                f"the consumer of {topics} has not been polled for {quiet:.0f} s: its loop stopped",
            )
        stalled = watch.stalled_s()
        if stalled < stall_s:
            return passed("progress", "taking what arrives")
        return failed(
            "progress",
            f"{watch.waiting()} records wait on {topics} and none was taken for {stalled:.0f} s",
        )

    probe.__name__ = "progress"
    return probe


def lag(watch: Any, topics: str, max_records: int = MAX_LAG_RECORDS) -> Probe:
    """The consumer is at most ``max_records`` behind on ``topics``."""

    def probe() -> Check:
        waiting = watch.waiting()
        if waiting <= max_records:
            return passed("lag", f"{waiting} records behind")
        return failed("lag", f"{waiting} records behind on {topics}, over {max_records}")

    probe.__name__ = "lag"
    return probe


def since(at: float | None) -> str:
    """``for N s`` since a monotonic time."""
    return "" if at is None else f" for {time.monotonic() - at:.0f} s"
