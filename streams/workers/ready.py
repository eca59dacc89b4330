"""The readiness of the workers without an HTTP server of their own: the tracking core, passage
fusion and the Postgres projection (:mod:`streams.ops.readiness`; served by
:func:`streams.http.ops.serve_ops`).
"""

from __future__ import annotations

from dataclasses import replace

from readers.fusion_worker import FusionWorker
from streams.ops import readiness as checks
from streams.ops.readiness import Check, Probe, Readiness
from streams.workers.core import CoreWorker
from streams.workers.projection import Projection
from topics import catalog


def _fusion_probes(worker: FusionWorker, stall_s: float, max_lag: int) -> list[Probe]:
    topic = catalog.RAW_READS.name

    def stopped() -> Check:
        if worker.error is None:
            return checks.passed("fusion", "fusing")
        return checks.failed("fusion", f"stopped: {worker.error}")

    return [
        stopped,
        checks.broker(worker.watch),
        checks.progress(worker.watch, topic, stall_s),
        checks.lag(worker.watch, topic, max_lag),
    ]


def fusion(
    worker: FusionWorker,
    stall_s: float = checks.STALL_S,
    max_lag: int = checks.MAX_LAG_RECORDS,
) -> Readiness:
    """Fusion is alive while its thread runs; ready while it reaches the broker and takes the
    raw reads that wait, keeping up with them."""
    return Readiness(
        "fusion",
        _fusion_probes(worker, stall_s, max_lag),
        [checks.thread_alive("fusion_thread", lambda: worker.thread)],
        kind="fusion",
    )


def projection(
    worker: Projection,
    stall_s: float = checks.STALL_S,
    max_lag: int = checks.MAX_LAG_RECORDS,
) -> Readiness:
    """The projection is alive while its thread runs; ready while the database and the broker
    answer and it takes the records that wait on its topics, keeping up with them."""
    topics = f"the {len(worker.topics)} projected topics"

    def database() -> Check:
        lost = worker.database_lost
        if lost is None:
            return checks.passed("database", "writing")
        since, detail = lost
        return checks.failed(
            "database", f"the database is unavailable{checks.since(since)} ({detail})"
        )

    def stopped() -> Check:
        if worker.error is None:
            return checks.passed("projection", "projecting")
        return checks.failed("projection", f"stopped: {worker.error}")

    return Readiness(
        "projection",
        [
            stopped,
            database,
            checks.broker(worker.watch),
            checks.progress(worker.watch, topics, stall_s),
            checks.lag(worker.watch, topics, max_lag),
        ],
        [checks.thread_alive("projection_thread", lambda: worker.thread)],
        kind="projection",
    )


def _prefixed(prefix: str, name: str) -> str:
    return name if name.startswith(prefix.rstrip("_")) else f"{prefix}{name}"


def _named(prefix: str, probe: Probe) -> Probe:
    """``probe`` with its check's name prefixed: two workers of one process, one set of labels."""

    def renamed() -> Check:
        found = probe()
        return replace(found, name=_prefixed(prefix, found.name))

    renamed.__name__ = _prefixed(prefix, getattr(probe, "__name__", "check"))
    return renamed


def core(
    worker: CoreWorker,
    fusion_worker: FusionWorker | None = None,
    stall_s: float = checks.STALL_S,
    max_lag: int = checks.MAX_LAG_RECORDS,
) -> Readiness:
    """``iotrack run``: the core is ready once it has restored its state and while it reaches
    the broker, commits what it takes (a batch in hand too long: a transaction that does not
    complete) and keeps up with its inputs; not while it starts again from its last committed
    batch. Fusion's checks too, prefixed ``fusion_``, when it runs in the same process."""
    topics = "the core's inputs"

    def stopped() -> Check:
        if worker.error is None:
            return checks.passed("core", "tracking")
        return checks.failed("core", f"stopped: {worker.error}")

    def starting() -> Check:
        found = worker.starting
        if found is None:
            return checks.passed("start", "state restored, consuming from the committed offsets")
        since, why = found
        return checks.failed(
            "start", f"starting from the last committed batch{checks.since(since)} ({why})"
        )

    probes: list[Probe] = [
        stopped,
        starting,
        checks.broker(worker.watch),
        checks.progress(worker.watch, topics, stall_s),
        checks.lag(worker.watch, topics, max_lag),
    ]
    alive: list[Probe] = []
    if fusion_worker is not None:
        probes += [_named("fusion_", p) for p in _fusion_probes(fusion_worker, stall_s, max_lag)]
        alive.append(checks.thread_alive("fusion_thread", lambda: fusion_worker.thread))
    return Readiness("core", probes, alive, kind="core")
