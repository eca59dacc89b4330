"""Slow clients do not starve the API or a reader's ingest (issue 15, finding 5): 64
connections each sending a byte of a request every 5 s (and reconnecting when cut) fill the
connection cap, and every other client is still answered, at once, the whole time."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from readers.adapters import ReadPoint
from readers.service import ReaderService
from readers.spool import Spool
from streams.http.api import Api, make_server
from streams.http.ingest import ingest_app
from streams.http.queries import Queries
from streams.http.server import MAX_CONNECTIONS, Server
from streams.local.processes import free_port
from streams.ops import metrics
from tests.tokens import credentials_of
from topics.codec import SingleObjectCodec

SLOW = MAX_CONNECTIONS
BYTE_EVERY_S = 5.0


@pytest.fixture(params=["api", "reader"])
def served(request, tmp_path) -> Iterator[tuple[tuple[str, int], str]]:
    closing = []
    if request.param == "api":
        queries = Queries(f"postgresql://nobody@127.0.0.1:{free_port()}/none", size=2)
        closing.append(queries.close)
        server = make_server(
            Api(credentials_of(["slow-test-token-000001 customs"]), queries, None),
            "127.0.0.1",
            0,
        )
        path = "/openapi.json"
    else:
        spool = Spool(tmp_path / "spool.sqlite")
        closing.append(spool.close)
        service = ReaderService("barcode", ReadPoint("L1", "GATE"), spool, SingleObjectCodec())
        server = Server(ingest_app(service, None), name="test-reader")
        path = "/health"
    thread = server.start()
    yield server.server_address, path
    server.shutdown()
    thread.join(10)
    server.server_close()
    for close in closing:
        close()


def _slow_client(address: tuple[str, int], stop: threading.Event, opened: list[int]) -> None:
    """Sends a request a byte every BYTE_EVERY_S, and connects again whenever it is cut off."""
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=2) as connection:
                opened.append(1)
                for byte in request:
                    connection.sendall(bytes([byte]))
                    if stop.wait(BYTE_EVERY_S):
                        return
        except OSError:
            stop.wait(0.05)


def test_sixty_four_clients_sending_a_byte_every_five_seconds_keep_no_one_out(served):
    address, path = served
    stop = threading.Event()
    opened: list[int] = []
    slow = [
        threading.Thread(target=_slow_client, args=(address, stop, opened), daemon=True)
        for _ in range(SLOW)
    ]
    evicted_before = metrics.REGISTRY.get_sample_value("iotrack_api_connections_evicted_total")
    for thread in slow:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(opened) < SLOW:
            assert time.monotonic() < deadline, "the slow clients did not all connect"
            time.sleep(0.05)
        time.sleep(1.0)  # every slot taken, each by a client that has waited a while
        answered = []
        until = time.monotonic() + 8
        while time.monotonic() < until:
            started = time.monotonic()
            with urllib.request.urlopen(
                f"http://{address[0]}:{address[1]}{path}", timeout=5
            ) as answer:
                answered.append((answer.status, time.monotonic() - started))
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in slow:
            thread.join(10)
    assert len(answered) >= 10
    assert all(status == 200 for status, _ in answered), answered
    assert max(seconds for _, seconds in answered) < 2.0, answered
    if path == "/openapi.json":
        evicted = metrics.REGISTRY.get_sample_value("iotrack_api_connections_evicted_total")
        assert (evicted or 0) > (evicted_before or 0)
