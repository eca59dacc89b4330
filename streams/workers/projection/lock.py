"""One projection writes a database at a time: its advisory lock, and truncating under it."""

from __future__ import annotations

import time

import psycopg2
import psycopg2.extensions

from streams.errors import StreamsError
from streams.workers.projection.tables import CONSUMER, PROJECTED_TABLES

LOCK_WAIT_S = 5.0
"""How long a projection (or a rebuild) waits for another one to let go of the database."""


class ProjectionError(StreamsError):
    """The projection could not read its position or write its rows."""


class ProjectionLockError(ProjectionError):
    """Another projection (or rebuild) with the same consumer name holds the database."""


def lock_key(consumer_name: str) -> str:
    """The text the advisory lock is keyed by (``hashtextextended(key, 0)``): the web console
    looks in ``pg_locks`` for it to tell whether a projection runs."""
    return f"iotrack-projection:{consumer_name}"


_lock_key = lock_key


def lock(
    db: psycopg2.extensions.connection, consumer_name: str, wait_s: float = LOCK_WAIT_S
) -> None:
    """Take the projection's advisory lock on ``db``'s session (held until it closes), or
    raise ProjectionLockError after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        with db, db.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (_lock_key(consumer_name),)
            )
            row = cursor.fetchone()
        if row is not None and row[0]:
            return
        if time.monotonic() >= deadline:
            raise ProjectionLockError(
                f"another projection ({consumer_name!r}: 'iotrack project', a demo or "
                "'iotrack projection rebuild') is writing this database; stop it first, then "
                "run this again"
            )
        time.sleep(0.2)


def truncate(
    database_url: str, consumer_name: str = CONSUMER, lock_wait_s: float = LOCK_WAIT_S
) -> None:
    """Empty the projected tables and the projection's positions, in one transaction, under
    the projection's lock (ProjectionLockError while a projection runs)."""
    try:
        db = psycopg2.connect(database_url, connect_timeout=10)
    except psycopg2.Error as exc:
        raise ProjectionError(f"cannot connect to the database: {exc}".strip()) from exc
    try:
        lock(db, consumer_name, lock_wait_s)
        truncate_tables(db, consumer_name)
    finally:
        db.close()


def truncate_tables(db: psycopg2.extensions.connection, consumer_name: str) -> None:
    """Empty the projected tables and ``consumer_name``'s positions in one transaction (the
    caller holds the lock). Sequences are not restarted: a deviation cursor handed out before
    still reaches every row recorded after it (again, once)."""
    with db, db.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(PROJECTED_TABLES)}")
        cursor.execute("DELETE FROM consumer_positions WHERE consumer = %s", (consumer_name,))
