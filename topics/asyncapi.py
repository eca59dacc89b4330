"""An AsyncAPI 3.0 document of every catalogued topic, derived from the catalogue and ``avro/``.

Nothing in it is written by hand, so it cannot drift from the code: one channel per topic
(address = topic name, with the Kafka bindings for partitions, replicas and the topic
configuration), one message per record type it carries (payload = the current Avro schema from
``avro/``, named types inlined; the record key described in the Kafka message binding), and a
``send`` operation per writer and a ``receive`` operation per reader that the catalogue names
(:mod:`topics.parties`). ``docs/asyncapi.json`` is its committed rendering
(``iotrack asyncapi --output docs/asyncapi.json``), checked against this module and against
the official AsyncAPI parser by the tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from topics.catalog import CATALOG, FAMILIES, KEY_SEPARATOR, Topic, TopicFamily
from topics.parties import Audience, describe, label
from topics.schemas import SchemaRepository, repository

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
AVRO_SCHEMA_FORMAT = "application/vnd.apache.avro;version=1.9.0"
# The Avro specification's content type for its binary encoding.
AVRO_CONTENT_TYPE = "avro/binary"
DOCUMENT_VERSION = "1.0.0"
"""The document's ``info.version``; topic names carry their own ``.vN``."""

Json = Any

DESCRIPTION = (
    "The Kafka topics of iotrack, an event-streaming backbone that tracks goods and their "
    "transport units through a port on the Italian Customs IOT_ID model. Generated from the "
    "topic catalogue (topics/catalog.py) and the Avro schemas (avro/).\n\n"
    "Values are Avro, in the Avro specification's single-object encoding: the bytes C3 01, the "
    "8-byte CRC-64-AVRO fingerprint of the writer schema (little-endian; each message's "
    "x-iotrack-fingerprint), then the binary body. With SCHEMA_REGISTRY_URL set, the Confluent "
    "framing of a schema registry is used instead. Keys are UTF-8 text. Every event carries "
    "event_id (a UUIDv7) and source; consumers deduplicate on event_id. Compacted topics hold "
    "state: the newest record per key, and a null value (tombstone) retires a key."
)


def channel_id(topic: Topic) -> str:
    """The channel's id: the topic name without ``iotrack.``, dots as dashes.

    >>> from topics.catalog import CLEARANCE_BY_ITU
    >>> channel_id(CLEARANCE_BY_ITU)
    'clearance-verdicts-by-itu-v1'
    """
    return re.sub(r"[^A-Za-z0-9_-]", "-", topic.name.removeprefix("iotrack."))


def _short(full_name: str) -> str:
    return full_name.rpartition(".")[2]


