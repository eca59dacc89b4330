"""The topic catalogue: the one place where a topic's name, key, schemas and settings are written.

Every other module refers to a topic through the constants below (``catalog.PASSAGES``), never
by spelling its name. Names carry a ``.v1``-style version: an incompatible change of key or
partitioning is a new topic, not an edit of an old one.

Replication is declared for a production cluster (3 copies, 2 in sync); ``replication`` and
``configs`` clamp both to the number of brokers actually present, so the same catalogue serves
the one-node local broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from processors.identifiers import itu
from topics.errors import CatalogError
from topics.parties import Party

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
    writers: tuple[Party, ...] = ()
    """Who produces its records (the ACLs and the AsyncAPI document follow this)."""
    readers: tuple[Party, ...] = ()
    """Who consumes them."""

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

        >>> CLEARANCE_BY_ITU.key_of({"itu": {"kind": "CONTAINER", "country": None,
        ...                                  "value": "CSQU3054383"}})
        b'CONTAINER:CSQU3054383'
        """
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


def _events(
    name: str,
    doc: str,
    schemas: tuple[str, ...],
    key: tuple[str, ...],
    *,
    partitions: int = 6,
    retention_days: int | None = 30,
    writers: tuple[Party, ...] = (),
    readers: tuple[Party, ...] = (),
) -> Topic:
    retention = FOREVER if retention_days is None else retention_days * DAY_MS
    return Topic(
        name,
        doc,
        schemas,
        key,
        partitions,
        Cleanup.DELETE,
        retention,
        writers=writers,
        readers=readers,
    )


def _state(
    name: str,
    doc: str,
    schemas: tuple[str, ...],
    key: tuple[str, ...],
    *,
    partitions: int = 6,
    writers: tuple[Party, ...] = (),
    readers: tuple[Party, ...] = (),
) -> Topic:
    return Topic(
        name,
        doc,
        schemas,
        key,
        partitions,
        Cleanup.COMPACT,
        FOREVER,
        writers=writers,
        readers=readers,
    )


RAW_READS = _events(
    "iotrack.reads.raw.v1",
    "Every sensor read from the gate readers, keyed by read point.",
    ("iotrack.RawRead",),
    ("read_point_id",),
    retention_days=7,
    writers=(Party.READER,),
    readers=(Party.FUSION,),
)
PASSAGES = _events(
    "iotrack.passages.v1",
    "One event per physical passage, sensors fused, keyed by read point.",
    ("iotrack.Passage",),
    ("read_point_id",),
    retention_days=90,
    writers=(Party.FUSION,),
    readers=(Party.CORE, Party.PROJECTION),
)
BINDING_REQUESTS = _events(
    "iotrack.customs.binding-requests.v1",
    "Customs asks to bind MRNs to ITUs on a mission path.",
    ("iotrack.BindingRequested",),
    ("request_id",),
    partitions=3,
    retention_days=None,
    writers=(Party.CUSTOMS,),
    readers=(Party.CORE,),
)
BINDINGS = _events(
    "iotrack.bindings.v1",
    "The binding ledger: IOT_IDs bound, changed and ended, kept forever.",
    ("iotrack.IotBound", "iotrack.BindingChanged", "iotrack.BindingEnded"),
    ("iot_id",),
    retention_days=None,
    writers=(Party.CORE, Party.CUSTOMS),
    readers=(Party.CORE, Party.PROJECTION),
)
DECLARATIONS = _state(
    "iotrack.customs.declarations.v1",
    "Latest status of each customs declaration, keyed by MRN.",
    ("iotrack.DeclarationStatus",),
    ("mrn",),
    partitions=3,
    writers=(Party.CUSTOMS,),
    readers=(),  # no iotrack service consumes declarations yet
)
MISSION_PATHS = _state(
    "iotrack.mission-paths.v1",
    "Mission path definitions, latest version per path id.",
    ("iotrack.MissionPathDefined",),
    ("mission_path_id",),
    partitions=1,
    writers=(Party.CUSTOMS,),
    readers=(Party.CORE, Party.PROJECTION),
)
HOLDS = _state(
    "iotrack.clearance.holds.v1",
    "Each hold's latest event, keyed by IOT_ID, agency and hold id.",
    ("iotrack.HoldPlaced", "iotrack.HoldLifted"),
    ("iot_id", "agency", "hold_id"),
    writers=(Party.CUSTOMS, Party.GDF, Party.AGENCY),
    readers=(Party.CORE, Party.PROJECTION),
)
RELEASES = _state(
    "iotrack.clearance.releases.v1",
    "Customs release (or its annulment) per IOT_ID and MRN.",
    ("iotrack.CustomsRelease",),
    ("iot_id", "mrn"),
    writers=(Party.CUSTOMS,),
    readers=(Party.CORE, Party.PROJECTION),
)
EXITS = _state(
    "iotrack.clearance.exits.v1",
    "GdF exit confirmation per IOT_ID.",
    ("iotrack.ExitConfirmed",),
    ("iot_id",),
    writers=(Party.GDF,),
    readers=(Party.CORE, Party.PROJECTION),
)
IOT_STATE = _state(
    "iotrack.iot-state.v1",
    "Where each IOT_ID is on its mission path; tombstone when retired.",
    ("iotrack.IotState",),
    ("iot_id",),
    writers=(Party.CORE,),
    readers=(Party.PROJECTION,),
)
CLEARANCE_BY_IOT = _state(
    "iotrack.clearance.verdicts.by-iot.v1",
    "May this IOT_ID leave? Latest verdict per IOT_ID.",
    ("iotrack.ClearanceVerdict",),
    ("iot_id",),
    writers=(Party.CORE,),
    readers=(Party.PROJECTION,),
)


