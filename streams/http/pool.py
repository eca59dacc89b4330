"""Database connections of the HTTP side, on psycopg 3's pool (``psycopg_pool``).

The pool does what the API needs without code of ours around it: a request waits up to
``wait_s`` for a connection (then :class:`Busy`, answered 503) instead of failing because the
pool is exhausted; each connection is checked before it is handed out, so one a database restart
killed is replaced and the first request after the restart is answered; each new connection is
set up once (``statement_timeout``, read-only for the query API) through libpq's ``options``.
What is ours: telling "the database is away" (:class:`Unavailable`, at once) from "every
connection is busy" (:class:`Busy`, after the wait), from the outcome of the pool's own last
connection attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from streams.http.errors import Busy, Unavailable

FAST_FAIL_S = 0.25
"""How often a request waiting for a connection looks whether the pool's last attempt to
connect failed (then it is answered at once: the database is unavailable)."""


class _Reachability:
    """Whether the pool's last attempt to open a connection failed (None: it did not)."""

    def __init__(self) -> None:
        self.failed_at: float | None = None


class ReadPool:
    """A small thread-safe pool of database connections.

    At most ``size`` requests use the database at once: the others wait up to ``wait_s`` for
    a connection (then :class:`Busy`). Every statement runs under ``statement_timeout_ms``;
    with ``read_only`` every transaction is read-only (the query API's role by duty)."""

    def __init__(
        self,
        database_url: str,
        size: int = 8,
        *,
        wait_s: float = 5.0,
        statement_timeout_ms: int = 10_000,
        read_only: bool = True,
        name: str = "iotrack-api",
    ) -> None:
        self._size = size
        self.wait_s = wait_s
        self.statement_timeout_ms = statement_timeout_ms
        reach = self._reach = _Reachability()

        class Watched(psycopg.Connection[tuple[Any, ...]]):
            """A connection whose opening tells the pool's reachability."""

            @classmethod
            def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
                try:
                    connection = super().connect(conninfo, **kwargs)
                except psycopg.OperationalError:
                    reach.failed_at = time.monotonic()
                    raise
                reach.failed_at = None
                return connection

        options = f"-c statement_timeout={int(statement_timeout_ms)}"
        if read_only:
            options += " -c default_transaction_read_only=on"
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            database_url,
            min_size=1,
            max_size=size,
            timeout=wait_s,
            reconnect_timeout=10.0,
            max_idle=300.0,
            check=ConnectionPool.check_connection,
            connection_class=Watched,
            kwargs={"autocommit": True, "connect_timeout": 5, "options": options},
            name=name,
            open=False,
        )
        self._opened = False
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """How many connections the pool holds at most (and requests use it at once)."""
        return self._size

    def _open(self) -> ConnectionPool[psycopg.Connection[tuple[Any, ...]]]:
        with self._lock:
            if not self._opened:
                self._pool.open(wait=False)
                self._opened = True
        return self._pool

    def _wait_for(
        self, pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]]
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection within ``wait_s``, waited for in slices of :data:`FAST_FAIL_S` so that a
        failed attempt to connect ends the wait at once."""
        deadline = time.monotonic() + self.wait_s
        while True:
            left = deadline - time.monotonic()
            try:
                return pool.getconn(timeout=max(0.001, min(left, FAST_FAIL_S)))
            except PoolTimeout:
                if self._reach.failed_at is not None:
                    raise Unavailable("the database is unavailable") from None
                if time.monotonic() >= deadline:
                    raise Busy(
                        f"the database is busy: all {self._size} connections stayed in use "
                        f"for {self.wait_s:g} s; retry shortly"
                    ) from None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A pooled connection (autocommit; ``with connection.transaction():`` for several
        statements at once); Busy when none frees up within ``wait_s``, Unavailable when the
        database is not there or the connection breaks."""
        pool = self._open()
        connection = self._wait_for(pool)
        try:
            yield connection
        except psycopg.OperationalError as exc:
            raise Unavailable("the database is unavailable") from exc
        finally:
            pool.putconn(connection)

    @contextmanager
    def cursor(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        """A cursor on a pooled connection (see :meth:`connection`)."""
        with self.connection() as connection, connection.cursor() as cursor:
            yield cursor

    def close(self) -> None:
        with self._lock:
            if self._opened:
                self._pool.close()
                self._opened = False

    def healthy(self) -> bool:
        try:
            with self.cursor() as cursor:
                cursor.execute("SELECT 1")
                return True
        except Unavailable:
            return False
