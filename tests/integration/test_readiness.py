"""Readiness that means something (issue 15, deliver 5): a reader, passage fusion, the
projection, the API and the subscriptions' delivery worker, each on a broker and a database of
this module's own, turn not ready, naming the reason, when they cannot do their job (the broker
lost, the database lost, records waiting and none taken, the lag over its bound, a reader's
oldest spooled record too old, a dead thread), and ready again once they can; ``iotrack
status`` prints each process's line, and ``iotrack_ready`` has each check."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from readers.adapters import ReadPoint
from readers.forwarder import Forwarder
from readers.fusion_worker import FusionWorker
from readers.service import ReaderService, reader_party
from readers.spool import Spool
from streams.cli.main import main
from streams.http.api import Api
from streams.http.ingest import readiness as reader_readiness
from streams.http.ops import serve_ops
from streams.http.queries import Queries
from streams.local.kafka import LocalKafka
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.local.runtime import Endpoints
from streams.ops import running
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from streams.ops.readiness import Readiness
from streams.subscriptions.worker import DeliveryWorker
from streams.workers import ready
from streams.workers.gate_state import GateState
from streams.workers.projection import Projection
from tests.integration.embedded import own_broker
from tests.integration.writers import AsWriters
from tests.tokens import credentials_of
from topics import catalog
from topics.clients import edge_producer, producer
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import API, FUSION, PROJECTION, SUBSCRIPTIONS
from topics.schemas import repository

CODEC = SingleObjectCodec()
STALL_S = 3.0
MAX_LAG = 50
READER = reader_party("READY-L1")
"""The module's reader, admitted; it also writes the raw reads the tests feed fusion."""
SCAN = {"device_id": "s-1", "scanned_at": "2026-11-25T10:00:00Z", "data": "06DE586600006143E1"}


@dataclass
class Cluster:
    """This module's broker, database and the five processes' parts, in this process."""

    home: Path
    kafka: LocalKafka
    postgres: LocalPostgres
    found: Endpoints
    processes: dict[str, Readiness] = field(default_factory=dict)
    service: ReaderService | None = None
    fusion: FusionWorker | None = None
    projection: Projection | None = None
    stop: threading.Event = field(default_factory=threading.Event)


