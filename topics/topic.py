"""What a catalogued topic is: its name, key, schemas, how the broker keeps it, and who writes
and reads it. The declarations themselves are in ``topics.catalog``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from processors.errors import ProcessorError
from processors.parties import PartyKind, Sender
from topics.errors import CatalogError
from topics.parties import Audience

DAY_MS = 24 * 60 * 60 * 1000
FOREVER = -1
KEY_SEPARATOR = ":"


class Cleanup(StrEnum):
    """Kafka's ``cleanup.policy``: events expire (delete); state keeps the newest per key."""

    DELETE = "delete"
    COMPACT = "compact"


@dataclass(frozen=True)
class Topic:
    """One topic: what it carries, how it is keyed, and how the broker keeps it."""

    name: str
    doc: str
    schemas: tuple[str, ...]
    key_fields: tuple[str, ...]
    partitions: int
    cleanup: Cleanup
    retention_ms: int
    replication_factor: int = 3
    min_insync_replicas: int = 2
    extra_config: Mapping[str, str] = field(default_factory=dict)
    first_key_field: bool = False
    """Key by the first key field present (instead of all present ones joined)."""
    key_builder: Callable[[Mapping[str, Any]], str] | None = None
    """Builds the key from a value instead of the key fields (their values still document it)."""
    writers: tuple[Audience, ...] = ()
    """Who produces its records (the ACLs and the AsyncAPI document follow this)."""
    readers: tuple[Audience, ...] = ()
    """Who consumes them."""
    gateways: tuple[Sender, ...] = ()
    """Those of its ``writers`` and ``readers`` who act on the channel's party's behalf
    (``topics.parties.GATEWAYS``): their ACLs are made like the party's, yet a record on the
    topic is still the party's (``catalog.sender_of`` leaves them out)."""
    writer_keys: str | None = None
    """How its one writer keys a private state topic, when the key is not made from the value
    (the core's changelog): described here, made by the writer."""

    @property
    def compacted(self) -> bool:
        """Whether the broker keeps only the newest record per key."""
        return self.cleanup is Cleanup.COMPACT

    def replication(self, brokers: int) -> int:
        """Replication factor for a cluster of ``brokers`` nodes."""
        return max(1, min(self.replication_factor, brokers))

    def configs(self, brokers: int) -> dict[str, str]:
        """The topic-level broker configuration this catalogue entry asks for."""
        configs = {
            "cleanup.policy": str(self.cleanup),
            "retention.ms": str(self.retention_ms),
            # One copy may be down while writes go on; a single node cannot spare one.
            "min.insync.replicas": str(
                min(self.min_insync_replicas, max(1, self.replication(brokers) - 1))
            ),
        }
        if self.compacted:
            # Tombstones (a closed IOT_ID) stay visible for a day so every consumer sees them.
            configs["delete.retention.ms"] = str(DAY_MS)
        configs.update(self.extra_config)
        return configs

    def key_of(self, value: Mapping[str, Any]) -> bytes:
        """The record key for a value: its key fields, joined by ``:`` (absent ones skipped).

        >>> holds = Topic("holds", "", (), ("iot_id", "agency", "hold_id"), 1, Cleanup.COMPACT, -1)
        >>> holds.key_of({"iot_id": "i1", "agency": "CUSTOMS", "hold_id": "H1"})
        b'i1:CUSTOMS:H1'
        """
        if self.writer_keys is not None:
            raise CatalogError(f"{self.name}: keys are made by its writer ({self.writer_keys})")
        if self.key_builder is not None:
            try:
                return self.key_builder(value).encode("utf-8")
            except (KeyError, TypeError, AttributeError) as exc:
                raise CatalogError(
                    f"{self.name}: value has no key ({type(exc).__name__}: {exc})"
                ) from None
        parts = []
        for path in self.key_fields:
            node: Any = value
            for step in path.split("."):
                node = node.get(step) if isinstance(node, Mapping) else None
            if node is not None:
                parts.append(str(node))
                if self.first_key_field:
                    break
        if not parts:
            raise CatalogError(f"{self.name}: value has none of the key fields {self.key_fields}")
        return KEY_SEPARATOR.join(parts).encode("utf-8")


@dataclass(frozen=True)
class TopicFamily:
    """Topics made one per party of a kind (each rail operator's requests, each party's
    replies): the same key, schemas and settings, a name with the party's name in it, written
    or read by that party alone."""

    template: Topic
    """The family's settings; its name holds ``{party}`` where the party's name goes."""
    kinds: tuple[PartyKind, ...]
    """The kinds of party that have one."""
    party_writes: bool
    """Whether the party writes its topic (its requests) or reads it (its replies)."""
    gateways: Mapping[PartyKind, tuple[Sender, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Who writes (or reads) the topic of a party of a kind besides the party, on its behalf
    (``topics.parties.GATEWAYS``)."""

    def for_party(self, party: Sender) -> Topic:
        """The topic of ``party``; CatalogError when its kind has none."""
        if party.kind not in self.kinds:
            raise CatalogError(f"{party} has no topic of {self.template.name}")
        name = self.template.name.format(party=party.principal)
        acting = self.gateways.get(party.kind, ())
        if self.party_writes:
            return replace(self.template, name=name, writers=(party, *acting), gateways=acting)
        return replace(self.template, name=name, readers=(party, *acting), gateways=acting)

    def party_of(self, topic_name: str) -> Sender | None:
        """The party whose topic of this family ``topic_name`` is, or None."""
        head, _, tail = self.template.name.partition("{party}")
        if not (topic_name.startswith(head) and topic_name.endswith(tail)):
            return None
        principal = topic_name[len(head) : len(topic_name) - len(tail)]
        try:
            party = Sender.of(principal)
        except ProcessorError:
            return None
        return party if party.kind in self.kinds else None

    @property
    def pattern(self) -> str:
        """A regular expression (librdkafka's ``^`` form) matching every topic of the family."""
        head, _, tail = self.template.name.partition("{party}")
        return "^" + re.escape(head) + r"[a-z0-9.-]+" + re.escape(tail) + "$"
