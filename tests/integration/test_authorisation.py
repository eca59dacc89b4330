"""Who may write and read what, as the broker enforces it: the declarations' matrix, and the
attacks of issue 10 failing to have their effect.

A broker of this module's own (the matrix writes a record onto every topic a party may write),
deployed with every standing party and one terminal, one reader, one rail operator and one rail
portal admitted, with SASL/SCRAM and the ACLs `iotrack topics apply` makes. The matrix has the
query API's gateway cells too (it writes the operator's requests, reads its replies); the last
test sends as the console does.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from processors.parties import PartyKind, Sender
from streams.errors import DeliveryError
from streams.kafka.reading import read_committed
from streams.kafka.sending import produce_sync
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.local.runtime import Endpoints
from streams.workers.core import CoreWorker
from tests.integration.embedded import own_broker
from topics import admin, catalog
from topics.clients import KafkaConnection, admin_client, consumer, producer
from topics.codec import SingleObjectCodec, plain
from topics.examples import example
from topics.parties import API, CORE, CUSTOMS, STANDING, admits
from topics.schemas import repository

CODEC = SingleObjectCodec()
SCHEMAS = repository()
TERMINAL = Sender(PartyKind.TERMINAL, "psa-genova")
READER = Sender(PartyKind.READER, "port-gate-1-l1")
OPERATOR = Sender.rail_operator("tuscan-rail")
PORTAL = Sender(PartyKind.RAIL_PORTAL, "rail-gate-1-ocr")
ADMITTED = (TERMINAL, READER, OPERATOR, PORTAL)
PARTIES = (*STANDING, *ADMITTED)
TOPICS = catalog.deployed(ADMITTED)
AUTHORISATION = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Endpoints]:
    kafka = LocalKafka(tmp_path_factory.mktemp("authorisation"), base_port=free_port())
    try:
        kafka.start()
        yield own_broker(kafka, ADMITTED)
    finally:
        kafka.stop()


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    error: str = ""


def _produce_everywhere(connection: KafkaConnection) -> dict[str, Outcome]:
    """One record onto every topic, as ``connection``'s principal: delivered, or the error.
    Not idempotent here, so that each topic's ACL decides alone (the idempotent producer's
    own right is checked below)."""
    out = producer(
        connection,
        **{"enable.idempotence": False, "message.timeout.ms": 15000, "retries": 0},
    )
    outcomes: dict[str, Outcome] = {}

    def report(error: KafkaError | None, message) -> None:
        outcomes[message.topic()] = Outcome(True) if error is None else Outcome(False, error.name())

    for topic in TOPICS:
        # A tombstone: what any consumer of the topic skips (garbage on the core's changelog
        # would stop its restore; that its writers are the core alone is what is checked).
        out.produce(topic.name, key=b"matrix", value=None, on_delivery=report)
    out.flush(30)
    return outcomes


def _visible(reader: Consumer, topic: str) -> KafkaError | None:
    """What the broker answers when this principal asks for the topic's metadata: None, or
    its error (a topic it may neither read nor write is not even described to it)."""
    return reader.list_topics(topic, timeout=10).topics[topic].error


def _consume_everywhere(connection: KafkaConnection) -> dict[str, Outcome]:
    """Every topic's first partition read from its beginning, as ``connection``'s principal:
    its end reached (or a record), or the error, from the metadata or the fetch."""
    reader = consumer(connection, "matrix", **{"enable.partition.eof": True, "log_level": 0})
    outcomes: dict[str, Outcome] = {}
    try:
        described = []
        for topic in TOPICS:
            error = _visible(reader, topic.name)
            if error is None:
                described.append(topic)
            else:
                outcomes[topic.name] = Outcome(False, error.name())
        reader.assign([TopicPartition(t.name, 0, 0) for t in described])
        deadline = time.monotonic() + 30
        while len(outcomes) < len(TOPICS) and time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is None:
                continue
            topic, error = message.topic(), message.error()
            if topic is None or topic in outcomes:
                continue
            if error is None or error.code() == KafkaError._PARTITION_EOF:
                outcomes[topic] = Outcome(True)
            else:
                outcomes[topic] = Outcome(False, error.name())
    finally:
        reader.close()
    return outcomes


def test_every_party_writes_and_reads_exactly_what_the_catalogue_declares(cluster):
    started = time.monotonic()
    wrong: list[str] = []
    tally = {"write": [0, 0], "read": [0, 0]}
    for party in PARTIES:
        connection = cluster.kafka(party)
        for verb, outcomes, declared in (
            ("write", _produce_everywhere(connection), lambda t: t.writers),
            ("read", _consume_everywhere(connection), lambda t: t.readers),
        ):
            for topic in TOPICS:
                expected = admits(declared(topic), party)
                found = outcomes.get(topic.name)
                if found is None:
                    wrong.append(f"{party} {verb} {topic.name}: no outcome")
                elif found.allowed != expected:
                    wrong.append(f"{party} {verb} {topic.name}: {found}, declared {expected}")
                elif not found.allowed and found.error != "TOPIC_AUTHORIZATION_FAILED":
                    wrong.append(f"{party} {verb} {topic.name}: refused with {found.error}")
                else:
                    tally[verb][found.allowed] += 1
    assert not wrong, "\n".join(wrong)
    # Both outcomes occur for both verbs: the matrix is neither all-open nor all-closed.
    assert all(refused > allowed > 0 for refused, allowed in tally.values()), tally
    assert time.monotonic() - started < 120


def _committed(reader: Consumer, topic: str) -> bool:
    """Whether an offset commit went through; False on a retriable error."""
    try:
        reader.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    except KafkaException as exc:
        if not exc.args[0].retriable():
            raise
        return False
    return True


def test_groups_and_transactional_ids_belong_to_their_principal(cluster):
    terminal = cluster.kafka(TERMINAL)
    # A group of its own: joins, commits.
    mine = consumer(terminal, "gate-screens", log_level=0)
    topic = catalog.CLEARANCE_BY_ITU.name
    try:
        deadline = time.monotonic() + 30
        while not _committed(mine, topic):  # a fresh cluster makes its offsets topic now
            assert time.monotonic() < deadline, "the terminal could not use a group of its own"
            time.sleep(0.5)
    finally:
        mine.close()
    # Another principal's group (the core's), or one outside any prefix: refused.
    looking = admin_client(terminal)
    for group in ("service.core.tracking", "psa-genova-lookalike", "terminal.psa-genovax.g"):
        asked = looking.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        with pytest.raises(KafkaException) as caught:
            asked[group].result(30)
        assert caught.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, group
    # The core's transactional ids are the core's alone.
    core = producer(cluster.kafka(CORE), **{"transactional.id": "service.core.matrix"})
    core.init_transactions(30)
    for party in (CUSTOMS, TERMINAL):
        other = producer(cluster.kafka(party), **{"transactional.id": "service.core.matrix"})
        with pytest.raises(KafkaException) as caught:
            other.init_transactions(15)
        assert caught.value.args[0].code() in AUTHORISATION, party


def test_the_idempotent_producer_is_for_the_parties_that_write(cluster):
    value = CODEC.encode("iotrack.Passage", example(SCHEMAS.get("iotrack.Passage")))
    produce_sync(producer(cluster.kafka(Sender.service("fusion"))), catalog.PASSAGES, b"k", value)
    with pytest.raises(DeliveryError, match=r"(?i)authoriz"):
        produce_sync(producer(cluster.kafka(TERMINAL)), catalog.PASSAGES, b"k", value, timeout=15)


# -- the attacks of issue 10 ------------------------------------------------------------------


def _record(name: str, **fields: object) -> bytes:
    return CODEC.encode(name, {**example(SCHEMAS.get(name)), **fields})


def test_a_terminal_cannot_forge_a_lift_a_release_a_verdict_or_a_tombstone(cluster):
    out = producer(cluster.kafka(TERMINAL), **{"enable.idempotence": False})
    iot = str(uuid.uuid4())
    lift = _record("iotrack.HoldLifted", iot_id=iot, agency="PHYTOSANITARY", hold_id="H-1")
    release = _record("iotrack.CustomsRelease", iot_id=iot, released_by="attacker")
    verdict = _record("iotrack.ClearanceVerdict", iot_id=iot, verdict="CLEARED", may_leave=True)
    forged = [
        (catalog.HOLDS_BY_AGENCY["PHYTOSANITARY"], lift),
        (catalog.HOLDS, lift),
        (catalog.CUSTOMS_RELEASES, release),
        (catalog.RELEASES, release),
        (catalog.CLEARANCE_BY_ITU, verdict),
        (catalog.CLEARANCE_BY_IOT, verdict),
        (catalog.HOLDS, None),  # a tombstone deleting a hold
        (catalog.CORE_CHANGELOG, b"\x80\x04cos\nsystem\n"),  # a pickle-shaped state record
    ]
    for topic, value in forged:
        with pytest.raises(DeliveryError, match=r"(?i)authoriz"):
            produce_sync(out, topic, iot.encode(), value, timeout=15)


def test_a_verdict_is_written_by_the_core_alone(cluster):
    verdict = _record("iotrack.ClearanceVerdict", verdict="CLEARED", may_leave=True)
    for party in (p for p in PARTIES if p != CORE):
        out = producer(cluster.kafka(party), **{"enable.idempotence": False})
        for topic in (catalog.CLEARANCE_BY_ITU, catalog.CLEARANCE_BY_IOT):
            with pytest.raises(DeliveryError, match="authorization"):
                produce_sync(out, topic, b"CONTAINER:CSQU3054383", verdict, timeout=15)
    produce_sync(producer(cluster.kafka(CORE)), catalog.CLEARANCE_BY_ITU, b"k", verdict)


def test_a_terminal_reads_no_customs_only_topic(cluster):
    terminal = cluster.kafka(TERMINAL)
    probe = consumer(terminal, "probe", log_level=0)
    try:
        for topic in (
            catalog.HOLDS,
            catalog.HOLDS_BY_AGENCY["CUSTOMS"],
            catalog.DEAD_LETTERS,
            catalog.CORE_CHANGELOG,
        ):
            error = _visible(probe, topic.name)
            assert error is not None, topic.name
            assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
            with pytest.raises((DeliveryError, KafkaException)):
                read_committed(terminal, topic, timeout=15)
    finally:
        probe.close()
    read_committed(terminal, catalog.CLEARANCE_BY_ITU, timeout=15)  # what it may read


def test_a_hold_put_on_the_releases_topic_by_customs_is_dead_lettered_by_the_core(cluster):
    stop = threading.Event()
    worker = CoreWorker(cluster.kafka(CORE), CODEC, group=f"attack-{uuid.uuid4().hex[:6]}")
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        hold_id = f"H-{uuid.uuid4().hex[:8]}"
        hold = _record("iotrack.HoldPlaced", agency="CUSTOMS", hold_id=hold_id)
        produce_sync(producer(cluster.kafka(CUSTOMS)), catalog.CUSTOMS_RELEASES, b"x", hold)
        customs = cluster.kafka(CUSTOMS)
        deadline = time.monotonic() + 60
        letters: list[dict] = []
        while not letters:
            assert time.monotonic() < deadline, "the core did not dead-letter the hold"
            time.sleep(0.5)
            letters = [
                plain(CODEC.decode(m.value(), topic=catalog.DEAD_LETTERS.name).value)
                for m in read_committed(customs, catalog.DEAD_LETTERS)
                if m.value() is not None
            ]
            letters = [d for d in letters if d["original_value"] == hold]
        [letter] = letters
        assert letter["error_kind"] == "UnexpectedRecordTypeError"
        assert letter["source_topic"] == catalog.CUSTOMS_RELEASES.name
        accepted = [
            plain(CODEC.decode(m.value(), topic=catalog.HOLDS.name).value)
            for m in read_committed(customs, catalog.HOLDS)
            if m.value() is not None
        ]
        assert not [h for h in accepted if h["hold_id"] == hold_id], "the hold was not applied"
    finally:
        stop.set()
        thread.join(30)


def test_a_client_without_credentials_or_with_wrong_ones_is_refused(cluster):
    bootstrap = cluster.bootstrap
    anonymous = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    with pytest.raises(KafkaException):
        anonymous.list_topics(timeout=5)
    wrong = KafkaConnection(
        bootstrap, CUSTOMS.principal, cluster.kafka(TERMINAL).password
    )  # a real password, of another principal
    said: list[KafkaError] = []
    impostor = admin_client(wrong, error_cb=said.append)
    with pytest.raises(KafkaException):
        impostor.list_topics(timeout=10)
    impostor.poll(1)  # serves the error callback
    assert any(e.code() == KafkaError._AUTHENTICATION for e in said), said
    stranger = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "iotrack-broker",
            "sasl.password": "guess",
            "log_level": 0,
        }
    )
    with pytest.raises(KafkaException):
        stranger.list_topics(timeout=5)
    anonymous_out = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    anonymous_out.produce(catalog.HOLDS.name, key=b"k", value=None)
    assert anonymous_out.flush(5) == 1, "nothing an anonymous client sends is taken"
    anonymous_in = Consumer({"bootstrap.servers": bootstrap, "group.id": "x", "log_level": 0})
    try:
        with pytest.raises(KafkaException):
            anonymous_in.get_watermark_offsets(TopicPartition(catalog.HOLDS.name, 0), timeout=5)
    finally:
        anonymous_in.close()


def test_topics_apply_reports_an_undeclared_acl_and_leaves_it(cluster):
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    client = admin_client(cluster.kafka_admin())
    members = admin.parties(client)
    assert set(ADMITTED) <= set(members), "the admitted ones are found (terminals by SCRAM user)"
    before = admin.apply_acls(client, TOPICS, members)
    assert not before.created
    assert not before.extra
    extra = AclBinding(
        ResourceType.TOPIC,
        catalog.HOLDS.name,
        ResourcePatternType.LITERAL,
        "User:*",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    for future in client.create_acls([extra]).values():
        future.result(30)
    try:
        deadline = time.monotonic() + 30
        report = admin.apply_acls(client, TOPICS, members)
        while not report.extra and time.monotonic() < deadline:
            time.sleep(0.2)
            report = admin.apply_acls(client, TOPICS, members)
        assert [str(a) for a in report.extra] == [f"User:* READ topic {catalog.HOLDS.name}"]
        assert admin.apply_acls(client, TOPICS, members).extra, "reported again: left alone"
    finally:
        same = AclBindingFilter(
            extra.restype,
            extra.name,
            extra.resource_pattern_type,
            extra.principal,
            extra.host,
            extra.operation,
            extra.permission_type,
        )
        for future in client.delete_acls([same]).values():
            future.result(30)


def test_a_reader_started_before_its_acls_delivers_once_admitted(cluster, tmp_path):
    from readers.adapters import ReadPoint
    from readers.forwarder import Forwarder
    from readers.service import ReaderService, reader_party
    from readers.simulator import Faults, Simulator
    from readers.spool import Spool
    from streams.local.kafka import ensure_scram
    from streams.ops.admission import admit
    from topics.clients import edge_producer
    from topics.parties import FUSION

    node = "LATE-GATE"
    simulation = Simulator(seed=9, faults=Faults(garbage_rate=0.0)).gate_hour(20, 1, node)
    [(kind, read_point, _)] = [k for k in simulation.by_reader() if k[0] == "ocr"]
    party = reader_party(read_point)
    local = cluster.brokers.local
    # Its credential, but not its ACLs yet: the broker refuses it an idempotent producer id.
    ensure_scram(admin_client(cluster.kafka_admin()), local.passwords, [party.principal])
    spool = Spool(tmp_path / "late.sqlite")
    service = ReaderService(kind, ReadPoint(read_point, node), spool, CODEC)
    connection = cluster.kafka(party)
    forwarder = Forwarder(
        spool, lambda **extra: edge_producer(connection, **extra), retry_pause_s=0.5
    )
    forwarder.start()
    try:
        accepted = [
            i
            for p in simulation.payloads
            if p.kind == "ocr"
            for i in service.accept([p.body])[0].event_ids
        ]
        time.sleep(3)
        assert len(spool) == len(accepted), "nothing leaves the spool while it may not write"
        assert forwarder.last_error is not None
        admit(cluster, [party])
        deadline = time.monotonic() + 60
        while len(spool) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(spool) == 0, "admitted, it delivers what it kept (a new producer)"
    finally:
        forwarder.stop()
        spool.close()
    delivered = {
        plain(CODEC.decode(m.value(), topic=catalog.RAW_READS.name).value)["event_id"]
        for m in read_committed(cluster.kafka(FUSION), catalog.RAW_READS)
        if m.value() is not None
    }
    assert set(accepted) <= delivered


def test_the_query_api_sends_for_an_operator_as_its_gateway_and_nowhere_else(cluster):
    api = cluster.kafka(API)
    requests = catalog.RAIL_REQUESTS.for_party(OPERATOR)
    loading_list = _record("iotrack.TrainLoadingList", operator=OPERATOR.name, answered=False)
    # The idempotent producer the console's upload uses (streams.kafka.rail), no transaction.
    produce_sync(producer(api), requests, b"IT-GATEWAY-1", loading_list)
    read_committed(api, catalog.REPLIES.for_party(OPERATOR), timeout=15)  # the answers
    consist = _record("iotrack.DetectedConsist")
    for topic in (catalog.CONSIST_READS.for_party(PORTAL), catalog.HOLDS_BY_AGENCY["CUSTOMS"]):
        with pytest.raises(DeliveryError, match=r"(?i)authoriz"):
            produce_sync(producer(api), topic, b"k", consist, timeout=15)
    with pytest.raises((DeliveryError, KafkaException)):
        read_committed(api, catalog.REPLIES.for_party(PORTAL), timeout=15)
    # The operator's own channel is still its own: a portal cannot write there.
    with pytest.raises(DeliveryError, match=r"(?i)authoriz"):
        produce_sync(producer(cluster.kafka(PORTAL)), requests, b"k", loading_list, timeout=15)
