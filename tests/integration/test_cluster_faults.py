"""A broker lost under load, on a 3-node cluster (replication factor 3, min.insync.replicas 2).

Three OCR readers (``iotrack reader run``), passage fusion and the tracking core (``iotrack
run``) and the Postgres projection (``iotrack project``) run as the command line starts them,
each a process of its own. Devices post trucks to the readers at a steady rate (25 payloads/s
per reader, three reads each: 225 reads/s, for 24 s) and eight seconds in, one broker's JVM is
killed with SIGKILL: the leader of the busiest raw-reads partition, a follower of it, or the
quorum's active controller (one per run; with three combined nodes, every node leads some
partitions, and the figures say whether the victim also led the busy one). The victim comes back
once the load is over. Afterwards, every read a reader answered 202 for (spooled, and by the end
every one of them delivered: the spool keeps a record until its delivery report comes without
error) is on the raw topic once with its bytes, its passage once with the bytes fusion makes of
those reads in-process, the core's outputs for those passages once each, exactly as
``iotrack replay`` computes them, and the projection holds the passages and each IOT_ID's state.

The negative run kills two brokers: writes are refused (no read is acknowledged while they are
away, a producer with a bounded timeout gets an error, the readers' /ready says their spool is
waiting), nothing acknowledged is lost, and everything resumes when they return.

Long (about six minutes): ``make test-faults`` runs them (``pytest -m faults``), not ``make
test``. Each run appends its figures (recovery times, records checked) as a JSON line to
``$IOTRACK_FAULT_FIGURES`` (default ``fault-figures.jsonl`` in pytest's base temporary folder).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from confluent_kafka import KafkaError, Message
from confluent_kafka.admin import ConfigResource, ResourceType

from processors.events import RawRead, parse
from processors.fusion import FusionState, advance, flush
from readers.adapters import ReadPoint, parse_ocr
from readers.fusion_worker import GROUP as FUSION_GROUP
from readers.service import reader_party
from streams.kafka.reading import committed_up_to_end, read_committed
from streams.local.kafka import LocalKafka
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.local.runtime import Databases
from streams.ops.admission import admit
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from streams.replay.publish import publish
from streams.workers.core import GROUP as CORE_GROUP
from tests.integration.embedded import cli_env, own_broker
from tests.integration.faults import (
    MISSION_PATH,
    QUAY,
    Child,
    Cluster,
    Device,
    children,
    get,
    line,
    payload,
    units,
    until,
)
from tests.integration.test_core_worker_crash import _expected, _published
from tests.integration.test_kafka_security_modes import _free_for_three_nodes
from topics import admin, catalog
from topics.clients import producer
from topics.codec import SingleObjectCodec, plain
from topics.parties import CORE, CUSTOMS, FUSION

pytestmark = pytest.mark.faults

CODEC = SingleObjectCodec()
READERS = 3
RATE = 25.0
"""Payloads per second per reader; three reads each."""
BATCH = 5
LOAD_S = 24.0
KILL_AT_S = 8.0
OUTAGE_S = 12.0
"""How long the negative run keeps two brokers away, from the kill."""
PER_READER = int(RATE * LOAD_S)
REPLICATED = (catalog.RAW_READS, catalog.PASSAGES, catalog.IOT_STATE, catalog.CORE_CHANGELOG)
RUNS = {"leader": 1, "follower": 2, "controller": 3, "two brokers": 4}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three KRaft nodes (broker and controller each) and a Postgres of this module's own,
    with the catalogue's topics and ACLs and the fault path; stopped at the end."""
    home = tmp_path_factory.mktemp("faults") / "home"
    kafka = LocalKafka(home, nodes=3, base_port=_free_for_three_nodes(), heap="384m")
    postgres = LocalPostgres(home, port=free_port())
    try:
        postgres.start()
        kafka.start()
        found = own_broker(kafka, databases=Databases(postgres))
        migrate(found.database(Duty.OWNER).reveal())
        publish(found.kafka, CODEC, [MISSION_PATH])
        yield Cluster(kafka, postgres, found, home)
    finally:
        kafka.stop()
        postgres.stop()


