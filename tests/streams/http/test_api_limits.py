"""The query API's limits and crafted requests, without a database: idle connections are closed,
connections over the cap are refused with 503, crafted parameters get 400 (never 500 or a trip
to the database), other methods get JSON, the gate check's request time is measured, and the
OpenAPI document names no fixed server address."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest

from streams.errors import ConfigError
from streams.http.api import Api, make_server
from streams.http.queries import Queries
from streams.local.processes import free_port
from streams.ops import metrics
from tests.tokens import credentials_of

TOKEN = "unit-test-token-000002"  # noqa: S105 - a throwaway token of a throwaway server


@pytest.fixture
def serving() -> Iterator[tuple[str, int]]:
    queries = Queries(f"postgresql://nobody@127.0.0.1:{free_port()}/nothing", size=2)
    server = make_server(
        Api(credentials_of([f"{TOKEN} customs"]), queries, None),
        "127.0.0.1",
        0,
        max_connections=3,
        idle_timeout_s=0.5,
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    yield str(host), int(port)
    server.shutdown()
    thread.join(10)
    server.server_close()
    queries.close()


def _get(base: tuple[str, int], path: str, method: str = "GET") -> tuple[int, dict, Message]:
    """(status, JSON body, headers: looked up case-insensitively, as HTTP names are)."""
    request = urllib.request.Request(f"http://{base[0]}:{base[1]}{path}", method=method)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
            return error.code, json.loads(body) if body else {}, error.headers


def _read_all(connection: socket.socket, timeout: float) -> bytes:
    connection.settimeout(timeout)
    found = b""
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return found
        found += chunk


def test_a_silent_connection_is_closed_after_the_idle_timeout(serving):
    for sent in (b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"):  # idle, and half a request
        with socket.create_connection(serving, timeout=5) as connection:
            started = time.monotonic()
            connection.sendall(sent)
            _read_all(connection, timeout=5)  # the server closes it: recv returns b""
            assert time.monotonic() - started < 3


def test_connections_over_the_cap_are_refused_with_503_and_later_ones_served(serving):
    held = [socket.create_connection(serving, timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)  # accepted, each on its thread
        with socket.create_connection(serving, timeout=5) as extra:
            answer = _read_all(extra, timeout=5)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 1" in answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == 503
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.7)  # the held ones are gone: their slots are free again
    assert _get(serving, "/openapi.json")[0] == 200


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/deviations?node=%00", "node"),
        ("/deviations?kind=%00", "kind"),
        ("/deviations?gate=ok&since=2026-01-01%00", "since"),
        ("/deviations?limit=%C2%B2", "limit"),
        ("/deviations?limit=" + "1" * 5000, "limit"),
        ("/deviations?after=%00", "after"),
        ("/deviations?x%00=1", "query"),
        ("/trains/%00", "train_id"),
        ("/trains/IT%00TRAIN", "train_id"),
        ("/iot/%00/timeline", "iot_id"),
        ("/lookup?kind=SWAP_BODY&value=%00", "value"),
        ("/lookup?kind=SWAP_BODY&value=AB%001", "value"),
        ("/lookup?kind=PLATE&value=AB123CD&country=I%00", "country"),
        ("/gate-check?container=%00", "container"),
        ("/gate-check?plate=AB123CD&country=IT&gate=%00", "gate"),
    ],
)
def test_crafted_parameters_get_400_naming_the_parameter(serving, path, parameter):
    status, body, _ = _get(serving, path)
    assert (status, body.get("parameter")) == (400, parameter), body


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "TRACE"])
def test_other_methods_get_501_as_json(serving, method):
    status, body, headers = _get(serving, "/lookup", method)
    assert status == 501
    assert headers["Content-Type"] == "application/json"
    assert headers["Allow"] == "GET"
    if method != "HEAD":
        assert body["status"] == 501


def test_the_whole_gate_check_request_is_timed_under_its_own_name(serving):
    name = "iotrack_api_gate_check_request_seconds_count"
    before = metrics.REGISTRY.get_sample_value(name) or 0.0
    assert _get(serving, "/gate-check?container=CSQU3054383")[0] == 503  # no gate state here
    assert _get(serving, "/gate-check?container=nope")[0] == 400
    assert metrics.REGISTRY.get_sample_value(name) == before + 2


def test_the_served_openapi_document_names_no_fixed_server(serving):
    status, spec, _ = _get(serving, "/openapi.json")
    assert status == 200
    assert spec["servers"] == [{"url": "/"}]
    assert "127.0.0.1:8080" not in json.dumps(spec)


def test_the_server_serves_at_least_as_many_connections_as_the_pool_has():
    queries = Queries("postgresql://nobody@127.0.0.1:1/nothing", size=8)
    api = Api(credentials_of([f"{TOKEN} customs"]), queries, None)
    with pytest.raises(ConfigError, match="below the database pool"):
        make_server(api, "127.0.0.1", 0, max_connections=4)
