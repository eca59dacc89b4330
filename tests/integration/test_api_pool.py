"""The query API's database pool against a real Postgres: more concurrent requests than
connections wait for one (no 503 "database unavailable" from an exhausted pool), a request
that waits too long is answered "busy", and statements run under a statement_timeout."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from streams.http.errors import Busy, Unavailable
from streams.http.queries import Queries
from streams.ops.duties import Duty


def test_concurrent_requests_wait_for_a_connection_instead_of_failing(services):
    queries = Queries(services.database(Duty.API).reveal(), size=2)

    def one(_: int) -> str:
        try:
            with queries.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(0.02)")
            return "ok"
        except Unavailable as exc:
            return str(exc)

    try:
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(one, range(200)))
    finally:
        queries.close()
    assert answers == ["ok"] * 200


def test_a_request_that_finds_every_connection_busy_too_long_is_answered_busy(services):
    queries = Queries(services.database(Duty.API).reveal(), size=1, wait_s=0.3)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with queries.cursor() as cursor:
            cursor.execute("SELECT 1")
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with pytest.raises(Busy, match="busy"), queries.cursor():
            pass
    finally:
        release.set()
        holder.join(10)
    with queries.cursor() as cursor:  # free again
        cursor.execute("SELECT 1")
    queries.close()


def test_statements_run_under_a_statement_timeout(services):
    queries = Queries(services.database(Duty.API).reveal(), statement_timeout_ms=200)
    try:
        with queries.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone() == ("200ms",)
        with pytest.raises(Unavailable), queries.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")
        with queries.cursor() as cursor:  # the pool still answers afterwards
            cursor.execute("SELECT 1")
    finally:
        queries.close()
