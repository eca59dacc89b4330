"""The broker's ACLs, made from the catalogue's declarations and nothing else.

For every topic of a deployment, each of its ``writers`` may WRITE and DESCRIBE it and each of
its ``readers`` may READ and DESCRIBE it (a kind of party, ``PartyKind.TERMINAL``, stands for
every party of that kind the deployment has). Besides the topics, a party that reads joins and
commits consumer groups named after itself (GROUP READ on the prefix ``<principal>.``), a party
that writes may use the idempotent producer (CLUSTER IDEMPOTENT_WRITE), and the tracking core
owns the transactional ids named after itself (TRANSACTIONAL_ID WRITE, DESCRIBE on
``service.core.``). An observer (``topics.parties.OBSERVERS``: the query API, for its console's
operations page) may DESCRIBE the groups of the parties it watches and the topics they read,
never READ them. The prefix ends with a dot so that a principal named ``rail-operator.tus``
gets nothing of ``rail-operator.tuscan-rail``'s groups.

Everything is ALLOW from any host; nothing is granted to ``User:*``.

>>> from processors.parties import CUSTOMS
>>> from topics import catalog
>>> for acl in sorted(declared([catalog.CUSTOMS_RELEASES], [CUSTOMS]), key=Acl.sort_key):
...     print(acl)
User:customs IDEMPOTENT_WRITE cluster kafka-cluster
User:customs DESCRIBE topic iotrack.customs.releases.v1
User:customs WRITE topic iotrack.customs.releases.v1
User:service.core READ group service.core.*
User:service.core DESCRIBE topic iotrack.customs.releases.v1
User:service.core READ topic iotrack.customs.releases.v1
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from processors.errors import ProcessorError
from processors.parties import PartyKind, Sender
from topics.parties import CORE, OBSERVERS, Audience
from topics.topic import Topic

CLUSTER = "kafka-cluster"
"""The name of Kafka's one cluster resource."""
ANY_HOST = "*"
TOPIC_PREFIX = "iotrack."
"""Every catalogued topic's name starts with it."""

_WRITE = (AclOperation.WRITE, AclOperation.DESCRIBE)
_READ = (AclOperation.READ, AclOperation.DESCRIBE)
_LABELS = {
    ResourceType.TOPIC: "topic",
    ResourceType.GROUP: "group",
    ResourceType.TRANSACTIONAL_ID: "transactional-id",
    ResourceType.BROKER: "cluster",
}


@dataclass(frozen=True)
class Acl:
    """One ACL binding, comparable with what the broker lists."""

    principal: str
    """``User:<name>``."""
    resource: ResourceType
    name: str
    pattern: ResourcePatternType
    operation: AclOperation
    permission: AclPermissionType = AclPermissionType.ALLOW
    host: str = ANY_HOST

    @classmethod
    def of(cls, binding: AclBinding) -> Acl:
        """The ACL a broker's binding says."""
        return cls(
            binding.principal,
            ResourceType(binding.restype),
            binding.name,
            ResourcePatternType(binding.resource_pattern_type),
            AclOperation(binding.operation),
            AclPermissionType(binding.permission_type),
            binding.host,
        )

    def binding(self) -> AclBinding:
        """The binding that creates it."""
        return AclBinding(
            self.resource,
            self.name,
            self.pattern,
            self.principal,
            self.host,
            self.operation,
            self.permission,
        )

    def sort_key(self) -> tuple[str, ...]:
        return (
            self.principal,
            str(self.resource.name),
            self.name,
            str(self.operation.name),
            str(self.pattern.name),
            str(self.permission.name),
            self.host,
        )

    def __str__(self) -> str:
        kind = _LABELS.get(self.resource, str(self.resource.name).lower())
        name = f"{self.name}*" if self.pattern is ResourcePatternType.PREFIXED else self.name
        text = f"{self.principal} {self.operation.name} {kind} {name}"
        if self.permission is not AclPermissionType.ALLOW:
            text = f"{text} ({self.permission.name})"
        return text if self.host == ANY_HOST else f"{text} from {self.host}"


def user(party: Sender | str) -> str:
    """The ACL principal of a party (or of a user name)."""
    return f"User:{party}"


def members(audience: Iterable[Audience], parties: Iterable[Sender]) -> list[Sender]:
    """The parties an audience names: each one named, and every party of a kind named
    (services are always named one by one)."""
    known = list(parties)
    found: dict[str, Sender] = {}
    for member in audience:
        if isinstance(member, Sender):
            found[member.principal] = member
        elif member is not PartyKind.SERVICE:
            found.update({p.principal: p for p in known if p.kind is member})
    return [found[name] for name in sorted(found)]


def _topic(party: Sender, topic: Topic, operations: tuple[AclOperation, ...]) -> list[Acl]:
    return [
        Acl(user(party), ResourceType.TOPIC, topic.name, ResourcePatternType.LITERAL, operation)
        for operation in operations
    ]


def declared(topics: Iterable[Topic], parties: Iterable[Sender]) -> set[Acl]:
    """Every ACL the declarations make for these topics and parties."""
    known = list(parties)
    topics = list(topics)
    wanted: set[Acl] = set()
    writers: set[Sender] = set()
    readers: set[Sender] = set()
    for topic in topics:
        for party in members(topic.writers, known):
            wanted.update(_topic(party, topic, _WRITE))
            writers.add(party)
        for party in members(topic.readers, known):
            wanted.update(_topic(party, topic, _READ))
            readers.add(party)
    for party in readers:
        wanted.add(
            Acl(
                user(party),
                ResourceType.GROUP,
                f"{party.principal}.",
                ResourcePatternType.PREFIXED,
                AclOperation.READ,
            )
        )
    for party in writers:
        wanted.add(
            Acl(
                user(party),
                ResourceType.BROKER,
                CLUSTER,
                ResourcePatternType.LITERAL,
                AclOperation.IDEMPOTENT_WRITE,
            )
        )
    for observer, watched in OBSERVERS.items():
        if observer not in known:
            continue
        for party in watched:
            wanted.add(
                Acl(
                    user(observer),
                    ResourceType.GROUP,
                    f"{party.principal}.",
                    ResourcePatternType.PREFIXED,
                    AclOperation.DESCRIBE,
                )
            )
        for topic in topics:
            if any(p in watched for p in members(topic.readers, known)):
                wanted.update(_topic(observer, topic, (AclOperation.DESCRIBE,)))
    if CORE in writers:
        wanted.update(
            Acl(
                user(CORE),
                ResourceType.TRANSACTIONAL_ID,
                f"{CORE.principal}.",
                ResourcePatternType.PREFIXED,
                operation,
            )
            for operation in _WRITE
        )
    return wanted


def _is_party(principal: str) -> bool:
    kind, _, name = principal.partition(":")
    if kind != "User":
        return False
    if name == "*":
        return True
    try:
        Sender.of(name)
    except ProcessorError:
        return False
    return True


def concerns_iotrack(acl: Acl) -> bool:
    """Whether an ACL on the broker is iotrack's business (so an undeclared one is drift): it
    names a party's principal or every user, or a resource that may be one of iotrack's topics.
    Other applications' ACLs on a shared cluster are not."""
    if _is_party(acl.principal):
        return True
    if acl.resource is not ResourceType.TOPIC:
        return False
    if acl.pattern is ResourcePatternType.PREFIXED:
        return acl.name.startswith(TOPIC_PREFIX) or TOPIC_PREFIX.startswith(acl.name)
    return acl.name == "*" or acl.name.startswith(TOPIC_PREFIX)
