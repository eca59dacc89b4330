"""The ACLs made from the declarations: exactly the catalogue's writers and readers, groups and
transactional ids by principal prefix, nothing for everyone."""

from __future__ import annotations

from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from processors.parties import PartyKind, Sender
from topics import acls, catalog
from topics.acls import Acl
from topics.parties import API, CORE, CUSTOMS, FUSION, OBSERVERS, PROJECTION, STANDING, admits

TERMINAL = Sender(PartyKind.TERMINAL, "psa-genova")
OPERATOR = Sender.rail_operator("tuscan-rail")
OTHER = Sender.rail_operator("tus")
PARTIES = (*STANDING, TERMINAL, OPERATOR, OTHER)
TOPICS = catalog.deployed(PARTIES)
DECLARED = acls.declared(TOPICS, PARTIES)


def _on_topics(party: Sender, operation: AclOperation) -> set[str]:
    return {
        a.name
        for a in DECLARED
        if a.principal == f"User:{party}"
        and a.resource is ResourceType.TOPIC
        and a.operation is operation
    }


def test_each_party_may_write_and_read_exactly_its_declared_topics():
    for party in PARTIES:
        writes = {t.name for t in TOPICS if admits(t.writers, party)}
        reads = {t.name for t in TOPICS if admits(t.readers, party)}
        assert _on_topics(party, AclOperation.WRITE) == writes, party
        assert _on_topics(party, AclOperation.READ) == reads, party
        watched = {t.name for t in TOPICS for p in OBSERVERS.get(party, ()) if admits(t.readers, p)}
        assert _on_topics(party, AclOperation.DESCRIBE) == writes | reads | watched, party


def test_no_acl_is_for_everyone_nor_outside_the_parties():
    principals = {a.principal for a in DECLARED}
    assert principals <= {f"User:{p}" for p in PARTIES}
    assert all(a.host == "*" for a in DECLARED)
    assert not [a for a in DECLARED if a.name == "*"]


def test_groups_are_the_principal_and_a_dot_so_a_shorter_name_gets_nothing_of_a_longer():
    groups = {
        a.principal: a.name
        for a in DECLARED
        if a.resource is ResourceType.GROUP and a.operation is AclOperation.READ
    }
    assert groups[f"User:{OPERATOR}"] == "rail-operator.tuscan-rail."
    assert groups[f"User:{OTHER}"] == "rail-operator.tus."
    assert not "rail-operator.tuscan-rail.x".startswith(groups[f"User:{OTHER}"])
    assert all(
        a.pattern is ResourcePatternType.PREFIXED and a.name == f"{a.principal[5:]}."
        for a in DECLARED
        if a.resource is ResourceType.GROUP and a.operation is AclOperation.READ
    )


def test_the_api_describes_the_workers_groups_and_topics_and_reads_none_of_them():
    described = {
        (a.principal, a.name)
        for a in DECLARED
        if a.resource is ResourceType.GROUP and a.operation is AclOperation.DESCRIBE
    }
    assert described == {
        (f"User:{API}", f"{CORE}."),
        (f"User:{API}", f"{FUSION}."),
        (f"User:{API}", f"{PROJECTION}."),
    }
    reads = _on_topics(API, AclOperation.READ)
    assert catalog.CUSTOMS_RELEASES.name in _on_topics(API, AclOperation.DESCRIBE)
    assert catalog.CUSTOMS_RELEASES.name not in reads
    operators_replies = {catalog.REPLIES.for_party(p).name for p in (OPERATOR, OTHER)}
    assert reads == {catalog.CLEARANCE_BY_ITU.name, catalog.DEAD_LETTERS.name, *operators_replies}


def test_the_api_writes_each_rail_operators_requests_as_a_declared_gateway_and_nothing_else():
    operators = (OPERATOR, OTHER)
    requests = {catalog.RAIL_REQUESTS.for_party(p).name for p in operators}
    assert _on_topics(API, AclOperation.WRITE) == requests
    for operator in operators:
        topic = catalog.RAIL_REQUESTS.for_party(operator)
        writers = {a.principal for a in DECLARED if a.name == topic.name and a.operation is
                   AclOperation.WRITE}  # fmt: skip
        assert writers == {f"User:{operator}", f"User:{API}"}
        # Each operator writes its own requests topic only, never another's.
        assert _on_topics(operator, AclOperation.WRITE) == {topic.name}
    # The replies of a rail portal or an agency are not the API's to read.
    assert catalog.REPLIES.for_party(CUSTOMS).name not in _on_topics(API, AclOperation.READ)
    # It produces with the idempotent producer, as the operator's own CLI does: no transaction.
    idempotent = {a.principal for a in DECLARED if a.resource is ResourceType.BROKER}
    assert f"User:{API}" in idempotent
    transactional = {a.principal for a in DECLARED if a.resource is ResourceType.TRANSACTIONAL_ID}
    assert f"User:{API}" not in transactional


def test_only_the_core_has_transactional_ids_and_writers_the_idempotent_producer():
    transactional = [a for a in DECLARED if a.resource is ResourceType.TRANSACTIONAL_ID]
    assert {(a.principal, a.name, a.operation) for a in transactional} == {
        ("User:service.core", "service.core.", AclOperation.WRITE),
        ("User:service.core", "service.core.", AclOperation.DESCRIBE),
    }
    idempotent = {a.principal for a in DECLARED if a.resource is ResourceType.BROKER}
    assert f"User:{TERMINAL}" not in idempotent, "a terminal writes nothing"
    assert {f"User:{CORE}", f"User:{CUSTOMS}", f"User:{FUSION}", f"User:{OPERATOR}"} <= idempotent


def test_the_public_state_is_written_by_the_core_alone():
    for topic in (catalog.CLEARANCE_BY_ITU, catalog.CLEARANCE_BY_IOT, catalog.HOLDS):
        writers = {a.principal for a in DECLARED if a.name == topic.name and a.operation is
                   AclOperation.WRITE}  # fmt: skip
        assert writers == {"User:service.core"}


def test_what_is_iotracks_business_on_a_shared_cluster():
    def acl(principal: str, name: str, pattern=ResourcePatternType.LITERAL) -> Acl:
        return Acl(principal, ResourceType.TOPIC, name, pattern, AclOperation.READ)

    assert acls.concerns_iotrack(acl("User:*", "orders"))
    assert acls.concerns_iotrack(acl("User:someone", "iotrack.clearance.holds.v1"))
    assert acls.concerns_iotrack(acl("User:someone", "*"))
    assert acls.concerns_iotrack(acl("User:someone", "iot", ResourcePatternType.PREFIXED))
    assert acls.concerns_iotrack(acl("User:terminal.x", "orders"))
    assert not acls.concerns_iotrack(acl("User:billing", "orders"))
    assert not acls.concerns_iotrack(acl("User:billing", "ord", ResourcePatternType.PREFIXED))