@pytest.fixture(autouse=True)
def whole_cluster(cluster: Cluster) -> Iterator[None]:
    """Every node running again after each run, whatever failed in it: one failure is not
    passed on to the runs after it as a node left down."""
    yield
    cluster.kafka.start()


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    default = tmp_path_factory.getbasetemp() / "fault-figures.jsonl"
    return Path(os.environ.get("IOTRACK_FAULT_FIGURES", default))


def test_every_topic_has_three_replicas_and_two_in_sync(cluster):
    client = admin.admin_client(cluster.found.kafka_admin())
    assert admin.broker_count(client) == 3
    for described in admin.describe(client):
        assert described.exists, described.topic.name
        assert described.replication == 3, described.topic.name
        assert described.configs["min.insync.replicas"] == "2", described.topic.name
    [node] = client.describe_configs([ConfigResource(ResourceType.BROKER, "1")]).values()
    broker = {k: v.value for k, v in node.result(timeout=15).items()}
    # The consumer groups' offsets and the core's transactions are kept as safely.
    assert broker["offsets.topic.replication.factor"] == "3"
    assert broker["transaction.state.log.replication.factor"] == "3"
    assert broker["transaction.state.log.min.isr"] == "2"
    assert broker["min.insync.replicas"] == "2"
    assert broker["unclean.leader.election.enable"] == "false"


