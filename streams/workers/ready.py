"""The readiness of the workers without an HTTP server of their own: passage fusion and the
Postgres projection (:mod:`streams.ops.readiness`; served by :func:`streams.http.ops.serve_ops`).
"""

from __future__ import annotations

from readers.fusion_worker import FusionWorker
from streams.ops import readiness as checks
from streams.ops.readiness import Check, Readiness
from streams.workers.projection import Projection
from topics import catalog


def fusion(
    worker: FusionWorker,
    stall_s: float = checks.STALL_S,
    max_lag: int = checks.MAX_LAG_RECORDS,
) -> Readiness:
    """Fusion is alive while its thread runs; ready while it reaches the broker and takes the
    raw reads that wait, keeping up with them."""
    topic = catalog.RAW_READS.name

    def stopped() -> Check:
        if worker.error is None:
            return checks.passed("fusion", "fusing")
        return checks.failed("fusion", f"stopped: {worker.error}")

    return Readiness(
        "fusion",
        [
            stopped,
            checks.broker(worker.watch),
            checks.progress(worker.watch, topic, stall_s),
            checks.lag(worker.watch, topic, max_lag),
        ],
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