def _thread(target: Callable[[], object], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("readiness")
    kafka = LocalKafka(home, base_port=free_port(), heap="512m")
    postgres = LocalPostgres(home, port=free_port())
    stops: list[Callable[[], None]] = []
    try:
        postgres.start()
        migrate(postgres.url(Duty.OWNER).reveal())
        kafka.start()
        endpoints = own_broker(kafka, [READER])
        found = Cluster(home, kafka, postgres, endpoints)

        spool = Spool(home / "reader.sqlite")
        found.service = ReaderService("barcode", ReadPoint("READY-L1", "READY"), spool, CODEC)
        forwarder = Forwarder(
            spool, lambda **extra: edge_producer(endpoints.kafka(READER), **extra)
        )
        forwarder.start()
        stops.append(lambda: forwarder.stop(flush_s=1))
        found.processes["reader"] = reader_readiness(found.service, forwarder, 2.0)

        found.fusion = FusionWorker(endpoints.kafka(FUSION), CODEC, idle_flush_s=0.5)
        fusion = found.fusion
        _thread(lambda: fusion.run(found.stop), "fusion")
        found.processes["fusion"] = ready.fusion(fusion, STALL_S, MAX_LAG)

        found.projection = Projection(
            endpoints.kafka(PROJECTION),
            postgres.url(Duty.PROJECTION).reveal(),
            CODEC,
            max_backoff_s=0.5,
        )
        projection = found.projection
        _thread(lambda: projection.run(found.stop), "projection")
        found.processes["projection"] = ready.projection(projection, STALL_S, MAX_LAG)

        gate = GateState(endpoints.kafka(API), CODEC)
        gate.start()
        stops.append(gate.stop)
        queries = Queries(postgres.url(Duty.API).reveal(), size=2, wait_s=1.0)
        stops.append(queries.close)
        found.processes["api"] = Api(
            credentials_of(["ready-token-00000001 customs"]), queries, gate
        ).readiness()

        delivery = DeliveryWorker(
            endpoints.kafka(SUBSCRIPTIONS), postgres.url(Duty.SUBSCRIPTIONS).reveal(), CODEC
        )
        _thread(lambda: delivery.run(found.stop), "delivery")
        stops.append(delivery.close)
        found.processes["subscriptions"] = delivery.readiness(STALL_S, MAX_LAG)

        for name, readiness in found.processes.items():
            stops.append(serve_ops(readiness, 0, title=name, register=running.register(home, name)))
        _until(lambda: all(r.ready()[0] for r in found.processes.values()), 120, found)
        yield found
    finally:
        if "found" in locals():
            found.stop.set()
            time.sleep(1)
        for stop in reversed(stops):
            stop()
        kafka.stop()
        postgres.stop()


def _failing(readiness: Readiness) -> dict[str, str]:
    return {c.name: c.reason for c in readiness.ready()[1] if not c.ok}


def _until(condition: Callable[[], bool], timeout_s: float, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            states = {n: _failing(r) for n, r in cluster.processes.items()}
            raise AssertionError(f"not within {timeout_s:.0f} s: {states}")
        time.sleep(0.25)


def _ready_again(cluster: Cluster, timeout_s: float = 120) -> None:
    _until(lambda: all(r.ready()[0] for r in cluster.processes.values()), timeout_s, cluster)


def test_a_lost_broker_makes_every_process_not_ready_and_its_return_ready(cluster):
    cluster.kafka.stop()
    try:
        assert cluster.service is not None
        cluster.service.accept([json.dumps(SCAN).encode()])  # waits in the spool meanwhile
        _until(
            lambda: all("broker" in _failing(r) for r in cluster.processes.values()),
            60,
            cluster,
        )
        for name, readiness in cluster.processes.items():
            assert "no broker reachable" in _failing(readiness)["broker"], name
        _until(lambda: "spool" in _failing(cluster.processes["reader"]), 30, cluster)
        assert "has waited" in _failing(cluster.processes["reader"])["spool"]
    finally:
        cluster.kafka.start()
    _ready_again(cluster)


def test_a_lost_database_makes_its_users_not_ready_and_iotrack_status_says_so(
    cluster, monkeypatch, capsys
):
    cluster.postgres.stop()
    try:
        # The projection notices when it writes: give it something to write.
        out = AsWriters(cluster.found)
        hold = {**example(repository().get("iotrack.HoldPlaced")), "iot_id": str(uuid.uuid4())}
        out.produce(
            catalog.HOLDS.name,
            key=catalog.HOLDS.key_of(hold),
            value=CODEC.encode("iotrack.HoldPlaced", hold),
        )
        assert out.flush(30) == 0
        users = ("projection", "api", "subscriptions")
        _until(
            lambda: all("database" in _failing(cluster.processes[n]) for n in users), 60, cluster
        )
        assert (
            "the database is unavailable" in _failing(cluster.processes["projection"])["database"]
        )
        monkeypatch.setenv("IOTRACK_HOME", str(cluster.home))
        # The module's broker as the home's embedded default: status signs in from its home.
        monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        monkeypatch.setenv("IOTRACK_KAFKA_PORT", str(cluster.kafka.nodes[0].broker_port))
        monkeypatch.setenv("DATABASE_URL", cluster.postgres.url(Duty.OWNER).reveal())
        assert main(["status"]) == 1
        out_text = capsys.readouterr().out
        lines = {line.split()[0]: line for line in out_text.splitlines() if line.startswith("  ")}
        for name in users:
            assert "NOT READY: " in lines[name], out_text
            assert "database: the database " in lines[name], out_text
        assert "  ready: " in lines["reader"], out_text
        assert "problem: projection (pid" in out_text
    finally:
        cluster.postgres.start()
    _ready_again(cluster)
    assert main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {p["name"]: p["ready"] for p in report["processes"]} == dict.fromkeys(
        cluster.processes, True
    )


def _raw_reads(cluster: Cluster, count: int) -> None:
    out = producer(cluster.found.kafka(READER))
    read = {
        **example(repository().get("iotrack.RawRead")),
        "read_point_id": f"READY-{uuid.uuid4().hex[:6]}",
        "node_id": "READY",
        "raw_value": "CSQU3054383",
        "itu_kind": "CONTAINER",
    }
    for _ in range(count):
        value = {**read, "event_id": str(uuid.uuid4())}
        out.produce(
            catalog.RAW_READS.name,
            key=catalog.RAW_READS.key_of(value),
            value=CODEC.encode("iotrack.RawRead", value),
        )
    assert out.flush(30) == 0


def test_records_in_hand_that_are_not_done_make_fusion_not_ready_until_they_are(
    cluster, monkeypatch
):
    fusion = cluster.fusion
    assert fusion is not None
    release = threading.Event()
    handle = fusion.handle

    def stuck(message):
        release.wait(120)
        handle(message)

    monkeypatch.setattr(fusion, "handle", stuck)
    _raw_reads(cluster, 5)
    readiness = cluster.processes["fusion"]
    try:
        _until(lambda: "progress" in _failing(readiness), 60, cluster)
        assert "have been in hand for" in _failing(readiness)["progress"]
        assert readiness.alive()[0], "stuck is not dead"
    finally:
        monkeypatch.setattr(fusion, "handle", handle)
        release.set()
    _ready_again(cluster)


def test_a_lag_over_its_bound_makes_fusion_not_ready_until_it_caught_up(cluster, monkeypatch):
    fusion = cluster.fusion
    assert fusion is not None
    handle = fusion.handle

    def slow(message):
        time.sleep(0.05)  # takes every record, more slowly than they come
        handle(message)

    monkeypatch.setattr(fusion, "handle", slow)
    readiness = cluster.processes["fusion"]
    try:
        _raw_reads(cluster, MAX_LAG * 6)
        _until(lambda: "lag" in _failing(readiness), 60, cluster)
        assert (
            f"records behind on {catalog.RAW_READS.name}, over {MAX_LAG}"
            in (_failing(readiness)["lag"])
        )
        assert "progress" not in _failing(readiness), "slow, not stalled"
    finally:
        monkeypatch.setattr(fusion, "handle", handle)
    _ready_again(cluster)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_projection_whose_thread_died_is_neither_alive_nor_ready(cluster, monkeypatch):
    projection = cluster.projection
    assert projection is not None

    def broken(messages):
        raise RuntimeError("a bug")

    monkeypatch.setattr(projection, "apply_batch", broken)
    out = AsWriters(cluster.found)
    hold = {**example(repository().get("iotrack.HoldPlaced")), "iot_id": str(uuid.uuid4())}
    out.produce(
        catalog.HOLDS.name,
        key=catalog.HOLDS.key_of(hold),
        value=CODEC.encode("iotrack.HoldPlaced", hold),
    )
    assert out.flush(30) == 0
    readiness = cluster.processes["projection"]
    _until(lambda: not readiness.alive()[0], 30, cluster)
    failing = _failing(readiness)
    assert "thread projection died" in failing["projection_thread"]
    assert "stopped: RuntimeError: a bug" in failing["projection"]
