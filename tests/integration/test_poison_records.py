"""Every consumer of a topic survives any bytes on it (issue 15, findings 2 and 6): the gate
state, the projection, passage fusion and the subscriptions' delivery worker each record what
they cannot read (a dead letter with its topic, partition and offset and the reason, or, for
the gate state, a logged and counted skip), count it, and go on with the good records behind
it; the gate state starts even when such a record is on its topic, and a gate-state thread
that dies all the same makes the API's /health and /ready say so."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from confluent_kafka import KafkaError, Message

from readers.fusion_worker import FusionWorker
from readers.service import reader_party
from streams.http.api import Api
from streams.http.queries import Queries
from streams.kafka.reading import read_committed
from streams.local.runtime import Endpoints
from streams.ops import metrics
from streams.ops.admission import admit
from streams.ops.duties import Duty
from streams.subscriptions.worker import DeliveryWorker
from streams.workers.gate_state import GateState
from streams.workers.projection import Projection
from tests.integration.databases import scratch_database
from tests.tokens import credentials_of
from topics import catalog
from topics.clients import KafkaConnection, producer
from topics.codec import SingleObjectCodec, plain
from topics.examples import example
from topics.parties import API, CORE, CUSTOMS, FUSION, PROJECTION, SUBSCRIPTIONS
from topics.schemas import repository

CODEC = SingleObjectCodec()


def _garbage() -> list[tuple[str, bytes]]:
    """(name, bytes) no consumer can read, each a different way."""
    verdict = CODEC.encode("iotrack.ClearanceVerdict", example(repository().get(VERDICT)))
    return [
        ("not Avro", b"not avro at all"),
        ("empty", b""),
        ("an unknown fingerprint", b"\xc3\x01" + b"\x00" * 8 + b"body"),
        ("truncated", verdict[: len(verdict) // 2]),
        ("left over bytes", verdict + b"\x00\x00"),
        ("900 KB of noise", os.urandom(900_000)),
    ]


VERDICT = "iotrack.ClearanceVerdict"


def _send(
    connection: KafkaConnection, topic: str, records: list[tuple[bytes | None, bytes | None]]
):
    """Produce in order, one partition, signed in as ``connection`` (the topic's writer); the
    (partition, offset) of each."""
    out = producer(connection)
    where: dict[int, tuple[int, int]] = {}

    def report(n: int):
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            assert error is None, error
            where[n] = (int(message.partition() or 0), int(message.offset() or 0))

        return on_delivery

    for n, (key, value) in enumerate(records):
        out.produce(topic, key=key, value=value, partition=0, on_delivery=report(n))
    assert out.flush(60) == 0
    return [where[n] for n in range(len(records))]


def _letters(cluster: Endpoints) -> dict[tuple[str, int, int], dict]:
    found = {}
    for message in read_committed(cluster.kafka(CUSTOMS), catalog.DEAD_LETTERS):
        letter = plain(CODEC.decode(message.value()).value)
        found[(letter["source_topic"], letter["partition"], letter["offset"])] = letter
    return found


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(scope="module")
def cluster(services) -> Endpoints:
    """The session's broker, each client signed in as the party it plays."""
    return services


def _verdict(unit: str, verdict: str, may_leave: bool) -> bytes:
    value = {
        **example(repository().get(VERDICT)),
        "verdict": verdict,
        "may_leave": may_leave,
        "itu": {
            "kind": "CONTAINER",
            "value": unit,
            "country": None,
            "seal_class": None,
            "issuer": None,
        },
    }
    return CODEC.encode(VERDICT, value)


@pytest.fixture
def gate(cluster) -> Iterator[tuple[GateState, str, list[tuple[int, int]]]]:
    """Bad records on the verdict topic, then a good verdict; a gate state started after."""
    unit = f"CONTAINER:P{uuid.uuid4().hex[:9].upper()}"
    deviation = CODEC.encode("iotrack.Deviation", example(repository().get("iotrack.Deviation")))
    records: list[tuple[bytes | None, bytes | None]] = [
        (unit.encode(), value) for _, value in _garbage()
    ]
    records.append((unit.encode(), deviation))  # decodes, but is not a verdict
    records.append((b"\xff\xfe not text", _verdict("X", "CLEARED", True)))
    records.append((unit.encode(), _verdict(unit.split(":")[1], "HELD", False)))
    where = _send(cluster.kafka(CORE), catalog.CLEARANCE_BY_ITU.name, records)
    state = GateState(cluster.kafka(API), CODEC)
    state.start(timeout_s=60)  # ready although bad records lie on its topic
    try:
        yield state, unit, where[:-1]
    finally:
        state.stop()


def test_the_gate_state_skips_what_it_cannot_read_and_keeps_following(cluster, gate, caplog):
    state, unit, bad = gate
    before = _sample("iotrack_records_skipped_total", processor="gate-state", reason="NotAvroError")
    assert state.check(unit).verdict == "HELD", "the good verdict behind the bad ones"
    skipped = {(s.partition, s.offset): s for s in state.skipped}
    assert set(bad) <= set(skipped), "each bad record recorded with its position"
    assert all(s.topic == catalog.CLEARANCE_BY_ITU.name and s.reason for s in skipped.values())
    assert "iotrack.Deviation where verdicts are expected" in skipped[bad[-2]].reason
    assert "not UTF-8" in skipped[bad[-1]].reason
    assert state.thread.is_alive()
    # It goes on following the topic: bad bytes and an update after them.
    caplog.set_level(logging.WARNING, logger="iotrack.gate")
    _send(
        cluster.kafka(CORE),
        catalog.CLEARANCE_BY_ITU.name,
        [
            (b"k", b"not avro at all"),
            (unit.encode(), _verdict(unit.split(":")[1], "CLEARED", True)),
        ],
    )
    deadline = time.monotonic() + 30
    while not state.check(unit).may_leave:
        assert time.monotonic() < deadline, "the update behind a bad record was not applied"
        time.sleep(0.05)
    after = _sample("iotrack_records_skipped_total", processor="gate-state", reason="NotAvroError")
    assert after >= before + 1
    assert any(
        "skipped iotrack.clearance.verdicts.by-itu.v1[0]@" in r.message for r in caplog.records
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_gate_state_thread_makes_health_and_ready_say_so(services, gate, monkeypatch):
    state, _unit, _bad = gate
    with scratch_database(services, "poison_api") as found:
        queries = Queries(found.database(Duty.API).reveal())
        try:
            api = Api(credentials_of(["poison-token-00000001 customs"]), queries, state)
            status, health = api.health()
            assert (status, health["gate_state"]) == (200, "ready")
            assert health["gate_state_skipped"] >= len(_bad)
            assert health["gate_state_last_skipped"].startswith(catalog.CLEARANCE_BY_ITU.name)
            assert api.readiness().ready()[0], api.readiness().ready()[1]

            def die(at_end: set[int]) -> None:
                raise SystemExit  # what no `except Exception` catches: the thread ends

            monkeypatch.setattr(state, "_step", die)
            deadline = time.monotonic() + 10
            while state.thread.is_alive():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            status, health = api.health()
            assert (status, health["status"], health["gate_state"]) == (503, "degraded", "dead")
            ok, found_checks = api.readiness().ready()
            assert not ok
            failing = {c.name: c.reason for c in found_checks if not c.ok}
            assert "thread gate-state died" in failing["gate_state_thread"]
            assert not api.readiness().alive()[0]
        finally:
            queries.close()


def test_the_projection_dead_letters_what_it_cannot_decode_and_projects_the_rest(
    cluster, services, caplog
):
    iot = str(uuid.uuid4())
    hold = {
        **example(repository().get("iotrack.HoldPlaced")),
        "iot_id": iot,
        "agency": "CUSTOMS",
        "hold_id": "H-AFTER-GARBAGE",
    }
    key = f"{iot}{catalog.KEY_SEPARATOR}CUSTOMS{catalog.KEY_SEPARATOR}H-AFTER-GARBAGE".encode()
    garbage = _garbage()
    where = _send(
        cluster.kafka(CORE),
        catalog.HOLDS.name,
        [*((key, value) for _, value in garbage), (key, CODEC.encode("iotrack.HoldPlaced", hold))],
    )
    caplog.set_level(logging.WARNING, logger="iotrack.projection")
    before = _sample("iotrack_dead_letters_total", processor="projection", reason="NotAvroError")
    with scratch_database(services, "poison_projection") as found:
        url = found.database(Duty.PROJECTION).reveal()
        projection = Projection(cluster.kafka(PROJECTION), url, CODEC, topics=(catalog.HOLDS,))
        projection.run(threading.Event(), until_end=True)
        with psycopg2.connect(url) as db, db.cursor() as cursor:
            cursor.execute("SELECT hold_id FROM holds WHERE iot_id = %s", (iot,))
            assert cursor.fetchall() == [("H-AFTER-GARBAGE",)], "the record behind them"
        db.close()
    assert projection.undecodable >= len(garbage)
    letters = _letters(cluster)
    for (name, value), (partition, offset) in zip(garbage, where, strict=False):
        letter = letters[(catalog.HOLDS.name, partition, offset)]
        assert letter["source"] == "iotrack-projection", name
        assert letter["reason"], name
        assert letter["original_size"] == len(value), name
        assert letter["original_value"] == value[: len(letter["original_value"])]
    after = _sample("iotrack_dead_letters_total", processor="projection", reason="NotAvroError")
    assert after >= before + 1
    assert any(
        f"{catalog.HOLDS.name}[{where[0][0]}]@{where[0][1]} cannot be projected" in r.message
        for r in caplog.records
    )


def test_fusion_dead_letters_what_it_cannot_decode_and_fuses_the_rest(cluster):
    point = f"POISON-{uuid.uuid4().hex[:8].upper()}"
    reader = reader_party(point)
    admit(cluster, [reader])
    read = {
        **example(repository().get("iotrack.RawRead")),
        "event_id": str(uuid.uuid4()),
        "read_point_id": point,
        "node_id": "POISON-GATE",
        "lane": "1",
        "sensor": "OCR",
        "raw_value": "CSQU3054383",
        "itu_kind": "CONTAINER",
        "candidates": [],
    }
    garbage = _garbage()
    where = _send(
        cluster.kafka(reader),
        catalog.RAW_READS.name,
        [
            *((point.encode(), value) for _, value in garbage),
            (point.encode(), CODEC.encode("iotrack.RawRead", read)),
        ],
    )
    worker = FusionWorker(
        cluster.kafka(FUSION), CODEC, group=f"poison-{uuid.uuid4()}", idle_flush_s=0.5
    )
    worker.run(threading.Event(), exit_when_idle_s=3.0)
    passages = [
        plain(CODEC.decode(m.value()).value)
        for m in read_committed(cluster.kafka(CUSTOMS), catalog.PASSAGES)
        if m.value() is not None
    ]
    assert [p["read_point_id"] for p in passages].count(point) == 1, "the good read fused"
    letters = _letters(cluster)
    for (name, _value), (partition, offset) in zip(garbage, where, strict=False):
        letter = letters[(catalog.RAW_READS.name, partition, offset)]
        assert letter["source"] == "iotrack-fusion", name


def test_the_delivery_worker_dead_letters_what_it_cannot_read_and_goes_on(cluster, services):
    with scratch_database(services, "poison_subscriptions") as found:
        worker = DeliveryWorker(
            cluster.kafka(SUBSCRIPTIONS), found.database(Duty.SUBSCRIPTIONS).reveal(), CODEC
        )
        try:
            worker.fanout.assign()  # a first start: at the topics' end
            time.sleep(1)
            verdict = _verdict("CSQU3054383", "CLEARED", True)
            garbage = [*_garbage(), ("a verdict on the deviations topic", verdict)]
            where = _send(
                cluster.kafka(CORE),
                catalog.DEVIATIONS.name,
                [*((b"k", value) for _, value in garbage)],
            )
            before = worker.fanout.progress.records
            deadline = time.monotonic() + 60
            while worker.fanout.progress.records - before < len(garbage):
                assert time.monotonic() < deadline, "the worker did not get past them"
                worker.fanout.step()
            assert worker.fanout.progress.error is None
            assert worker.fanout.dead_lettered == len(garbage)
            stored = worker.store.positions()
            assert stored[(catalog.DEVIATIONS.name, 0)] > where[-1][1], "its position moved on"
        finally:
            worker.close()
    letters = _letters(cluster)
    for (name, _value), (partition, offset) in zip(garbage, where, strict=True):
        letter = letters[(catalog.DEVIATIONS.name, partition, offset)]
        assert letter["source"] == "iotrack-subscriptions", name
    kind = letters[(catalog.DEVIATIONS.name, *where[-1])]["error_kind"]
    assert kind == "UnexpectedRecordTypeError"
