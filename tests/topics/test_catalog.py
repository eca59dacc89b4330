"""The topic catalogue: consistent with the schemas, and clamped sensibly to the cluster size."""

from __future__ import annotations

import re

import pytest

from processors.parties import PartyKind, Sender
from topics import catalog
from topics.catalog import CATALOG, Cleanup, topic_named
from topics.errors import CatalogError
from topics.examples import example
from topics.schemas import repository

SCHEMAS = repository()


def test_names_are_unique_and_versioned():
    names = [t.name for t in CATALOG]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"iotrack\.[a-z0-9.\-]+\.v\d+", name), name


EVERY_TOPIC = catalog.deployed(
    [Sender.rail_operator("tuscan-rail"), Sender(PartyKind.RAIL_PORTAL, "rail-gate-1")]
)


def test_every_catalogued_schema_exists_and_every_event_has_a_topic():
    for topic in EVERY_TOPIC:
        for schema in topic.schemas:
            assert schema in SCHEMAS.current, (topic.name, schema)
    carried = {schema for topic in EVERY_TOPIC for schema in topic.schemas}
    for event in SCHEMAS.event_names():
        assert event in carried, event


@pytest.mark.parametrize(
    "topic", [t for t in EVERY_TOPIC if t.writer_keys is None], ids=lambda t: t.name
)
def test_every_schema_of_a_topic_yields_a_key(topic):
    for schema in topic.schemas:
        key = topic.key_of(example(SCHEMAS.get(schema)))
        assert key
        assert b"None" not in key


def test_the_core_changelog_carries_the_state_records_keyed_by_the_core_itself():
    from processors.core import snapshot

    topic = catalog.CORE_CHANGELOG
    assert topic.schemas == tuple(snapshot.RECORD_TYPES)
    assert all(s.startswith("iotrack.state.") for s in topic.schemas)
    assert topic.compacted
    assert topic.retention_ms == catalog.FOREVER
    assert all(f"{kind}:" in topic.writer_keys or kind == "meta" for kind in snapshot.KINDS)
    with pytest.raises(CatalogError, match="keys are made by its writer"):
        topic.key_of(example(SCHEMAS.get("iotrack.state.Meta")))


def test_state_topics_are_compacted_and_keep_forever():
    state = [
        catalog.IOT_STATE,
        catalog.CLEARANCE_BY_IOT,
        catalog.CLEARANCE_BY_ITU,
        catalog.HOLDS,
        catalog.RELEASES,
        catalog.EXITS,
    ]
    for topic in state:
        assert topic.cleanup is Cleanup.COMPACT
        assert topic.configs(3)["cleanup.policy"] == "compact"
        assert topic.retention_ms == catalog.FOREVER


def test_replication_is_clamped_to_the_cluster():
    topic = catalog.PASSAGES
    assert (topic.replication(1), topic.configs(1)["min.insync.replicas"]) == (1, "1")
    assert (topic.replication(3), topic.configs(3)["min.insync.replicas"]) == (3, "2")
    assert (topic.replication(5), topic.configs(5)["min.insync.replicas"]) == (3, "2")


def test_itu_keys_include_the_plate_country():
    value = {"itu": {"kind": "PLATE", "country": "IT", "value": "AB123CD"}}
    assert catalog.CLEARANCE_BY_ITU.key_of(value) == b"PLATE:IT:AB123CD"


def test_a_value_without_key_fields_is_refused_with_the_topic_name():
    with pytest.raises(CatalogError, match=r"iotrack\.iot-state\.v1"):
        catalog.IOT_STATE.key_of({"status": "BOUND"})


def test_unknown_names_are_refused():
    with pytest.raises(CatalogError, match="not in the topic catalogue"):
        topic_named("iotrack.nope.v1")
    assert topic_named(catalog.PASSAGES.name) is catalog.PASSAGES


def test_only_the_catalogue_spells_topic_names():
    """Style rule 5: other modules refer to catalog constants, never to a literal name."""
    from pathlib import Path

    root = Path(catalog.__file__).resolve().parent.parent
    pattern = re.compile(r"[\"']iotrack\.[a-z\-]+(\.[a-z\-]+)*\.v\d+[\"']")
    offenders = []
    for package in ("topics", "processors", "streams", "readers"):
        for path in (root / package).rglob("*.py"):
            if path.name != "catalog.py" and pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(root)))
    assert not offenders
