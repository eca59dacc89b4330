"""Who writes and reads each topic: declared for every topic, in agreement with the core's rule of
who may send what, and keeping Customs-only facts where only Customs and iotrack's services
read."""

from __future__ import annotations

import pytest

from processors.core.authority import MAY_SEND
from processors.events import RECORD_TYPES
from processors.parties import CUSTOMS, GDF, PartyKind, Sender
from topics import catalog
from topics.catalog import (
    CATALOG,
    CORE_CHANGELOG,
    CORE_INPUTS,
    DEAD_LETTERS,
    FAMILIES,
    HOLDS,
    deployed,
    sender_of,
)
from topics.errors import CatalogError
from topics.parties import (
    ADMITTED_KINDS,
    API,
    CORE,
    DESCRIPTIONS,
    GATEWAYS,
    PROJECTION,
    SERVICES,
    STANDING,
    admits,
    describe,
)

OPERATOR = Sender.rail_operator("tuscan-rail")
PORTAL = Sender(PartyKind.RAIL_PORTAL, "rail-gate-1")
TERMINAL = Sender(PartyKind.TERMINAL, "psa-genova")
EVERY_TOPIC = deployed([OPERATOR, PORTAL])
CUSTOMS_ONLY_TOPICS = (
    HOLDS,
    DEAD_LETTERS,
    catalog.DECLARATION_STATES,
    *catalog.HOLDS_BY_AGENCY.values(),
)


def test_every_topic_has_a_writer_and_a_reader():
    for topic in EVERY_TOPIC:
        assert topic.writers, topic.name
        assert topic.readers, topic.name
        assert len(set(topic.writers)) == len(topic.writers), topic.name
        assert len(set(topic.readers)) == len(topic.readers), topic.name


def test_the_core_is_the_only_writer_of_the_public_state():
    for topic in (
        catalog.BINDINGS,
        catalog.DECLARATION_STATES,
        catalog.HOLDS,
        catalog.RELEASES,
        catalog.EXITS,
        catalog.IOT_STATE,
        catalog.CLEARANCE_BY_IOT,
        catalog.CLEARANCE_BY_ITU,
        catalog.DEVIATIONS,
        catalog.LOADING_LISTS,
        catalog.MANIFESTS,
        catalog.PERMISSIONS,
        catalog.CONSISTS,
        catalog.TRAINS,
    ):
        assert topic.writers == (CORE,), topic.name


def test_each_input_the_core_reads_has_one_writer_whose_kind_may_send_what_it_carries():
    inputs = [t for t in EVERY_TOPIC if admits(t.readers, CORE) and t is not CORE_CHANGELOG]
    assert {t.name for t in CORE_INPUTS} <= {t.name for t in inputs}
    for topic in inputs:
        sender = sender_of(topic)
        for record_type in topic.schemas:
            allowed = MAY_SEND[RECORD_TYPES[record_type]]  # type: ignore[index]
            assert sender.kind in allowed, (topic.name, record_type, sender)


def test_every_kind_the_core_takes_a_record_from_has_a_topic_for_it():
    for event_type, kinds in MAY_SEND.items():
        name = next(n for n, cls in RECORD_TYPES.items() if cls is event_type)
        carried_by = {
            sender_of(t).kind for t in EVERY_TOPIC if name in t.schemas and admits(t.readers, CORE)
        }
        assert carried_by == set(kinds), name


def test_customs_only_facts_are_read_by_customs_and_services_alone():
    for topic in CUSTOMS_ONLY_TOPICS:
        for reader in topic.readers:
            assert reader == CUSTOMS or (
                isinstance(reader, Sender) and reader.kind is PartyKind.SERVICE
            ), (topic.name, reader)


@pytest.mark.parametrize("outsider", [GDF, TERMINAL, OPERATOR, PORTAL])
def test_no_outside_party_but_customs_reads_a_hold_reason(outsider: Sender):
    for topic in CUSTOMS_ONLY_TOPICS:
        assert not admits(topic.readers, outsider), topic.name


def test_an_operator_reads_its_own_replies_and_no_other_operators_trains():
    other = Sender.rail_operator("adriatic-freight")
    readable = {t.name for t in deployed([OPERATOR, other]) if admits(t.readers, OPERATOR)}
    assert readable == {catalog.REPLIES.for_party(OPERATOR).name}


def test_a_gateway_writes_an_operators_requests_yet_the_channel_stays_the_operators():
    requests = catalog.RAIL_REQUESTS.for_party(OPERATOR)
    replies = catalog.REPLIES.for_party(OPERATOR)
    assert GATEWAYS[PartyKind.RAIL_OPERATOR] == (API,)
    assert requests.writers == (OPERATOR, API)
    assert requests.gateways == (API,)
    assert sender_of(requests) == OPERATOR
    assert catalog.topic_named(requests.name) == requests
    assert admits(replies.readers, API)
    # Only a rail operator's topics have a gateway: a portal's, Customs' are theirs alone.
    assert catalog.CONSIST_READS.for_party(PORTAL).writers == (PORTAL,)
    assert not admits(catalog.REPLIES.for_party(PORTAL).readers, API)
    assert not admits(catalog.REPLIES.for_party(CUSTOMS).readers, API)
    with pytest.raises(CatalogError, match="no single writer"):
        sender_of(catalog.RAW_READS)


def test_only_the_core_touches_its_changelog():
    assert CORE_CHANGELOG.writers == CORE_CHANGELOG.readers == (CORE,)


def test_a_family_topic_names_its_party_and_back():
    for family in FAMILIES:
        for kind in family.kinds:
            party = (
                Sender(kind, kind.value)
                if kind in (PartyKind.CUSTOMS, PartyKind.GDF)
                else (Sender.agency("health") if kind is PartyKind.AGENCY else Sender(kind, "x-1"))
            )
            topic = family.for_party(party)
            assert family.party_of(topic.name) == party
            assert catalog.topic_named(topic.name) == topic


def test_every_party_is_described():
    for member in (*STANDING, *ADMITTED_KINDS):
        assert describe(member)
    assert set(SERVICES) <= set(DESCRIPTIONS)
    assert PROJECTION in SERVICES


def test_no_topic_name_is_shared():
    names = [t.name for t in EVERY_TOPIC]
    assert len(names) == len(set(names))
    assert all(t.name in {c.name for c in EVERY_TOPIC} for t in CATALOG)
