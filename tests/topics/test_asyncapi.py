"""The AsyncAPI document: the committed docs/asyncapi.json is what the generator writes, and it
says what the catalogue says."""

from __future__ import annotations

import json
from pathlib import Path

from topics import asyncapi
from topics.catalog import CATALOG, CLEARANCE_BY_ITU, DEVIATIONS, FAMILIES
from topics.schemas import repository

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_the_committed_document_is_what_the_generator_writes():
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi.rendered(), (
        "the topics or schemas changed: run 'iotrack asyncapi --output docs/asyncapi.json' "
        "and commit"
    )


def test_the_rendering_is_stable():
    assert asyncapi.rendered() == asyncapi.rendered(asyncapi.document())
    assert json.loads(asyncapi.rendered()) == asyncapi.document()


def test_one_channel_per_topic_with_its_kafka_settings():
    document = asyncapi.document()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    addresses = sorted(c["address"] for c in channels.values())
    assert addresses == sorted([*(t.name for t in CATALOG), *(f.template.name for f in FAMILIES)])
    assert "party" in channels["rail-requests--party--v1"]["parameters"]
    kafka = channels["clearance-verdicts-by-itu-v1"]["bindings"]["kafka"]
    assert kafka["partitions"] == CLEARANCE_BY_ITU.partitions
    assert kafka["replicas"] == 3
    assert kafka["topicConfiguration"]["cleanup.policy"] == ["compact"]
    deviations = channels["deviations-v1"]["bindings"]["kafka"]["topicConfiguration"]
    assert deviations["cleanup.policy"] == ["delete"]
    assert deviations["retention.ms"] == DEVIATIONS.retention_ms


def test_messages_carry_the_avro_schemas_of_avro_and_describe_the_key():
    document = asyncapi.document()
    schemas = repository()
    bindings = document["channels"]["bindings-v1"]["messages"]
    assert sorted(bindings) == ["BindingChanged", "BindingEnded", "IotBound"]
    bound = bindings["IotBound"]
    assert bound["payload"] == {"$ref": "#/components/schemas/iotrack.IotBound"}
    assert bound["x-iotrack-fingerprint"] == schemas.get("iotrack.IotBound").fingerprint_hex
    assert bound["bindings"]["kafka"]["key"]["x-iotrack-key-fields"] == ["iot_id"]
    payload = document["components"]["schemas"]["iotrack.IotBound"]
    assert payload["schemaFormat"] == "application/vnd.apache.avro;version=1.9.0"
    assert payload["schema"] == schemas.get("iotrack.IotBound").expanded
    by_itu = document["channels"]["clearance-verdicts-by-itu-v1"]["messages"]["ClearanceVerdict"]
    assert (
        "itu.kind, itu.country and itu.value, joined by ':'"
        in (by_itu["bindings"]["kafka"]["key"]["description"])
    )


def test_a_send_per_writer_and_a_receive_per_reader():
    operations = asyncapi.document()["operations"]
    channels = (*CATALOG, *(asyncapi.family_topic(f) for f in FAMILIES))
    expected = {
        f"{asyncapi.tag_id(party)}-{verb}-{asyncapi.channel_id(topic)}"
        for topic in channels
        for verb, parties in (("sends", topic.writers), ("receives", topic.readers))
        for party in parties
    }
    assert set(operations) == expected
    sends = operations["service-fusion-sends-passages-v1"]
    assert sends["action"] == "send"
    assert sends["channel"] == {"$ref": "#/channels/passages-v1"}
    assert sends["messages"] == [{"$ref": "#/channels/passages-v1/messages/Passage"}]
    assert operations["service-core-receives-passages-v1"]["action"] == "receive"
    requests = operations["every-rail-operator-sends-rail-requests--party--v1"]
    assert requests["channel"] == {"$ref": "#/channels/rail-requests--party--v1"}
    assert operations["service-core-receives-customs-declarations-v1"]["action"] == "receive"
