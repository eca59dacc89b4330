"""A record the broker refuses for good is moved aside, so the spool behind it drains; the
quarantine is counted and can be inspected (issue 15, finding 3)."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from prometheus_client import generate_latest

from readers.adapters import ReadPoint
from readers.forwarder import Forwarder
from readers.service import ReaderService, reader_party
from readers.spool import Pending, Spool
from streams.cli.main import main
from streams.kafka.reading import read_committed
from streams.ops import metrics
from streams.ops.admission import admit
from topics import catalog
from topics.clients import edge_producer
from topics.codec import SingleObjectCodec, plain
from topics.parties import FUSION

CODEC = SingleObjectCodec()


@pytest.fixture(scope="module")
def cluster(services):
    """The session's broker, each client signed in as the party it plays."""
    return services


def _scan(n: int) -> bytes:
    return json.dumps(
        {
            "device_id": "scanner-q",
            "passage_ref": f"q-{n}",
            "scanned_at": "2026-11-25T10:00:00Z",
            "data": "06DE586600006143E1",
        }
    ).encode()


def test_records_refused_for_good_are_quarantined_and_those_behind_them_delivered(
    cluster, tmp_path, monkeypatch, capsys
):
    point = ReadPoint(f"Q-{uuid.uuid4().hex[:8].upper()}", "GATE-Q")
    reader = reader_party(point.read_point_id)
    admit(cluster, [reader])
    spool = Spool(tmp_path / "spool.sqlite")
    service = ReaderService("barcode", point, spool, CODEC)
    accepted = [e for o in service.accept([_scan(1), _scan(2)]) for e in o.event_ids]
    # Records too large for the broker (1 MB), as a spool written while the broker took larger
    # ones holds them: one the client takes and the broker refuses, one the client refuses.
    # (Random bytes: the producer compresses.)
    spool.append([Pending(catalog.RAW_READS.name, b"big", os.urandom(1_500_000))])
    spool.append([Pending(catalog.RAW_READS.name, b"huge", os.urandom(6_000_000))])
    accepted += [e for o in service.accept([_scan(3), _scan(4)]) for e in o.event_ids]
    forwarder = Forwarder(
        spool,
        lambda **extra: edge_producer(
            cluster.kafka(reader), **{"message.max.bytes": 5_000_000, **extra}
        ),
    )
    metrics.EDGE.readers.append(service)
    forwarder.start()
    try:
        deadline = time.monotonic() + 60
        while len(spool):
            assert time.monotonic() < deadline, f"{len(spool)} records still spooled"
            time.sleep(0.1)
        exposition = generate_latest(metrics.REGISTRY).decode()
    finally:
        forwarder.stop()
        metrics.EDGE.clear()
    assert forwarder.quarantined == 2
    held = spool.quarantined()
    assert [len(r.value or b"") for r in held] == [1_500_000, 6_000_000]
    assert all("too large" in r.reason for r in held), [r.reason for r in held]
    assert 'iotrack_reader_quarantined_records{kind="barcode"} 2.0' in exposition
    delivered = [
        plain(CODEC.decode(m.value()).value)["event_id"]
        for m in read_committed(cluster.kafka(FUSION), catalog.RAW_READS)
        if m.key() == point.read_point_id.encode()
    ]
    assert sorted(delivered) == sorted(accepted), "every record behind them was delivered"
    spool.close()

    monkeypatch.setenv("IOTRACK_HOME", str(tmp_path / "home"))
    where = ["--kind", "barcode", "--read-point", point.read_point_id, "--spool"]
    where.append(str(tmp_path / "spool.sqlite"))
    assert main(["reader", "quarantine", "list", *where]) == 0
    listed = capsys.readouterr().out
    assert str(held[0].seq) in listed
    assert "1500000" in listed
    assert main(["reader", "quarantine", "show", str(held[1].seq), *where, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["size"] == 6_000_000
    assert shown["key"] == "huge"
    assert "too large" in shown["reason"]
    assert shown["not_decoded"].startswith(catalog.RAW_READS.name)
