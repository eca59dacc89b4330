"""Idempotent topic administration: create what the catalogue lists, report drift, alter nothing.

A topic that exists with a different partition count or configuration is reported as drift and
left alone: changing a live topic's partitioning or retention is an operator's decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from processors.parties import Sender
from topics.catalog import CATALOG, FAMILIES, Topic, deployed
from topics.errors import AdminError
from topics.parties import ADMITTED_KINDS


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


def admin_client(bootstrap: str) -> AdminClient:
    """An admin client for ``bootstrap`` (host:port list)."""
    # librdkafka's own connection logs would repeat what the errors raised here already say.
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, "log_level": 0})


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
    """The parties admitted one by one (rail operators, rail portals) that the cluster has
    topics of, found from their topics' names."""
    try:
        names = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise AdminError(f"cannot read cluster metadata: {exc.args[0]}") from exc
    found = {p for name in names for f in FAMILIES if (p := f.party_of(name)) is not None}
    return sorted((p for p in found if p.kind in ADMITTED_KINDS), key=str)


def deployment(admin: AdminClient, timeout: float = 15.0) -> tuple[Topic, ...]:
    """Every topic of this cluster's deployment: the catalogue's and its admitted parties'."""
    return deployed(admitted(admin, timeout))