def _unit_key(value: Mapping[str, Any]) -> str:
    unit = value["itu"]
    return itu.key(str(unit["kind"]), str(unit["value"]), unit.get("country"))


CLEARANCE_BY_ITU = replace(
    _state(
        "iotrack.clearance.verdicts.by-itu.v1",
        "The same verdict keyed by ITU identifier (KIND:value, KIND:country:value for plates).",
        ("iotrack.ClearanceVerdict",),
        ("itu.kind", "itu.country", "itu.value"),
        writers=(Party.CORE,),
        readers=(Party.PROJECTION, Party.API),
    ),
    key_builder=_unit_key,
)
DEVIATIONS = replace(
    _events(
        "iotrack.deviations.v1",
        "Deviations from mission paths and clearance rules, for Customs; keyed by IOT_ID (by "
        "read point for an unknown unit).",
        ("iotrack.Deviation",),
        ("iot_id", "read_point_id", "node_id"),
        retention_days=400,
    ),
    first_key_field=True,
    writers=(Party.CORE,),
    readers=(Party.PROJECTION, Party.CUSTOMS),
)
RAIL_REQUESTS = _events(
    "iotrack.rail.requests.v1",
    "What train operators and the rail exit portal send: loading lists, manifest versions "
    "and detected consists, keyed by train.",
    ("iotrack.TrainLoadingList", "iotrack.TrainManifest", "iotrack.DetectedConsist"),
    ("train_id", "read_point_id"),
    partitions=3,
    retention_days=None,
    writers=(Party.RAIL_OPERATOR, Party.RAIL_PORTAL),
    readers=(Party.CORE,),
)
LOADING_LISTS = _state(
    "iotrack.rail.loading-lists.v1",
    "The Customs-ready answer to each train's latest loading list, per unit, kept current as "
    "statuses change.",
    ("iotrack.TrainLoadingList",),
    ("train_id",),
    partitions=3,
    writers=(Party.CORE,),
    readers=(Party.PROJECTION, Party.RAIL_OPERATOR),
)
MANIFESTS = _state(
    "iotrack.rail.manifests.v1",
    "Every manifest version of every train, keyed train:version, so amendments keep history.",
    ("iotrack.TrainManifest",),
    ("train_id", "version"),
    partitions=3,
    writers=(Party.CORE,),
    readers=(Party.PROJECTION,),
)
PERMISSIONS = _state(
    "iotrack.rail.permissions.v1",
    "Permission to leave per train, for its latest manifest, re-decided as statuses change.",
    ("iotrack.PermissionToLeave",),
    ("train_id",),
    partitions=3,
    writers=(Party.CORE,),
    readers=(Party.PROJECTION, Party.RAIL_OPERATOR),
)
CONSISTS = _state(
    "iotrack.rail.consists.v1",
    "The consist detected at an exit gate reconciled with the manifest, per train and portal.",
    ("iotrack.ConsistCheck",),
    ("train_id", "read_point_id"),
    partitions=3,
    writers=(Party.CORE,),
    readers=(Party.RAIL_PORTAL,),
)
TRAINS = _state(
    "iotrack.rail.trains.v1",
    "Where each train stands, from loading list to departure, keyed by train.",
    ("iotrack.TrainStatus",),
    ("train_id",),
    partitions=3,
    writers=(Party.CORE,),
    readers=(Party.PROJECTION, Party.RAIL_OPERATOR, Party.GDF),
)
DEAD_LETTERS = replace(
    _events(
        "iotrack.dead-letters.v1",
        "Input that could not be decoded or validated, with the reason; keyed by the topic (or "
        "the reader) it came from.",
        ("iotrack.DeadLetter",),
        ("source_topic", "reader_id", "source"),
        partitions=3,
    ),
    first_key_field=True,
    writers=(Party.READER, Party.FUSION, Party.CORE, Party.PROJECTION),
    readers=(Party.RAIL_OPERATOR, Party.RAIL_PORTAL),
)
CORE_CHANGELOG = Topic(
    "iotrack.core.changelog.v1",
    "Private: the tracking core's state, written in the same transaction as its outputs; not a "
    "contract (pickled Python objects, read only by the core worker).",
    (),
    ("key",),
    1,
    Cleanup.COMPACT,
    FOREVER,
    writers=(Party.CORE,),
    readers=(Party.CORE,),
)

CATALOG: tuple[Topic, ...] = (
    RAW_READS,
    PASSAGES,
    BINDING_REQUESTS,
    BINDINGS,
    DECLARATIONS,
    MISSION_PATHS,
    HOLDS,
    RELEASES,
    EXITS,
    IOT_STATE,
    CLEARANCE_BY_IOT,
    CLEARANCE_BY_ITU,
    DEVIATIONS,
    RAIL_REQUESTS,
    LOADING_LISTS,
    MANIFESTS,
    PERMISSIONS,
    CONSISTS,
    TRAINS,
    DEAD_LETTERS,
    CORE_CHANGELOG,
)
CORE_INPUTS: tuple[Topic, ...] = (
    MISSION_PATHS,
    BINDING_REQUESTS,
    BINDINGS,
    PASSAGES,
    HOLDS,
    RELEASES,
    EXITS,
    RAIL_REQUESTS,
)
"""What the tracking core consumes (it skips its own ``IotBound`` on the bindings topic)."""
_BY_NAME = {topic.name: topic for topic in CATALOG}


def topic_named(name: str) -> Topic:
    """The catalogue entry of a topic name; CatalogError when there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise CatalogError(f"{name!r} is not in the topic catalogue") from None


def topic_for_schema(schema: str) -> Topic:
    """The first catalogued topic that carries records of ``schema``."""
    for topic in CATALOG:
        if schema in topic.schemas:
            return topic
    raise CatalogError(f"no catalogued topic carries {schema}")
