"""Every payload is accepted or dead-lettered with its reason, never an unhandled exception: the
payloads of issue 15 that crashed a reader, each between two good ones of the same batch, over
HTTP and from a capture file."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from readers.adapters import ReadPoint
from readers.service import ReaderService, split_body
from readers.spool import Spool
from streams.cli.main import main
from streams.http.ingest import ingest_app
from streams.http.server import Limits, Server
from topics.catalog import DEAD_LETTERS, RAW_READS
from topics.codec import SingleObjectCodec, plain

CODEC = SingleObjectCodec()
POINT = ReadPoint("GATE-1-L1", "GATE-1")
GOOD = {
    "device_id": "ocr-1",
    "captured_at": "2026-11-25T10:15:02.120Z",
    "containers": [{"code": "CSQU3054383", "confidence": 0.9}],
}


def _good(n: int) -> bytes:
    return json.dumps({**GOOD, "passage_ref": str(n)}).encode()


def _with(**fields: object) -> bytes:
    return json.dumps({**GOOD, **fields}).encode()


BAD: list[tuple[str, bytes, str]] = [
    (
        "a lone surrogate escape",
        b'{"device_id": "ocr-\\ud800", "captured_at": "2026-11-25T10:15:02Z", '
        b'"containers": [{"code": "CSQU3054383"}]}',
        "device_id: not Unicode text",
    ),
    (
        "a lone surrogate in a code",
        b'{"device_id": "ocr-1", "captured_at": "2026-11-25T10:15:02Z", '
        b'"containers": [{"code": "\\udc00CSQU3054383"}]}',
        "containers[0].code: not Unicode text",
    ),
    ("a time of 1e23 ms", _with(captured_at=10**23), "captured_at: 100000000000000000000000 is"),
    ("a time before 2000", _with(captured_at=-1), "captured_at: -1 is outside"),
    (
        "the year 1 at +14:00",
        _with(captured_at="0001-01-01T00:00:00+14:00"),
        "captured_at: '0001-01-01T00:00:00+14:00' is outside",
    ),
    ("the year 9999", _with(captured_at="9999-12-31T23:59:59-14:00"), "captured_at:"),
    ("JSON nested 200,000 deep", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (
        "an object nested 200,000 deep",
        b'{"a":' * 200_000 + b"1" + b"}" * 200_000,
        "nested too deeply",
    ),
    ("NaN", b'{"device_id": "ocr-1", "captured_at": NaN}', "NaN is not a JSON number"),
    (
        "a confidence of 1e400",
        b'{"device_id": "ocr-1", "captured_at": "2026-11-25T10:15:02Z", '
        b'"containers": [{"code": "CSQU3054383", "confidence": 1e400}]}',
        "containers[0].confidence",
    ),
    ("not UTF-8", b'{"device_id": "\xff\xfe"}', "not JSON"),
    ("an empty object", b"{}", "device_id"),
]
RFID_BAD: list[tuple[str, bytes, str]] = [
    (
        "an antenna beyond an int",
        json.dumps(
            {
                "device_id": "rfid-1",
                "reads": [
                    {
                        "at": "2026-11-25T10:15:02Z",
                        "antenna": 2**40,
                        "tag": {"type": "iso10891", "container": "CSQU3054383"},
                    }
                ],
            }
        ).encode(),
        "reads[0].antenna",
    ),
    (
        "an infinite rssi",
        b'{"device_id": "rfid-1", "reads": [{"at": "2026-11-25T10:15:02Z", "rssi": 1e400, '
        b'"tag": {"type": "iso10891", "container": "CSQU3054383"}}]}',
        "reads[0].rssi",
    ),
]


def _service(tmp_path: Path, kind: str = "ocr") -> ReaderService:
    return ReaderService(kind, POINT, Spool(tmp_path / "spool.sqlite"), CODEC)


@pytest.mark.parametrize(
    ("kind", "payload", "says"),
    [("ocr", p, s) for _, p, s in BAD] + [("rfid", p, s) for _, p, s in RFID_BAD],
    ids=[name for name, _, _ in BAD] + [name for name, _, _ in RFID_BAD],
)
def test_a_bad_payload_is_dead_lettered_with_its_reason_and_its_batch_goes_on(
    tmp_path, kind, payload, says
):
    service = _service(tmp_path, kind)
    good = (
        [_good(1), _good(2)]
        if kind == "ocr"
        else [
            json.dumps(
                {
                    "device_id": "rfid-1",
                    "passage_ref": str(n),
                    "reads": [
                        {
                            "at": "2026-11-25T10:15:02Z",
                            "tag": {"type": "iso10891", "container": "CSQU3054383"},
                        }
                    ],
                }
            ).encode()
            for n in (1, 2)
        ]
    )
    outcomes = service.accept([good[0], payload, good[1]])
    assert [o.error is None for o in outcomes] == [True, False, True]
    assert says in (outcomes[1].error or ""), outcomes[1].error
    records = service.spool.peek()
    assert [r.topic for r in records] == [RAW_READS.name, DEAD_LETTERS.name, RAW_READS.name]
    letter = plain(CODEC.decode(records[1].value or b"").value)
    assert letter["reason"] == outcomes[1].error
    assert letter["original_size"] == len(payload)
    assert letter["original_value"] == payload[: len(letter["original_value"])]


def test_a_json_array_is_answered_per_item_even_when_one_item_is_too_deep_to_parse():
    deep = b"[" * 200_000 + b"]" * 200_000
    body = b"[" + _good(1) + b", " + deep + b",\n" + _good(2) + b"]"
    items = split_body(body, "application/json")
    assert len(items) == 3
    assert json.loads(items[0])["passage_ref"] == "1"
    assert items[1] == deep
    assert json.loads(items[2])["passage_ref"] == "2"
    assert split_body(b"[1, 2,", "application/json") == [b"[1, 2,"], "not JSON: one payload"


@pytest.fixture
def reader(tmp_path) -> Iterator[tuple[tuple[str, int], ReaderService]]:
    service = _service(tmp_path)
    server = Server(ingest_app(service, None), limits=Limits(request_deadline_s=5.0))
    thread = server.start()
    yield server.server_address, service
    server.shutdown()
    thread.join(10)
    server.server_close()


def _post(address: tuple[str, int], body: bytes) -> tuple[int, dict]:
    head = (
        f"POST /payloads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(address, timeout=30) as connection:
        connection.sendall(head + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_over_http_each_item_of_a_batch_is_answered_and_the_good_ones_spooled(reader):
    address, service = reader
    # An array must be JSON text to be split into items: the payload that is not UTF-8 is
    # left out (alone, or in NDJSON, it is one bad payload).
    items = [_good(1), *(p for name, p, _ in BAD if name != "not UTF-8"), _good(2)]
    status, answer = _post(address, b"[" + b",".join(items) + b"]")
    assert status == 202, answer
    assert len(answer["items"]) == len(items)
    assert answer["accepted"] == 2
    assert "event_ids" in answer["items"][0]
    assert "event_ids" in answer["items"][-1]
    assert all("error" in item for item in answer["items"][1:-1])
    assert len([r for r in service.spool.peek() if r.topic == RAW_READS.name]) == 2


def test_a_single_bad_payload_over_http_is_a_400_naming_the_reason(reader):
    address, _ = reader
    status, answer = _post(address, _with(captured_at="0001-01-01T00:00:00+14:00"))
    assert status == 400
    assert "is outside the times a read may have" in answer["items"][0]["error"]


def test_a_capture_file_goes_on_past_its_bad_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    # A given cluster needs the one credential this process signs in with (the reader's).
    monkeypatch.setenv("IOTRACK_KAFKA_SECURITY", "SASL_PLAINTEXT")
    monkeypatch.setenv("IOTRACK_KAFKA_USERNAME", f"reader.{POINT.read_point_id.lower()}")
    monkeypatch.setenv("IOTRACK_KAFKA_PASSWORD", "not-checked-nobody-answers")
    monkeypatch.setenv("IOTRACK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    capture = tmp_path / "capture.ndjson"
    bad = [p for _, p, _ in BAD if b"\n" not in p]
    lines = [_good(n) for n in range(600)]
    for n, payload in enumerate(bad):
        lines.insert(50 * n + 7, payload)
    capture.write_bytes(b"\n".join(lines) + b"\n")
    spool = tmp_path / "spool.sqlite"
    status = main(
        [
            "reader",
            "run",
            "--kind",
            "ocr",
            "--read-point",
            POINT.read_point_id,
            "--node",
            POINT.node_id,
            "--input",
            str(capture),
            "--spool",
            str(spool),
            "--drain-timeout",
            "0.5",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 1, "the broker is unreachable: the records wait in the spool"
    assert "Traceback" not in err
    assert f"600 payloads spooled, {len(bad)} dead-lettered" in out
    with sqlite3.connect(spool) as db:
        topics = [t for (t,) in db.execute("SELECT topic FROM spool ORDER BY seq")]
    db.close()
    assert topics.count(RAW_READS.name) == 600
    assert topics.count(DEAD_LETTERS.name) == len(bad)
    assert sys.getrecursionlimit() >= 1000
