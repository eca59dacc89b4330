"""Idempotent administration: create the topics the catalogue lists and the ACLs its writers
and readers make (``topics.acls``), report drift, alter nothing; the parties' SCRAM credentials.

A topic that exists with a different partition count or configuration is reported as drift and
left alone: changing a live topic's partitioning or retention is an operator's decision. So is
an ACL the declarations do not make: it is reported, never deleted.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from processors.errors import ProcessorError
from processors.parties import Sender
from topics import acls
from topics.acls import Acl
from topics.catalog import CATALOG, FAMILIES, Topic, deployed
from topics.clients import KafkaConnection
from topics.clients import admin_client as _admin_client
from topics.errors import AdminError
from topics.parties import ADMITTED_KINDS, STANDING
from topics.secret import Secret

SCRAM_ITERATIONS = 8192


class Outcome(StrEnum):
    """What ``apply`` did, or would do, for one topic."""

    CREATED = "created"
    UNCHANGED = "ok"
    DRIFT = "drift"


@dataclass(frozen=True)
class TopicReport:
    """The outcome for one catalogued topic and, on drift, each difference found."""

    topic: Topic
    outcome: Outcome
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class TopicDescription:
    """What the broker says about a catalogued topic (None/empty when it does not exist)."""

    topic: Topic
    exists: bool
    partitions: int | None = None
    replication: int | None = None
    configs: dict[str, str] = field(default_factory=dict)


def admin_client(connection: KafkaConnection) -> AdminClient:
    """An admin client signed in as ``connection``'s principal (the administrator's)."""
    return _admin_client(connection)


def broker_count(admin: AdminClient, timeout: float = 10.0) -> int:
    """Number of brokers in the cluster."""
    try:
        return len(admin.list_topics(timeout=timeout).brokers)
    except KafkaException as exc:
        raise AdminError(f"cannot read cluster metadata: {exc.args[0]}") from exc


def describe(
    admin: AdminClient, topics: Iterable[Topic] = CATALOG, timeout: float = 15.0
) -> list[TopicDescription]:
    """Partitions, replication and the catalogued configs of each topic, as the broker has them."""
    topics = list(topics)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise AdminError(f"cannot read cluster metadata: {exc.args[0]}") from exc
    present = [t for t in topics if t.name in metadata.topics]
    configs: dict[str, dict[str, str]] = {}
    if present:
        resources = [ConfigResource(ResourceType.TOPIC, t.name) for t in present]
        for resource, future in admin.describe_configs(resources).items():
            try:
                entries = future.result(timeout=timeout)
            except KafkaException as exc:
                raise AdminError(f"cannot describe {resource.name}: {exc.args[0]}") from exc
            configs[resource.name] = {k: str(v.value) for k, v in entries.items()}
    descriptions = []
    for topic in topics:
        meta = metadata.topics.get(topic.name)
        if meta is None:
            descriptions.append(TopicDescription(topic, exists=False))
            continue
        replicas = {len(p.replicas) for p in meta.partitions.values()}
        descriptions.append(
            TopicDescription(
                topic,
                True,
                len(meta.partitions),
                min(replicas) if replicas else 0,
                configs.get(topic.name, {}),
            )
        )
    return descriptions


def _differences(description: TopicDescription, brokers: int) -> tuple[str, ...]:
    topic = description.topic
    found = []
    if description.partitions != topic.partitions:
        found.append(f"partitions: catalogue {topic.partitions}, broker {description.partitions}")
    for key, wanted in topic.configs(brokers).items():
        actual = description.configs.get(key)
        if actual != wanted:
            found.append(f"{key}: catalogue {wanted}, broker {actual}")
    return tuple(found)


def apply(
    admin: AdminClient, topics: Iterable[Topic] = CATALOG, timeout: float = 30.0
) -> list[TopicReport]:
    """Create missing topics; report drift on existing ones without changing them."""
    topics = list(topics)
    brokers = broker_count(admin, timeout)
    descriptions = {d.topic.name: d for d in describe(admin, topics, timeout)}
    missing = [t for t in topics if not descriptions[t.name].exists]
    created: set[str] = set()
    if missing:
        requests = [
            NewTopic(t.name, t.partitions, t.replication(brokers), config=t.configs(brokers))
            for t in missing
        ]
        for name, future in admin.create_topics(requests, operation_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
                created.add(name)
            except KafkaException as exc:
                error = exc.args[0]
                if (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    continue  # created meanwhile by another apply: compared below
                raise AdminError(f"cannot create {name}: {error}") from exc
    reports = []
    recheck = [t for t in missing if t.name not in created]
    if recheck:
        descriptions.update({d.topic.name: d for d in describe(admin, recheck, timeout)})
    for topic in topics:
        if topic.name in created:
            reports.append(TopicReport(topic, Outcome.CREATED))
            continue
        differences = _differences(descriptions[topic.name], brokers)
        outcome = Outcome.DRIFT if differences else Outcome.UNCHANGED
        reports.append(TopicReport(topic, outcome, differences))
    return reports


def admitted(admin: AdminClient, timeout: float = 15.0) -> list[Sender]:
    """The parties admitted one by one: the rail operators and rail portals that the cluster
    has topics of (found from their topics' names), and every terminal, reader, operator or
    portal that has a SCRAM credential."""
    try:
        names = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise AdminError(f"cannot read cluster metadata: {exc.args[0]}") from exc
    found = {p for name in names for f in FAMILIES if (p := f.party_of(name)) is not None}
    for user in scram_users(admin, timeout):
        try:
            found.add(Sender.of(user))
        except ProcessorError:
            continue  # the broker's, the administrator's, or not one of ours
    return sorted((p for p in found if p.kind in ADMITTED_KINDS), key=str)


def parties(admin: AdminClient, timeout: float = 15.0) -> list[Sender]:
    """Every party of this deployment: the standing ones and those admitted."""
    return [*STANDING, *admitted(admin, timeout)]


def deployment(admin: AdminClient, timeout: float = 15.0) -> tuple[Topic, ...]:
    """Every topic of this cluster's deployment: the catalogue's and its admitted parties'."""
    return deployed(admitted(admin, timeout))


# -- SCRAM credentials ------------------------------------------------------------------------


def scram_users(admin: AdminClient, timeout: float = 15.0) -> set[str]:
    """The users with a SCRAM credential; empty when the cluster keeps none (another
    mechanism) or does not let this principal see them."""
    try:
        described: Any = admin.describe_user_scram_credentials(request_timeout=timeout)
        return set(described.result(timeout=timeout))
    except KafkaException:
        return set()


def set_passwords(
    admin: AdminClient, passwords: Mapping[str, Secret], timeout: float = 30.0
) -> None:
    """Give each user its SCRAM-SHA-512 credential (made or replaced) from its password."""
    if not passwords:
        return
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    changes: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            user, info, password.reveal().encode(), secrets.token_bytes(32)
        )
        for user, password in sorted(passwords.items())
    ]
    for user, future in admin.alter_user_scram_credentials(
        changes, request_timeout=timeout
    ).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            raise AdminError(f"cannot set the credential of {user}: {exc.args[0]}") from exc