def _listed(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def key_description(topic: Topic) -> str:
    """How the record key is made from the value (``Topic.key_of``), in one sentence.

    >>> from topics.catalog import DEVIATIONS, HOLDS
    >>> key_description(HOLDS)
    "The value's iot_id, agency and hold_id, joined by ':' (absent ones left out)."
    >>> key_description(DEVIATIONS)
    "The first of the value's iot_id, read_point_id and node_id that is present."
    """
    fields = list(topic.key_fields)
    if topic.writer_keys is not None:
        return f"Made by its writer, not from the value: {topic.writer_keys}."
    if not topic.schemas:
        return f"The {_listed(fields)} of the state entry (private to its writer)."
    if topic.first_key_field:
        return f"The first of the value's {_listed(fields)} that is present."
    if len(fields) == 1:
        return f"The value's {fields[0]}."
    return f"The value's {_listed(fields)}, joined by '{KEY_SEPARATOR}' (absent ones left out)."


def _topic_configuration(topic: Topic) -> dict[str, Json]:
    configuration: dict[str, Json] = {}
    for name, value in topic.configs(topic.replication_factor).items():
        if name == "cleanup.policy":
            configuration[name] = value.split(",")
        elif re.fullmatch(r"-?\d+", value):
            configuration[name] = int(value)
        else:
            configuration[name] = value
    return configuration


def _channel_description(topic: Topic) -> str:
    if topic.compacted:
        kept = "Compacted: the newest record per key is kept; a null value retires a key."
    elif topic.retention_ms < 0:
        kept = "Events, kept forever."
    else:
        kept = f"Events, kept {topic.retention_ms // (24 * 60 * 60 * 1000)} days."
    writers = _listed([label(p) for p in topic.writers]) if topic.writers else "nobody yet"
    readers = _listed([label(p) for p in topic.readers]) if topic.readers else "nobody yet"
    return f"{topic.doc} {kept} Written by {writers}; read by {readers}."


def family_topic(family: TopicFamily) -> Topic:
    """A family's template as one channel, its party named by the ``{party}`` parameter."""
    own = tuple(family.kinds)
    acting = tuple(dict.fromkeys(g for kind in own for g in family.gateways.get(kind, ())))
    doc = family.template.doc
    for gateway in acting:
        kinds = _listed([str(k) for k in own if gateway in family.gateways.get(k, ())])
        verb = "writes" if family.party_writes else "reads"
        doc += f" {label(gateway)} also {verb} the topic of a {kinds}, acting for that party."
    if family.party_writes:
        return replace(family.template, doc=doc, writers=(*own, *acting), gateways=acting)
    return replace(family.template, doc=doc, readers=(*own, *acting), gateways=acting)


def tag_id(member: Audience) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", label(member))


def _key(topic: Topic) -> dict[str, Json]:
    return {
        "type": "string",
        "description": key_description(topic),
        "x-iotrack-key-fields": list(topic.key_fields),
    }


def _messages(topic: Topic, schemas: SchemaRepository) -> dict[str, Json]:
    binding = {"kafka": {"key": _key(topic), "bindingVersion": KAFKA_BINDING_VERSION}}
    if not topic.schemas:
        return {
            "State": {
                "name": "State",
                "title": "State entry",
                "summary": "Private state of its writer; not a contract.",
                "contentType": "application/octet-stream",
                "payload": {
                    "type": "string",
                    "format": "binary",
                    "description": topic.doc,
                },
                "bindings": binding,
            }
        }
    messages = {}
    for full_name in topic.schemas:
        version = schemas.get(full_name)
        messages[_short(full_name)] = {
            "name": full_name,
            "title": _short(full_name),
            "summary": version.expanded.get("doc", full_name),
            "contentType": AVRO_CONTENT_TYPE,
            "payload": {"$ref": f"#/components/schemas/{full_name}"},
            "bindings": binding,
            "x-iotrack-schema-version": version.version,
            "x-iotrack-fingerprint": version.fingerprint_hex,
        }
    return messages


def _channel(topic: Topic, schemas: SchemaRepository) -> dict[str, Json]:
    channel: dict[str, Json] = {
        "address": topic.name,
        "title": topic.name,
        "description": _channel_description(topic),
        "messages": _messages(topic, schemas),
        "bindings": {
            "kafka": {
                "partitions": topic.partitions,
                "replicas": topic.replication_factor,
                "topicConfiguration": _topic_configuration(topic),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    if not topic.schemas or topic.writer_keys is not None:
        channel["x-iotrack-private"] = True
    if "{party}" in topic.name:
        channel["parameters"] = {
            "party": {
                "description": "The principal of the party the topic belongs to "
                "(``kind.name``, e.g. ``rail-operator.tuscan-rail``; ``customs``, ``gdf``)."
            }
        }
    return channel


def _operations(topic: Topic, messages: Sequence[str]) -> dict[str, Json]:
    channel = channel_id(topic)
    operations = {}
    for action, verb, parties in (
        ("send", "sends", topic.writers),
        ("receive", "receives", topic.readers),
    ):
        for party in parties:
            operations[f"{tag_id(party)}-{verb}-{channel}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "title": f"{label(party)} {verb} {topic.name}",
                "summary": (
                    f"{label(party)} {'writes to' if action == 'send' else 'reads'} {topic.name}."
                ),
                "messages": [
                    {"$ref": f"#/channels/{channel}/messages/{message}"} for message in messages
                ],
                "tags": [{"$ref": f"#/components/tags/{tag_id(party)}"}],
            }
    return operations


def document(
    topics: Sequence[Topic] | None = None, schemas: SchemaRepository | None = None
) -> dict[str, Json]:
    """The AsyncAPI 3.0 document of ``topics`` (default: the whole catalogue, each family of
    per-party topics as one channel with a ``{party}`` parameter)."""
    if topics is None:
        topics = (*CATALOG, *(family_topic(f) for f in FAMILIES))
    schemas = schemas or repository()
    channels: dict[str, Json] = {}
    operations: dict[str, Json] = {}
    payloads: dict[str, Json] = {}
    for topic in topics:
        channel = _channel(topic, schemas)
        channels[channel_id(topic)] = channel
        operations.update(_operations(topic, sorted(channel["messages"])))
        for full_name in topic.schemas:
            payloads[full_name] = {
                "schemaFormat": AVRO_SCHEMA_FORMAT,
                "schema": schemas.get(full_name).expanded,
            }
    parties = {tag_id(p): p for t in topics for p in (*t.writers, *t.readers)}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "iotrack topics",
            "version": DOCUMENT_VERSION,
            "description": DESCRIPTION,
        },
        "defaultContentType": AVRO_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": payloads,
            "tags": {tag: _tag(tag, parties[tag]) for tag in sorted(parties)},
        },
    }


def _tag(tag: str, member: Audience) -> dict[str, Json]:
    return {"name": tag, "description": describe(member)}


def rendered(document_: dict[str, Json] | None = None) -> str:
    """The document as JSON text: keys sorted, two-space indent, a final newline."""
    return json.dumps(document_ or document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