class Run:
    """One run: its processes, its devices, and what is checked afterwards."""

    def __init__(self, cluster: Cluster, tmp_path: Path, run: int) -> None:
        self.cluster = cluster
        self.found = cluster.found
        self.tmp = tmp_path
        self.run = run
        self.read_points = [f"FLT{run}-RP{i}" for i in range(READERS)]
        self.units = units(run, READERS * PER_READER)
        self.payloads = [
            [payload(run, i, k, rp, self.units[i * PER_READER + k]) for k in range(PER_READER)]
            for i, rp in enumerate(self.read_points)
        ]
        self.iot_of = {u.code: u.iot_id for u in self.units}
        self.devices: list[Device] = []
        self.reader_ports: list[int] = []
        self.core_port = free_port()
        self.projection_port = free_port()
        self.core: Child | None = None
        self.projection: Child | None = None
        self.readers: list[Child] = []
        self.figures: dict[str, Any] = {"run": run}

    # -- processes
    def start(self, started: list[Child]) -> None:
        admit(self.found, [reader_party(rp) for rp in self.read_points])
        env = cli_env(self.found)
        self.core = Child(
            "iotrack run (core and fusion)",
            ["run", "--metrics-port", str(self.core_port)],
            env,
            self.tmp / "run.log",
        )
        started.append(self.core)
        self.projection = Child(
            "iotrack project",
            ["project", "--metrics-port", str(self.projection_port)],
            env,
            self.tmp / "project.log",
        )
        started.append(self.projection)
        for rp in self.read_points:
            port = free_port()
            reader = Child(
                f"reader {rp}",
                [
                    "reader",
                    "run",
                    "--kind",
                    "ocr",
                    "--read-point",
                    rp,
                    "--node",
                    QUAY,
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--spool",
                    str(self.tmp / f"{rp}.sqlite"),
                    "--ready-spool-age",
                    "5",
                ],
                cli_env(self.found, reader_party(rp)),
                self.tmp / f"reader-{rp}.log",
            )
            started.append(reader)
            self.readers.append(reader)
            self.reader_ports.append(port)
        assert self.core is not None
        assert self.projection is not None
        until(
            "the core's /ready answers 200",
            lambda: get(self.core_port, "/ready")[0] == 200,
            180,
            self.core,
        )
        until(
            "the projection's /ready answers 200",
            lambda: get(self.projection_port, "/ready")[0] == 200,
            180,
            self.projection,
        )
        for port, reader in zip(self.reader_ports, self.readers, strict=True):
            until(f"{reader.name} answers /health", lambda p=port: get(p, "/health")[0] == 200, 60)
        group = f"{CORE.principal}.{CORE_GROUP}"
        # As Customs does: the mission path known before the bindings that name it. Ready is
        # not enough: a core that read the bindings first kept 64 waiting for the path and
        # dead-lettered the rest (TooManyWaiting), as it should.
        until(
            "the core took the mission path",
            lambda: committed_up_to_end(self.found.kafka_admin(), group, [catalog.MISSION_PATHS]),
            180,
            self.core,
        )
        publish(self.found.kafka, CODEC, [u.binding for u in self.units])
        until(
            "the core took the run's bindings",
            lambda: committed_up_to_end(
                self.found.kafka_admin(), group, [catalog.BINDING_REQUESTS]
            ),
            180,
            self.core,
        )

    def everything_alive(self) -> None:
        for child in (self.core, self.projection, *self.readers):
            assert child is not None
            child.alive()

    # -- load
    def load(self) -> float:
        self.devices = [
            Device(port, payloads, RATE, BATCH)
            for port, payloads in zip(self.reader_ports, self.payloads, strict=True)
        ]
        for device in self.devices:
            device.start()
        return time.monotonic()

    def load_done(self) -> None:
        for device in self.devices:
            device.join(LOAD_S + 120)
            assert not device.is_alive(), "a device still posting long after its load"
            assert not device.posted.refused, device.posted.refused[:3]

    def first_posted_after(self, moment: float) -> list[tuple[int, int]] | None:
        """(reader, payload) of each device's first payload answered after ``moment``, once
        every device has one."""
        found = []
        for i, device in enumerate(self.devices):
            later = [k for k, at in list(device.posted.at.items()) if at > moment]
            if not later:
                return None
            found.append((i, min(later)))
        return found

    def projected(self, iot_ids: list[str]) -> bool:
        """Whether the projection holds every one of ``iot_ids`` at the quay."""
        url = self.found.database(Duty.OWNER).reveal()
        with psycopg2.connect(url, connect_timeout=5) as db, db.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM iot_state WHERE iot_id = ANY(%s::uuid[]) "
                "AND current_node_id = %s",
                (iot_ids, QUAY),
            )
            row = cursor.fetchone()
        return row is not None and row[0] == len(iot_ids)

    def end_to_end(self, since: float, timeout_s: float = 180) -> float:
        """From ``since`` until the first truck each device posted after it is in the
        projection's IOT state (reader, broker, fusion, core, projection: the whole way)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.everything_alive()
            picked = self.first_posted_after(since)
            if picked is not None:
                codes = [self.units[i * PER_READER + k].code for i, k in picked]
                if self.projected([self.iot_of[c] for c in codes]):
                    return round(time.monotonic() - since, 2)
            assert time.monotonic() < deadline, (
                f"a truck posted after the fault never reached the projection within "
                f"{timeout_s:.0f} s; dead letters: {self.dead_letters()}"
            )
            time.sleep(0.2)

    def dead_letters(self) -> str:
        """What was dead-lettered, by kind, with an example of each (for a failure's message)."""
        try:
            letters = [
                plain(CODEC.decode(m.value(), topic=catalog.DEAD_LETTERS.name).value)
                for m in read_committed(self.found.kafka(CUSTOMS), catalog.DEAD_LETTERS)
                if m.value() is not None
            ]
        except Exception as exc:  # a diagnostic: the failure it explains is the one to see
            return f"not read ({exc})"
        kinds = Counter(f"{d['error_kind']} from {d['source_topic']}" for d in letters)
        examples = {d["error_kind"]: d["reason"][:300] for d in letters}
        return f"{dict(kinds)}; e.g. {examples}"

    def spooled(self) -> list[int]:
        return [int(get(p, "/health")[1].get("spooled", -1)) for p in self.reader_ports]

    def delivered(self) -> int:
        return sum(int(get(p, "/health")[1].get("delivered") or 0) for p in self.reader_ports)

    def busiest(self, before: dict[int, int]) -> int:
        """The raw-reads partition that took most records since ``before``."""
        after = self.cluster.ends(catalog.RAW_READS)
        return max(after, key=lambda p: after[p] - before.get(p, 0))

    # -- the end
    def drain(self) -> float:
        started = time.monotonic()
        until(
            "every reader's spool drained",
            lambda: all(n == 0 for n in self.spooled()),
            180,
            *self.readers,
        )
        admin_connection = self.found.kafka_admin()
        assert self.core is not None
        until(
            "fusion committed every raw read",
            lambda: committed_up_to_end(
                admin_connection, f"{FUSION.principal}.{FUSION_GROUP}", [catalog.RAW_READS]
            ),
            180,
            self.core,
        )
        until(
            "the core committed every passage",
            lambda: committed_up_to_end(
                admin_connection, f"{CORE.principal}.{CORE_GROUP}", [catalog.PASSAGES]
            ),
            180,
            self.core,
        )
        return round(time.monotonic() - started, 2)

    def check(self) -> None:
        """Every acknowledged read, its passage and its outputs once, by id and value, as
        replay computes them; the projection holds them."""
        # The raw reads: exactly what the reader makes of each payload it answered 202 for.
        expected_raw: dict[str, bytes] = {}
        reads_by_point: dict[str, list[dict[str, Any]]] = {}
        accepted = 0
        for rp, device in zip(self.read_points, self.devices, strict=True):
            reads_by_point[rp] = []
            for k in sorted(device.posted.event_ids):
                reads = parse_ocr(device.posted.payloads[k], ReadPoint(rp, QUAY))
                assert tuple(r["event_id"] for r in reads) == device.posted.event_ids[k]
                for read in reads:
                    value = CODEC.encode("iotrack.RawRead", read, topic=catalog.RAW_READS.name)
                    expected_raw[read["event_id"]] = value
                    reads_by_point[rp].append(plain(CODEC.decode(value).value))
                accepted += 1
        assert accepted == READERS * PER_READER, "every payload was answered 202"
        raw = _by_id(self.found.kafka(FUSION), catalog.RAW_READS, set(self.read_points))
        _same("raw reads", expected_raw, raw)
        # Their passages: what fusion makes of those reads, in the order each reader sent them.
        expected_passages: dict[str, bytes] = {}
        for reads in reads_by_point.values():
            state, out = FusionState(), []
            for read in reads:
                typed = parse("iotrack.RawRead", read)
                assert isinstance(typed, RawRead)
                state, closed = advance(state, typed)
                out.extend(closed)
            out.extend(flush(state)[1])
            for passage in out:
                expected_passages[passage["event_id"]] = CODEC.encode(
                    "iotrack.Passage", passage, topic=catalog.PASSAGES.name
                )
        assert len(expected_passages) == accepted, "one passage per truck"
        passages = _by_id(self.found.kafka(CUSTOMS), catalog.PASSAGES, set(self.read_points))
        _same("passages", expected_passages, passages)
        # The core's outputs, as replay computes them from the run's bindings and passages.
        lines = [MISSION_PATH, *(u.binding for u in self.units)]
        for [value] in passages.values():
            decoded = plain(CODEC.decode(value).value)
            lines.append(json.dumps({"type": "iotrack.Passage", "value": decoded}))
        expected = _expected(lines)
        keys = {key for _, key, _, _ in expected}
        keys |= {u.iot_id for u in self.units} | {f"CONTAINER:{u.code}" for u in self.units}
        published = [p for p in _published(self.found.kafka(CUSTOMS)) if p[1] in keys]
        ids = Counter((t, json.loads(v)["event_id"]) for t, _, s, v in published if s)
        duplicated = [i for i, n in ids.items() if n > 1]
        assert not duplicated, f"outputs published twice: {duplicated[:5]}"
        missing = Counter(expected) - Counter(published)
        extra = Counter(published) - Counter(expected)
        assert not missing, f"{sum(missing.values())} outputs missing, e.g. {list(missing)[:2]}"
        assert not extra, f"{sum(extra.values())} outputs not expected, e.g. {list(extra)[:2]}"
        states = {
            key: json.loads(value)["status"]
            for topic, key, schema, value in expected
            if topic == catalog.IOT_STATE.name and schema is not None
        }
        assert len(states) == len(self.units), "every unit has its state"
        self.figures.update(
            reads_checked=len(expected_raw),
            passages_checked=len(expected_passages),
            outputs_checked=len(expected),
            duplicates=0,
        )
        self.expected_passages = set(expected_passages)
        self.expected_states = states

    def check_projection(self) -> None:
        """The projection (still running) holds every passage and every unit's state."""
        url = self.found.database(Duty.OWNER).reveal()
        passages, states = sorted(self.expected_passages), self.expected_states

        def holds() -> bool:
            with psycopg2.connect(url, connect_timeout=5) as db, db.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM passages WHERE event_id = ANY(%s::uuid[])", (passages,)
                )
                row = cursor.fetchone()
                if row is None or row[0] != len(passages):
                    return False
                cursor.execute(
                    "SELECT iot_id::text, status FROM iot_state WHERE iot_id = ANY(%s::uuid[])",
                    (list(states),),
                )
                return dict(cursor.fetchall()) == states

        assert self.projection is not None
        until("the projection holds every passage and state", holds, 180, self.projection)

    def record(self, path: Path) -> None:
        with path.open("a") as out:
            out.write(json.dumps(self.figures) + "\n")
        print(json.dumps(self.figures))