# -- ACLs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AclReport:
    """What ``apply_acls`` did: the declared ACLs created now, the ones already there, and the
    ACLs on the broker that concern iotrack and that no declaration makes (left alone)."""

    created: tuple[Acl, ...]
    present: tuple[Acl, ...]
    extra: tuple[Acl, ...]

    @property
    def drift(self) -> bool:
        return bool(self.extra)


def broker_acls(admin: AdminClient, timeout: float = 15.0) -> set[Acl]:
    """Every ACL the broker has."""
    anything: Any = None  # a filter's None matches every name, principal and host
    everything = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        bindings = admin.describe_acls(everything, request_timeout=timeout).result(timeout=timeout)
    except KafkaException as exc:
        raise AdminError(f"cannot read the ACLs: {exc.args[0]}") from exc
    return {Acl.of(binding) for binding in bindings}


def compare_acls(
    admin: AdminClient, topics: Iterable[Topic], members: Iterable[Sender], timeout: float = 15.0
) -> AclReport:
    """The declared ACLs missing from the broker (as ``created``, not made), those present, and
    the extra ones; changes nothing."""
    wanted = acls.declared(topics, members)
    found = broker_acls(admin, timeout)
    extra = sorted((a for a in found - wanted if acls.concerns_iotrack(a)), key=Acl.sort_key)
    return AclReport(
        tuple(sorted(wanted - found, key=Acl.sort_key)),
        tuple(sorted(wanted & found, key=Acl.sort_key)),
        tuple(extra),
    )


def apply_acls(
    admin: AdminClient, topics: Iterable[Topic], members: Iterable[Sender], timeout: float = 30.0
) -> AclReport:
    """Create the declared ACLs the broker lacks, and wait until the broker enforces them;
    report the extra ones without deleting them."""
    topics, members = list(topics), list(members)
    report = compare_acls(admin, topics, members, timeout)
    if report.created:
        futures = admin.create_acls([a.binding() for a in report.created], request_timeout=timeout)
        for binding, future in futures.items():
            try:
                future.result(timeout=timeout)
            except KafkaException as exc:
                raise AdminError(f"cannot create the ACL {Acl.of(binding)}: {exc.args[0]}") from exc
        # The controller has them now; a broker's authorizer takes them from the metadata log
        # a moment later (about a second here), and a client refused meanwhile may fail for
        # good (an idempotent producer's first request is fatal when refused).
        deadline = time.monotonic() + timeout
        while set(report.created) - broker_acls(admin, timeout):
            if time.monotonic() > deadline:
                raise AdminError(f"the ACLs created were not in force within {timeout:.0f} s")
            time.sleep(0.1)
    return report
