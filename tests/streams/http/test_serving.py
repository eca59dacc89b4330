"""The one hardened serving layer, for the API and a reader's ingest alike: a deadline for the
whole request, connection caps, GET bodies refused, Content-Length checked, bodies bounded."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from readers.adapters import ReadPoint
from readers.service import MAX_BODY_BYTES, ReaderService
from readers.spool import Spool
from streams.http.ingest import ingest_app
from streams.http.server import Limits, Server
from topics.codec import SingleObjectCodec

SCAN = {
    "device_id": "scanner-1",
    "scanned_at": "2026-11-25T10:00:00Z",
    "data": "06DE586600006143E1",
}


@pytest.fixture
def reader(tmp_path) -> Iterator[tuple[str, int]]:
    spool = Spool(tmp_path / "spool.sqlite")
    service = ReaderService("barcode", ReadPoint("GATE-L1", "GATE"), spool, SingleObjectCodec())
    server = Server(
        ingest_app(service, None),
        limits=Limits(max_connections=4, request_deadline_s=1.0),
        name="test-reader",
    )
    thread = server.start()
    yield server.server_address
    server.shutdown()
    thread.join(10)
    server.server_close()


def _exchange(address: tuple[str, int], data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(address, timeout=timeout) as connection:
        connection.sendall(data)
        return _read_all(connection, timeout)


def _read_all(connection: socket.socket, timeout: float) -> bytes:
    connection.settimeout(timeout)
    found = b""
    while True:
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            return found
        if not chunk:
            return found
        found += chunk


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _post(body: bytes, **headers: str) -> bytes:
    lines = ["POST /payloads HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_payload_is_accepted_and_answered_per_item(reader):
    answer = _exchange(
        reader, _post(json.dumps([SCAN, {"broken": 1}]).encode(), Connection="close")
    )
    assert _status(answer) == 202
    document = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert (document["accepted"], document["rejected"]) == (1, 1)
    assert document["items"][1]["error"].startswith("barcode payload")


def test_a_body_over_the_limit_is_refused_before_it_is_read(reader):
    head = f"POST /payloads HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    answer = _exchange(reader, head.encode() + b"[")
    assert _status(answer) == 413
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == 413


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"5, 6"])
def test_a_malformed_content_length_is_a_400_in_json(reader, length):
    answer = _exchange(
        reader, b"POST /payloads HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"
    )
    assert _status(answer) == 400
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == 400


def test_a_get_with_a_body_is_refused_and_its_body_never_served_as_a_request(reader):
    smuggled = b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = _exchange(
        reader,
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(len(smuggled)).encode()
        + b"\r\n\r\n"
        + smuggled,
    )
    assert _status(answer) == 400
    assert answer.count(b"HTTP/1.1 ") == 1, "one answer, and the connection closed"
    assert b"has no body" in answer


def test_a_client_sending_a_byte_at_a_time_is_cut_off_at_the_whole_request_deadline(reader):
    with socket.create_connection(reader, timeout=5) as connection:
        started = time.monotonic()
        request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        closed = False
        for byte in request:
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            if time.monotonic() - started > 4:
                break
        closed = closed or _read_all(connection, 2) == b""
    assert closed
    assert time.monotonic() - started < 4, "closed after the 1 s deadline, not per read"


def test_connections_over_the_cap_are_refused_at_once(reader):
    held = [socket.create_connection(reader, timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)
        with socket.create_connection(reader, timeout=5) as extra:
            answer = _read_all(extra, 5)
        assert _status(answer) == 503
        assert b"Retry-After: 1" in answer
    finally:
        for connection in held:
            connection.close()


def test_headers_over_the_limit_are_refused(reader):
    answer = _exchange(reader, b"GET /health HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")
    assert _status(answer) == 431


def test_a_large_body_sent_in_one_write_with_its_headers_is_not_counted_as_headers(reader):
    garbage = b"x" * (2 * 1024 * 1024)
    answer = _exchange(reader, _post(garbage, Connection="close"), timeout=30)
    assert _status(answer) == 400, answer[:200]
    [item] = json.loads(answer.split(b"\r\n\r\n", 1)[1])["items"]
    assert item["error"].startswith("barcode payload: not JSON")
