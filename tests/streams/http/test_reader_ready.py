"""A reader's /ready fails, naming the reason, when it does not deliver (the broker is lost,
its oldest spooled record waited too long), and its /health once its forwarder died; each
failing check is 0 in iotrack_ready. (Back to ready: tests/integration/test_readiness.py.)"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from readers.adapters import ReadPoint
from readers.forwarder import Forwarder
from readers.service import ReaderService
from readers.spool import Spool
from streams.http.ingest import ingest_app, readiness
from streams.http.server import Server
from streams.ops import metrics
from topics.clients import KafkaConnection, edge_producer
from topics.codec import SingleObjectCodec
from topics.secret import Secret

NOWHERE = KafkaConnection("127.0.0.1:1", "reader.gate-1", Secret("nobody-answers"))
"""A broker that is not there, signed in to as the party would be."""
SCAN = {"device_id": "s-1", "scanned_at": "2026-11-25T10:00:00Z", "data": "06DE586600006143E1"}


@pytest.fixture
def reader(tmp_path) -> Iterator[tuple[str, Forwarder, ReaderService]]:
    spool = Spool(tmp_path / "spool.sqlite")
    service = ReaderService("barcode", ReadPoint("GATE-L1", "GATE"), spool, SingleObjectCodec())
    forwarder = Forwarder(spool, lambda **extra: edge_producer(NOWHERE, **extra), retry_pause_s=0.2)
    ready = readiness(service, forwarder, max_spool_age_s=0.5)
    server = Server(ingest_app(service, forwarder, ready), name="test-reader")
    thread = server.start()
    forwarder.start()
    metrics.READINESS.add(ready)
    host, port = server.server_address
    yield f"http://{host}:{port}", forwarder, service
    metrics.READINESS.remove(ready)
    server.shutdown()
    thread.join(10)
    server.server_close()
    forwarder.stop(flush_s=0.1)
    spool.close()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _failing(document: dict) -> dict[str, str]:
    return {c["check"]: c["reason"] for c in document["checks"] if not c["ok"]}


def test_a_reader_that_cannot_deliver_is_not_ready_and_says_why(reader):
    base, _forwarder, service = reader
    service.accept([json.dumps(SCAN).encode()])
    deadline = time.monotonic() + 15
    while True:
        status, document = _get(base + "/ready")
        failing = _failing(document)
        if {"spool", "broker"} <= set(failing):
            break
        assert time.monotonic() < deadline, document
        time.sleep(0.2)
    assert status == 503
    assert document["status"] == "not ready"
    assert "has waited" in failing["spool"]
    assert "no broker reachable" in failing["broker"]
    assert document["reason"].startswith(("spool: ", "broker: "))
    assert _get(base + "/health")[0] == 200, "alive: it keeps what it is given"
    exposition = generate_latest(metrics.REGISTRY).decode()
    assert 'iotrack_ready{check="spool",process="reader"} 0.0' in exposition
    assert 'iotrack_ready{check="broker",process="reader"} 0.0' in exposition
    assert 'iotrack_alive{process="reader"} 1.0' in exposition


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_reader_whose_forwarder_died_is_neither_alive_nor_ready(reader, monkeypatch):
    base, forwarder, _service = reader

    def die(wait_s: float = 0.05) -> int:
        raise SystemExit  # ends the thread as an error escaping its loop would

    monkeypatch.setattr(forwarder, "pump", die)
    deadline = time.monotonic() + 10
    while forwarder.thread is not None and forwarder.thread.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status, health = _get(base + "/health")
    assert (status, health["status"]) == (503, "dead")
    status, ready = _get(base + "/ready")
    assert status == 503
    assert "thread spool-forwarder died" in _failing(ready)["forwarder"]
