"""Every event type through its catalogued topic on the real broker; apply, drift, compaction.

These check the catalogue, the codec and topic administration, so they sign in as the
administrator; who else may write and read each topic is ``test_authorisation``'s matrix."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from processors.parties import PartyKind, Sender
from streams.kafka.reading import read_at
from streams.kafka.sending import produce_sync
from topics import admin, catalog
from topics.clients import KafkaConnection, consumer, producer
from topics.codec import SingleObjectCodec, plain
from topics.examples import example
from topics.schemas import repository

EVERY_TOPIC = catalog.deployed(
    [Sender.rail_operator("tuscan-rail"), Sender(PartyKind.RAIL_PORTAL, "rail-gate-1-ocr")]
)

SCHEMAS = repository()
CODEC = SingleObjectCodec(SCHEMAS)


@pytest.fixture(scope="module")
def administrator(services):
    connection = services.kafka_admin()
    reports = admin.apply(admin.admin_client(connection), EVERY_TOPIC)
    assert all(r.outcome is not admin.Outcome.DRIFT for r in reports)
    return connection


@pytest.fixture(scope="module")
def kafka_producer(administrator):
    out = producer(administrator)
    yield out
    out.flush(10)


@pytest.mark.parametrize("name", SCHEMAS.event_names())
def test_every_event_type_goes_through_its_topic_and_comes_back_equal(
    name, administrator, kafka_producer
):
    topic = catalog.topic_for_schema(name, EVERY_TOPIC)
    value = example(SCHEMAS.get(name))
    key = topic.key_of(value)
    delivered = produce_sync(kafka_producer, topic, key, CODEC.encode(name, value))
    message = read_at(administrator, delivered)
    assert message.key() == key
    decoded = CODEC.decode(message.value(), topic=topic.name)
    assert decoded.schema == name
    assert plain(decoded.value) == plain(value)


def test_apply_is_idempotent_and_status_sees_compaction(administrator):
    client = admin.admin_client(administrator)
    reports = admin.apply(client)
    assert {r.outcome for r in reports} == {admin.Outcome.UNCHANGED}
    described = {d.topic.name: d for d in admin.describe(client)}
    for topic in catalog.CATALOG:
        found = described[topic.name]
        assert found.exists
        assert found.partitions == topic.partitions
        assert found.configs["cleanup.policy"] == str(topic.cleanup)


def _scratch(topic: catalog.Topic, **changes: object) -> catalog.Topic:
    return dataclasses.replace(topic, name=f"scratch-{uuid.uuid4().hex[:10]}", **changes)


def test_drift_is_reported_and_left_alone(administrator):
    client = admin.admin_client(administrator)
    scratch = _scratch(catalog.PASSAGES, partitions=2)
    assert admin.apply(client, [scratch])[0].outcome is admin.Outcome.CREATED
    resource = ConfigResource(
        ResourceType.TOPIC,
        scratch.name,
        incremental_configs=[
            ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in client.incremental_alter_configs([resource]).values():
        future.result(30)
    report = admin.apply(client, [scratch])[0]
    assert report.outcome is admin.Outcome.DRIFT
    expected = f"retention.ms: catalogue {scratch.retention_ms}, broker 1000"
    assert report.differences == (expected,)
    assert admin.describe(client, [scratch])[0].configs["retention.ms"] == "1000", "not reverted"
    client.delete_topics([scratch.name])


def test_a_compacted_state_topic_keeps_only_the_newest_value_per_key(administrator, kafka_producer):
    client = admin.admin_client(administrator)
    # The IOT state topic's own settings, with segments small enough to roll within the test.
    scratch = _scratch(
        catalog.IOT_STATE,
        partitions=1,
        extra_config={
            "segment.ms": "200",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "100",
            "min.compaction.lag.ms": "0",
        },
    )
    admin.apply(client, [scratch])
    template = example(SCHEMAS.get("iotrack.IotState"))
    kept, retired = str(uuid.uuid4()), str(uuid.uuid4())
    for version in range(1, 6):
        for iot_id in (kept, retired):
            value = {**template, "iot_id": iot_id, "version": version}
            produce_sync(
                kafka_producer, scratch, iot_id.encode(), CODEC.encode("iotrack.IotState", value)
            )
    produce_sync(kafka_producer, scratch, retired.encode(), None)  # the tombstone
    deadline = time.monotonic() + 90
    seen: list[tuple[bytes, int | None]] = []
    while time.monotonic() < deadline:
        # Segments roll only when a record arrives after segment.ms: keep them rolling.
        time.sleep(0.5)
        filler = {**template, "iot_id": str(uuid.uuid4()), "version": 0}
        produce_sync(
            kafka_producer,
            scratch,
            filler["iot_id"].encode(),
            CODEC.encode("iotrack.IotState", filler),
        )
        seen = _read_all(administrator, scratch.name)
        ours = [(k, v) for k, v in seen if k in (kept.encode(), retired.encode())]
        if ours == [(kept.encode(), 5)]:
            break
    ours = [(k, v) for k, v in seen if k in (kept.encode(), retired.encode())]
    assert ours == [(kept.encode(), 5)], "only the newest IOT state remains; the tombstone went"
    client.delete_topics([scratch.name])


def _read_all(connection: KafkaConnection, topic: str) -> list[tuple[bytes, int | None]]:
    reader = consumer(connection, "compaction-check", log_level=0)
    try:
        _low, high = reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        reader.assign([TopicPartition(topic, 0, 0)])
        found = []
        while True:
            message = reader.poll(5)
            if message is None:
                break
            if message.error():
                continue
            value = message.value()
            version = None if value is None else CODEC.decode(value).value["version"]
            found.append((message.key(), version))
            if message.offset() >= high - 1:
                break
        return found
    finally:
        reader.close()
