"""The edge against the real broker: nothing accepted is lost, through outages and kills."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from readers.adapters import ReadPoint
from readers.forwarder import Forwarder
from readers.fusion_worker import FusionWorker
from readers.service import ReaderService, reader_party
from readers.simulator import Faults, Simulator
from readers.spool import Spool
from streams.kafka.reading import read_committed
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.ops.admission import admit
from tests.integration.embedded import cli_env, own_broker
from topics import catalog
from topics.clients import KafkaConnection, edge_producer
from topics.codec import SingleObjectCodec, plain
from topics.errors import DecodeError
from topics.parties import CUSTOMS, FUSION

CODEC = SingleObjectCodec()
CHECKOUT = Path(__file__).resolve().parents[2]


def read_topic(connection: KafkaConnection, topic: catalog.Topic) -> list[tuple[int, int, dict]]:
    """Every record of a topic now: (partition, offset, plain value), tombstones skipped, and
    the bytes the poison-record tests put on the shared broker's topics too."""
    found = []
    for message in read_committed(connection, topic):
        value = message.value()
        if value is None:
            continue
        try:
            decoded = plain(CODEC.decode(value, topic=topic.name).value)
        except DecodeError:
            continue
        found.append((message.partition(), message.offset(), decoded))
    return found


def test_a_simulated_gate_hour_arrives_whole_and_once_and_fuses_into_passages(services, tmp_path):
    node = f"GATE-{uuid.uuid4().hex[:8].upper()}"
    simulation = Simulator(seed=11, faults=Faults(garbage_rate=0.01)).gate_hour(240, 4, node)
    accepted: list[str] = []
    garbage = [p for p in simulation.payloads if p.garbage]
    readers: dict[tuple[str, str], tuple[ReaderService, Forwarder]] = {}
    admit(services, {reader_party(read_point) for _, read_point, _ in simulation.by_reader()})
    for kind, read_point, node_id in simulation.by_reader():
        spool = Spool(tmp_path / f"{kind}-{read_point}.sqlite")
        connection = services.kafka(reader_party(read_point))
        forwarder = Forwarder(spool, lambda c=connection, **extra: edge_producer(c, **extra))
        forwarder.start()
        service = ReaderService(kind, ReadPoint(read_point, node_id), spool, CODEC)
        readers[(kind, read_point)] = (service, forwarder)
    # As at a real gate: each device sends its payload as the truck passes, and each reader
    # has forwarded it long before the next truck (an hour is played in seconds here, so the
    # test waits for that instead of for the clock).
    for payload in simulation.payloads:
        service, _ = readers[(payload.kind, payload.read_point)]
        [outcome] = service.accept([payload.body])
        accepted.extend(outcome.event_ids)
        deadline = time.monotonic() + 30
        while len(service.spool) and time.monotonic() < deadline:
            time.sleep(0.002)
    for service, forwarder in readers.values():
        deadline = time.monotonic() + 60
        while len(service.spool) and time.monotonic() < deadline:
            time.sleep(0.1)
        forwarder.stop()
        assert len(service.spool) == 0

    fusion, customs = services.kafka(FUSION), services.kafka(CUSTOMS)
    raw = [v for _, _, v in read_topic(fusion, catalog.RAW_READS) if v["node_id"] == node]
    ids = Counter(v["event_id"] for v in raw)
    assert sorted(ids) == sorted(accepted), "every accepted read arrived"
    assert max(ids.values()) == 1, "and none twice"

    letters = [
        v
        for _, _, v in read_topic(customs, catalog.DEAD_LETTERS)
        if v["reader_id"] and node in v["reader_id"]
    ]
    assert sorted(v["original_value"] for v in letters) == sorted(p.body for p in garbage)
    assert all(v["reason"].startswith("ocr payload: ") for v in letters)

    worker = FusionWorker(fusion, CODEC, group=f"fusion-{uuid.uuid4()}", idle_flush_s=1.0)
    worker.run(threading.Event(), exit_when_idle_s=3.0)
    passages = [v for _, _, v in read_topic(customs, catalog.PASSAGES) if v["node_id"] == node]
    assert len({p["event_id"] for p in passages}) == len(passages)
    assert len(passages) == 240, "one passage per truck: OCR and RFID of a truck fused"
    truth = set(simulation.units)
    evidence = [e for p in passages for e in p["evidence"] if e["itu_kind"] == "CONTAINER"]
    repaired = {e["value"] for e in evidence if e["repair"] == "REPAIRED"}
    assert repaired, "the simulator's misreads gave the repair something to do"
    assert repaired <= truth, f"wrongly repaired: {sorted(repaired - truth)}"
    # A confusion between letters 11 apart (G/Q...) keeps the check digit right: such a misread
    # is valid as read. The RFID tag, when there is one, exposes it.
    for wrong in {e["value"] for e in evidence if e["value"]} - truth:
        [passage] = [p for p in passages if any(e["value"] == wrong for e in p["evidence"])]
        tags = [e for e in passage["evidence"] if e["sensor"] == "RFID"]
        assert not tags or passage["sensors_agree"] is False
    seen = {i["value"] for p in passages for i in p["identifiers"] if i["kind"] == "CONTAINER"}
    assert len(seen & truth) >= 0.97 * len(truth)


