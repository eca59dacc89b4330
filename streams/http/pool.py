"""A small thread-safe pool of read-only database connections for the API's queries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from streams.http.errors import Busy, Unavailable
from streams.http.timeline import TIMELINE_PASSAGES


def _alive(connection: psycopg2.extensions.connection) -> bool:
    """Whether a pooled connection still reaches the server (one round trip)."""
    if connection.closed:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not connection.autocommit:
            connection.rollback()
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        return False
    return True


class ReadPool:
    """A small thread-safe pool of read-only connections.

    At most ``size`` requests use the database at once: the others wait up to ``wait_s`` for
    a connection (then :class:`Busy`, answered 503) instead of failing at once because the
    pool is exhausted. Every statement runs under ``statement_timeout_ms``."""

    def __init__(
        self,
        database_url: str,
        size: int = 8,
        *,
        wait_s: float = 5.0,
        statement_timeout_ms: int = 10_000,
    ) -> None:
        self._url = database_url
        self._size = size
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self.wait_s = wait_s
        self.statement_timeout_ms = statement_timeout_ms
        self.timeline_passages = TIMELINE_PASSAGES

    @property
    def size(self) -> int:
        """How many connections the pool holds at most (and requests use it at once)."""
        return self._size

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    1, self._size, self._url, connect_timeout=5
                )
            return self._pool

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor in a read-only session; Busy when no connection frees up within
        ``wait_s``, Unavailable when the database is not there."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise Busy(
                f"the database is busy: all {self._size} connections stayed in use for "
                f"{self.wait_s:g} s; retry shortly"
            )
        try:
            with self._connection() as cursor:
                yield cursor
        finally:
            self._slots.release()

    @contextmanager
    def _connection(self) -> Iterator[psycopg2.extensions.cursor]:
        try:
            pool = self._get_pool()
            connection = pool.getconn()
            if not _alive(connection):
                # A pooled connection from before a database restart: replace it, so the
                # first request after the restart is answered instead of failing.
                pool.putconn(connection, close=True)
                connection = pool.getconn()
        except psycopg2.Error as exc:
            raise Unavailable("the database is unavailable") from exc
        broken = False
        try:
            if not connection.autocommit:  # a new connection: once, not per request
                connection.set_session(readonly=True, autocommit=True)
                with connection.cursor() as setup:
                    setup.execute(
                        "SELECT set_config('statement_timeout', %s, false)",
                        (str(self.statement_timeout_ms),),
                    )
            with connection.cursor() as cursor:
                yield cursor
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise Unavailable("the database is unavailable") from exc
        finally:
            pool.putconn(connection, close=broken or bool(connection.closed))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None

    def healthy(self) -> bool:
        try:
            with self.cursor() as cursor:
                cursor.execute("SELECT 1")
                return True
        except Unavailable:
            return False