def _by_id(connection: Any, topic: catalog.Topic, keys: set[str]) -> dict[str, list[bytes]]:
    """The values of ``topic`` whose key is one of ``keys``, by event id (every copy)."""
    found: dict[str, list[bytes]] = defaultdict(list)
    for message in read_committed(connection, topic):
        if (message.key() or b"").decode() not in keys or message.value() is None:
            continue
        value = message.value()
        assert value is not None
        found[plain(CODEC.decode(value).value)["event_id"]].append(value)
    return found


def _same(what: str, expected: dict[str, bytes], found: dict[str, list[bytes]]) -> None:
    missing = sorted(set(expected) - set(found))
    twice = sorted(i for i, values in found.items() if len(values) > 1)
    unknown = sorted(set(found) - set(expected))
    differ = sorted(i for i in set(expected) & set(found) if found[i][0] != expected[i])
    problems = (
        f"{what}: {len(missing)} acknowledged but missing (e.g. {missing[:3]}), "
        f"{len(twice)} twice (e.g. {twice[:3]}), {len(unknown)} never acknowledged, "
        f"{len(differ)} with other bytes (e.g. {differ[:3]})"
    )
    assert not missing, problems
    assert not twice, problems
    assert not unknown, problems
    assert not differ, problems


def _victim(cluster: Cluster, role: str, busy: int) -> tuple[int, dict[str, Any]]:
    leader, replicas, _ = cluster.metadata(catalog.RAW_READS)[busy]
    controller = cluster.active_controller()
    if role == "leader":
        node = leader
    elif role == "follower":
        followers = [n for n in replicas if n != leader]
        node = next((n for n in followers if n != controller), followers[0])
    else:
        node = controller
    led = sum(1 for t in REPLICATED for lead, _, _ in cluster.metadata(t).values() if lead == node)
    return node, {
        "victim": role,
        "node": node,
        "busy_partition": busy,
        "led_the_busy_partition": node == leader,
        "was_active_controller": node == controller,
        "partitions_it_led": led,
    }


