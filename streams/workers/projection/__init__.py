"""The Postgres projection: public topics -> tables, exactly once (see ``worker``)."""

from streams.workers.projection.gate_check import gate_check
from streams.workers.projection.lock import (
    LOCK_WAIT_S,
    ProjectionError,
    ProjectionLockError,
    truncate,
)
from streams.workers.projection.tables import CONSUMER, PROJECTED_TABLES, TOPICS
from streams.workers.projection.worker import Projection, rebuild

__all__ = [
    "CONSUMER",
    "LOCK_WAIT_S",
    "PROJECTED_TABLES",
    "TOPICS",
    "Projection",
    "ProjectionError",
    "ProjectionLockError",
    "gate_check",
    "rebuild",
    "truncate",
]