def _accept_one_by_one(service: ReaderService, payloads: list[bytes]) -> list[str]:
    ids = []
    for body in payloads:
        [outcome] = service.accept([body])
        ids.extend(outcome.event_ids)
    return ids


def test_a_broker_outage_fills_the_spool_which_drains_in_order_when_it_returns(tmp_path):
    kafka = LocalKafka(tmp_path / "home", base_port=free_port())
    try:
        kafka.start()
        node = "GATE-OUTAGE"
        simulation = Simulator(seed=5, faults=Faults(garbage_rate=0.0)).gate_hour(120, 2, node)
        ocr = [
            (rp, p)
            for (kind, rp, _), ps in simulation.by_reader().items()
            if kind == "ocr"
            for p in ps
        ]
        read_point = ocr[0][0]
        found = own_broker(kafka, [reader_party(read_point)])
        bodies = [p.body for rp, p in ocr if rp == read_point]
        spool = Spool(tmp_path / "spool.sqlite")
        service = ReaderService("ocr", ReadPoint(read_point, node), spool, CODEC)
        forwarder = Forwarder(
            spool, lambda **extra: edge_producer(found.kafka(reader_party(read_point)), **extra)
        )
        forwarder.start()
        half = len(bodies) // 2
        accepted = _accept_one_by_one(service, bodies[:half])
        deadline = time.monotonic() + 30
        while len(spool) and time.monotonic() < deadline:
            time.sleep(0.1)
        kafka.stop()
        accepted += _accept_one_by_one(service, bodies[half:])
        time.sleep(2)
        assert len(spool) > 0, "with the broker down, accepted reads wait in the spool"
        kafka.start()
        deadline = time.monotonic() + 90
        while len(spool) and time.monotonic() < deadline:
            time.sleep(0.2)
        forwarder.stop()
        assert len(spool) == 0, "the spool drained once the broker was back"
        raw = read_topic(found.kafka(FUSION), catalog.RAW_READS)
        in_log_order = [
            v["event_id"]
            for _, _, v in sorted(raw, key=lambda r: r[:2])
            if v["read_point_id"] == read_point
        ]
        assert in_log_order == accepted, "nothing lost, nothing twice, in acceptance order"
    finally:
        kafka.stop()


def _post(port: int, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/payloads",
        data=body,
        headers={"Content-Type": content_type},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def _start_reader(services, read_point: str, node: str, port: int, spool: Path):
    env = cli_env(services, reader_party(read_point))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "reader",
            "run",
            "--kind",
            "ocr",
            "--read-point",
            read_point,
            "--node",
            node,
            "--listen",
            f"127.0.0.1:{port}",
            "--spool",
            str(spool),
        ],
        cwd=CHECKOUT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while _health(port) is None:
        assert process.poll() is None, "the reader exited at start"
        assert time.monotonic() < deadline, "the reader did not answer /health"
        time.sleep(0.1)
    return process


def test_a_sigkilled_reader_loses_nothing_it_accepted_and_garbage_is_dead_lettered(
    services, tmp_path
):
    node = f"GATE-{uuid.uuid4().hex[:8].upper()}"
    read_point = f"{node}-L1"
    admit(services, [reader_party(read_point)])
    simulation = Simulator(seed=3, faults=Faults(garbage_rate=0.0)).gate_hour(200, 1, node)
    bodies = [p.body for p in simulation.payloads if p.kind == "ocr"]
    port, spool = free_port(), tmp_path / "reader.sqlite"
    process = _start_reader(services, read_point, node, port, spool)
    accepted: list[str] = []
    for kill_at in (60, 130):
        while len(accepted) < kill_at * 4 and bodies:
            status, answer = _post(port, bodies.pop(0))
            assert status == 202, answer
            accepted.extend(answer["items"][0]["event_ids"])
        process.send_signal(signal.SIGKILL)
        process.wait()
        process = _start_reader(services, read_point, node, port, spool)
    status, answer = _post(port, b"\x00\x01 garbage from a broken camera")
    assert status == 400
    assert answer["items"][0]["error"].startswith("ocr payload: not JSON")
    for body in bodies:
        status, answer = _post(port, body)
        assert status == 202, answer
        accepted.extend(answer["items"][0]["event_ids"])
    deadline = time.monotonic() + 60
    while (_health(port) or {}).get("spooled") != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    delivered = Counter(
        v["event_id"]
        for _, _, v in read_topic(services.kafka(FUSION), catalog.RAW_READS)
        if v["read_point_id"] == read_point
    )
    assert set(accepted) <= set(delivered), "every read the reader answered 202 for arrived"
    assert set(delivered) <= set(accepted)
    letters = [
        v
        for _, _, v in read_topic(services.kafka(CUSTOMS), catalog.DEAD_LETTERS)
        if v["reader_id"] == f"ocr@{read_point}"
    ]
    assert [v["original_value"] for v in letters] == [b"\x00\x01 garbage from a broken camera"]
    assert "not JSON" in letters[0]["reason"]