@pytest.mark.parametrize("role", ["leader", "follower", "controller"])
def test_a_broker_killed_under_load_loses_nothing_acknowledged_and_repeats_nothing(
    cluster, tmp_path, figures, role
):
    run = Run(cluster, tmp_path, RUNS[role])
    with children() as started:
        run.start(started)
        ends = cluster.ends(catalog.RAW_READS)
        loaded = run.load()
        time.sleep(KILL_AT_S - 3)
        run.figures["end_to_end_before_s"] = run.end_to_end(time.monotonic())
        time.sleep(max(0.0, loaded + KILL_AT_S - time.monotonic()))
        node, about = _victim(cluster, role, run.busiest(ends))
        run.figures.update(about)
        killed = cluster.kill(node)
        if about["led_the_busy_partition"]:
            run.figures["new_leader_after_s"] = until(
                "a new leader for the busy partition",
                lambda: (
                    cluster.leader(catalog.RAW_READS, about["busy_partition"]) not in (node, None)
                ),
                120,
            )
        run.figures["end_to_end_after_kill_s"] = run.end_to_end(killed)
        run.load_done()
        restarted = time.monotonic()
        cluster.kafka.start()
        run.figures["restarted_s"] = round(time.monotonic() - restarted, 2)
        run.figures["rejoined_in_sync_s"] = until(
            f"node {node} back in every in-sync replica set",
            lambda: cluster.fully_replicated(REPLICATED),
            180,
        )
        run.figures["down_s"] = round(restarted - killed, 1)
        run.figures["drained_after_load_s"] = run.drain()
        run.everything_alive()
        run.check()
        run.check_projection()
    run.record(figures)


def test_two_brokers_down_refuse_writes_lose_nothing_and_everything_resumes(
    cluster, tmp_path, figures
):
    run = Run(cluster, tmp_path, RUNS["two brokers"])
    with children() as started:
        run.start(started)
        ends = cluster.ends(catalog.RAW_READS)
        run.load()
        time.sleep(KILL_AT_S)
        busy = run.busiest(ends)
        leader = cluster.metadata(catalog.RAW_READS)[busy][0]
        controller = cluster.active_controller()
        second = (
            controller
            if controller != leader
            else next(n.node_id for n in cluster.kafka.nodes if n.node_id != leader)
        )
        killed = cluster.kill(leader)
        cluster.kill(second)
        survivor = next(n.node_id for n in cluster.kafka.nodes if n.node_id not in (leader, second))
        run.figures.update(
            victim="two brokers", nodes=[leader, second], survivor=survivor, busy_partition=busy
        )
        time.sleep(3)  # what was in flight at the kill is answered or not by now
        delivered, spooled = run.delivered(), sum(run.spooled())
        # A producer that waits a bounded time is told so.
        reports: list[KafkaError | None] = []

        def report(error: KafkaError | None, _message: Message) -> None:
            reports.append(error)

        probe = producer(cluster.found.kafka(CUSTOMS), **{"message.timeout.ms": 6000})
        value = json.loads(line("BindingRequested", 0, "probe"))["value"]
        value.update(
            request_id=f"FLT-{run.run}-probe",
            mrns=[],
            itus=[{"kind": "CONTAINER", "value": "CSQU3054383"}],
            mission_path_id="FAULT-PATH",
            requested_by="officer",
        )
        probe.produce(
            catalog.BINDING_REQUESTS.name,
            key=catalog.BINDING_REQUESTS.key_of(value),
            value=CODEC.encode(
                "iotrack.BindingRequested", value, topic=catalog.BINDING_REQUESTS.name
            ),
            on_delivery=report,
        )
        probe.flush(20)
        del probe  # it would go on dialling the brokers away
        assert len(reports) == 1, "the probe's delivery report came"
        assert reports[0] is not None, "a write with two of three brokers away was acknowledged"
        run.figures["probe_error"] = reports[0].str()
        # The readers keep accepting, into their spools; their /ready says what waits.
        not_ready: list[str] = []

        def readers_say_so() -> bool:
            answers = [get(p, "/ready") for p in run.reader_ports]
            not_ready[:] = [str(doc.get("reason")) for status, doc in answers if status == 503]
            return len(not_ready) == READERS

        until("every reader's /ready says 503 while its spool waits", readers_say_so, 30)
        assert all("spool" in reason for reason in not_ready), not_ready
        run.figures["reader_not_ready_reason"] = not_ready[0]
        time.sleep(max(0.0, killed + OUTAGE_S - time.monotonic()))
        core_ready = get(run.core_port, "/ready")
        run.figures["core_ready_during_outage"] = [core_ready[0], core_ready[1].get("reason")]
        assert run.delivered() == delivered, "no read acknowledged while two brokers are away"
        waiting = sum(run.spooled())
        assert waiting > spooled, "the readers kept accepting reads into their spools"
        run.figures.update(spooled_at_return=waiting, acknowledged_during_outage=0)
        returned = time.monotonic()
        cluster.kafka.start()
        run.figures["brokers_back_s"] = round(time.monotonic() - returned, 2)
        run.figures["spools_drained_after_return_s"] = until(
            "every reader's spool drained once the brokers were back",
            lambda: all(n == 0 for n in run.spooled()),
            180,
            *run.readers,
        )
        run.figures["down_s"] = round(returned - killed, 1)
        run.load_done()
        run.figures["drained_after_load_s"] = run.drain()
        until(
            "both nodes back in every in-sync replica set",
            lambda: cluster.fully_replicated(REPLICATED),
            180,
        )
        run.everything_alive()
        run.check()
        run.check_projection()
    run.record(figures)
