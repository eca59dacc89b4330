"""The topic catalogue: the one place where a topic's name, key, schemas and settings are written,
with who writes and who reads it.

Every other module refers to a topic through the constants below (``catalog.PASSAGES``), never
by spelling its name. Names carry a ``.v1``-style version: an incompatible change of key or
partitioning is a new topic, not an edit of an old one.

**Authority comes from the channel.** Each party that gives the core an instruction writes it on
a topic of its own, which the broker lets that party alone write: Customs its binding requests,
releases, declarations and mission paths; each agency (Customs and the GdF included) its holds;
the GdF its exit confirmations; each rail operator its trains' requests; the rail portals the
consists they read. A rail operator's requests topic has one more writer, declared as a gateway
(``topics.parties.GATEWAYS``): the query API, whose web console sends for the operator signed
in to it, never for another; a record there is the operator's all the same (``sender_of``).
The public state (bindings, holds, releases and exits as the core accepted them, IOT states,
verdicts, deviations, trains) is written by the tracking core alone.

**Need-to-know.** Hold reason codes and texts, risk details and control outcomes are on the
holds topic and in dead letters only, which Customs and iotrack's services read; what
terminals, the GdF and rail operators read carries none of them. A rail operator reads its own
replies topic (its trains' answers, its refusals), never another operator's trains; the query
API reads it too, to show the operator signed in to its console the answer to what it sent.

Replication is declared for a production cluster (3 copies, 2 in sync); ``replication`` and
``configs`` clamp both to the number of brokers actually present, so the same catalogue serves
the one-node local broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from processors.identifiers import itu
from processors.parties import CUSTOMS, FUSION, GDF, PartyKind, Sender
from topics.errors import CatalogError
from topics.parties import (
    API,
    CORE,
    GATEWAYS,
    HOLDING_AGENCIES,
    PROJECTION,
    SUBSCRIPTIONS,
    Audience,
)
from topics.topic import DAY_MS, FOREVER, KEY_SEPARATOR, Cleanup, Topic, TopicFamily

__all__ = ["DAY_MS", "FOREVER", "KEY_SEPARATOR", "Cleanup", "Topic", "TopicFamily"]


def _events(
    name: str,
    doc: str,
    schemas: tuple[str, ...],
    key: tuple[str, ...],
    *,
    partitions: int = 6,
    retention_days: int | None = 30,
    writers: tuple[Audience, ...] = (),
    readers: tuple[Audience, ...] = (),
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
    writers: tuple[Audience, ...] = (),
    readers: tuple[Audience, ...] = (),
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


OFFICERS: tuple[Audience, ...] = (CUSTOMS, GDF)
"""Who follows what happens to every unit: Customs and the Guardia di Finanza."""
PUBLIC: tuple[Audience, ...] = (CUSTOMS, GDF, PartyKind.TERMINAL, PROJECTION, SUBSCRIPTIONS)
"""Who may read the public answer to "may this unit leave?" (no hold reasons in it)."""

# -- the edge ---------------------------------------------------------------------------------

RAW_READS = _events(
    "iotrack.reads.raw.v1",
    "Every sensor read from the gate readers, keyed by read point.",
    ("iotrack.RawRead",),
    ("read_point_id",),
    retention_days=7,
    writers=(PartyKind.READER,),
    readers=(FUSION,),
)
PASSAGES = _events(
    "iotrack.passages.v1",
    "One event per physical passage, sensors fused, keyed by read point.",
    ("iotrack.Passage",),
    ("read_point_id",),
    retention_days=90,
    writers=(FUSION,),
    readers=(CORE, PROJECTION, *OFFICERS),
)

# -- what the parties instruct, each on its own topic -----------------------------------------

BINDING_REQUESTS = replace(
    _events(
        "iotrack.customs.binding-requests.v1",
        "Customs binds MRNs to ITUs on a mission path, changes a binding or ends it.",
        ("iotrack.BindingRequested", "iotrack.BindingChanged", "iotrack.BindingEnded"),
        ("request_id", "iot_id"),
        partitions=3,
        retention_days=None,
        writers=(CUSTOMS,),
        readers=(CORE,),
    ),
    first_key_field=True,
)
CUSTOMS_RELEASES = _events(
    "iotrack.customs.releases.v1",
    "Customs releases an MRN on an IOT_ID, or annuls its release.",
    ("iotrack.CustomsRelease",),
    ("iot_id", "mrn"),
    partitions=3,
    retention_days=None,
    writers=(CUSTOMS,),
    readers=(CORE,),
)
DECLARATIONS = _state(
    "iotrack.customs.declarations.v1",
    "Latest status of each customs declaration, keyed by MRN.",
    ("iotrack.DeclarationStatus",),
    ("mrn",),
    partitions=3,
    writers=(CUSTOMS,),
    readers=(CORE,),
)
MISSION_PATHS = _state(
    "iotrack.mission-paths.v1",
    "Mission path definitions by Customs, latest version per path id.",
    ("iotrack.MissionPathDefined",),
    ("mission_path_id",),
    partitions=1,
    writers=(CUSTOMS,),
    readers=(CORE, PROJECTION, GDF),
)
HOLD_REQUESTS = TopicFamily(
    _events(
        "iotrack.holds.{party}.v1",
        "One agency's holds placed and lifted (reason codes included: Customs-only facts).",
        ("iotrack.HoldPlaced", "iotrack.HoldLifted"),
        ("iot_id", "agency", "hold_id"),
        partitions=3,
        retention_days=None,
        readers=(CORE,),
    ),
    kinds=(PartyKind.CUSTOMS, PartyKind.GDF, PartyKind.AGENCY),
    party_writes=True,
)
HOLDS_BY_AGENCY: Mapping[str, Topic] = {
    str(agency.agency_name): HOLD_REQUESTS.for_party(agency) for agency in HOLDING_AGENCIES
}
"""Each agency's own holds topic, by its ``iotrack.Agency`` symbol."""
GDF_EXITS = _events(
    "iotrack.gdf.exits.v1",
    "The Guardia di Finanza confirms that an IOT_ID's goods left the port.",
    ("iotrack.ExitConfirmed",),
    ("iot_id",),
    partitions=3,
    retention_days=None,
    writers=(GDF,),
    readers=(CORE,),
)
RAIL_REQUESTS = TopicFamily(
    _events(
        "iotrack.rail.requests.{party}.v1",
        "One train operator's loading lists and manifest versions, keyed by train.",
        ("iotrack.TrainLoadingList", "iotrack.TrainManifest"),
        ("train_id",),
        partitions=3,
        retention_days=None,
        readers=(CORE,),
    ),
    kinds=(PartyKind.RAIL_OPERATOR,),
    party_writes=True,
    gateways=GATEWAYS,
)
CONSIST_READS = TopicFamily(
    replace(
        _events(
            "iotrack.rail.consist-reads.{party}.v1",
            "The consists one rail exit portal read: wagons and units in order.",
            ("iotrack.DetectedConsist",),
            ("train_id", "read_point_id"),
            partitions=1,
            retention_days=None,
            readers=(CORE,),
        ),
        first_key_field=True,
    ),
    kinds=(PartyKind.RAIL_PORTAL,),
    party_writes=True,
)

# -- the public state, written by the tracking core alone -------------------------------------

BINDINGS = _events(
    "iotrack.bindings.v1",
    "The binding ledger: IOT_IDs bound, changed and ended, kept forever.",
    ("iotrack.IotBound", "iotrack.BindingChanged", "iotrack.BindingEnded"),
    ("iot_id",),
    retention_days=None,
    writers=(CORE,),
    readers=(PROJECTION, *OFFICERS),
)
HOLDS = _state(
    "iotrack.clearance.holds.v1",
    "Each hold's latest event as the core accepted it, keyed by IOT_ID, agency and hold id; "
    "Customs-only (reason codes, control outcomes).",
    ("iotrack.HoldPlaced", "iotrack.HoldLifted"),
    ("iot_id", "agency", "hold_id"),
    writers=(CORE,),
    readers=(CUSTOMS, PROJECTION),
)
RELEASES = _state(
    "iotrack.clearance.releases.v1",
    "Customs release (or its annulment) per IOT_ID and MRN, as the core accepted it.",
    ("iotrack.CustomsRelease",),
    ("iot_id", "mrn"),
    writers=(CORE,),
    readers=(PROJECTION, *OFFICERS),
)
EXITS = _state(
    "iotrack.clearance.exits.v1",
    "GdF exit confirmation per IOT_ID, as the core accepted it.",
    ("iotrack.ExitConfirmed",),
    ("iot_id",),
    writers=(CORE,),
    readers=PUBLIC,
)
DECLARATION_STATES = _state(
    "iotrack.clearance.declarations.v1",
    "Each declaration's latest state as the core took it, keyed by MRN; Customs-only (a control "
    "and its note).",
    ("iotrack.DeclarationStatus",),
    ("mrn",),
    partitions=3,
    writers=(CORE,),
    readers=(CUSTOMS, PROJECTION),
)
IOT_STATE = _state(
    "iotrack.iot-state.v1",
    "Where each IOT_ID is on its mission path; tombstone when retired.",
    ("iotrack.IotState",),
    ("iot_id",),
    writers=(CORE,),
    readers=PUBLIC,
)
CLEARANCE_BY_IOT = _state(
    "iotrack.clearance.verdicts.by-iot.v1",
    "May this IOT_ID leave? Latest verdict per IOT_ID.",
    ("iotrack.ClearanceVerdict",),
    ("iot_id",),
    writers=(CORE,),
    readers=PUBLIC,
)


def _unit_key(value: Mapping[str, Any]) -> str:
    return itu.key_of_record(value["itu"])


CLEARANCE_BY_ITU = replace(
    _state(
        "iotrack.clearance.verdicts.by-itu.v1",
        "The same verdict keyed by ITU identifier (KIND:value, KIND:country:value for plates).",
        ("iotrack.ClearanceVerdict",),
        ("itu.kind", "itu.country", "itu.value"),
        writers=(CORE,),
        readers=(*PUBLIC, API),
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
        writers=(CORE,),
        readers=(PROJECTION, SUBSCRIPTIONS, *OFFICERS),
    ),
    first_key_field=True,
)
_RAIL_STATE_READERS: tuple[Audience, ...] = (PROJECTION, SUBSCRIPTIONS, *OFFICERS)
LOADING_LISTS = _state(
    "iotrack.rail.loading-lists.v1",
    "The Customs-ready answer to each train's latest loading list, per unit, kept current as "
    "statuses change.",
    ("iotrack.TrainLoadingList",),
    ("train_id",),
    partitions=3,
    writers=(CORE,),
    readers=_RAIL_STATE_READERS,
)
MANIFESTS = _state(
    "iotrack.rail.manifests.v1",
    "Every manifest version of every train, keyed train:version, so amendments keep history.",
    ("iotrack.TrainManifest",),
    ("train_id", "version"),
    partitions=3,
    writers=(CORE,),
    readers=_RAIL_STATE_READERS,
)
PERMISSIONS = _state(
    "iotrack.rail.permissions.v1",
    "Permission to leave per train, for its latest manifest, re-decided as statuses change.",
    ("iotrack.PermissionToLeave",),
    ("train_id",),
    partitions=3,
    writers=(CORE,),
    readers=_RAIL_STATE_READERS,
)
CONSISTS = _state(
    "iotrack.rail.consists.v1",
    "The consist detected at an exit gate reconciled with the manifest, per train and portal.",
    ("iotrack.ConsistCheck",),
    ("train_id", "read_point_id"),
    partitions=3,
    writers=(CORE,),
    readers=_RAIL_STATE_READERS,
)
TRAINS = _state(
    "iotrack.rail.trains.v1",
    "Where each train stands, from loading list to departure, keyed by train.",
    ("iotrack.TrainStatus",),
    ("train_id",),
    partitions=3,
    writers=(CORE,),
    readers=_RAIL_STATE_READERS,
)
REPLIES = TopicFamily(
    replace(
        _events(
            "iotrack.replies.{party}.v1",
            "What the core tells one party about its own inputs: its refusals (as dead letters of "
            "its own records), and for a rail operator its trains' answers, for a rail portal the "
            "checks of the consists it read.",
            (
                "iotrack.DeadLetter",
                "iotrack.TrainLoadingList",
                "iotrack.PermissionToLeave",
                "iotrack.TrainStatus",
                "iotrack.ConsistCheck",
            ),
            ("train_id", "caused_by_event_id", "event_id"),
            partitions=1,
            retention_days=30,
            writers=(CORE,),
        ),
        first_key_field=True,
    ),
    kinds=(
        PartyKind.CUSTOMS,
        PartyKind.GDF,
        PartyKind.AGENCY,
        PartyKind.RAIL_OPERATOR,
        PartyKind.RAIL_PORTAL,
    ),
    party_writes=False,
    gateways=GATEWAYS,
)
DEAD_LETTERS = replace(
    _events(
        "iotrack.dead-letters.v1",
        "Input that could not be decoded or validated, with the reason and its bytes; keyed by "
        "the topic (or the reader) it came from. Customs-only: a refused hold keeps its reason "
        "(the query API reads them for its console's day page, which only Customs may open).",
        ("iotrack.DeadLetter",),
        ("source_topic", "reader_id", "source"),
        partitions=3,
        writers=(CORE, FUSION, PROJECTION, SUBSCRIPTIONS, PartyKind.READER),
        readers=(CUSTOMS, API),
    ),
    first_key_field=True,
)
CORE_CHANGELOG = Topic(
    "iotrack.core.changelog.v1",
    "Private: the tracking core's state, one record per entry (a tracked IOT_ID, a unit's "
    "bindings, a binding request, a mission path, an input id remembered, a train, a "
    "declaration's state, the inputs waiting for an IOT_ID or path, a unit's passages kept for "
    "a late binding) and its meta record, written in the same transaction as its outputs and "
    "read back by the core alone when it starts (processors.core.snapshot).",
    (
        "iotrack.state.TrackedIot",
        "iotrack.state.UnitBindings",
        "iotrack.state.BindingRequest",
        "iotrack.state.MissionPath",
        "iotrack.state.InputSeen",
        "iotrack.state.Train",
        "iotrack.state.Declaration",
        "iotrack.state.ParkedInputs",
        "iotrack.state.UnresolvedReads",
        "iotrack.state.Meta",
    ),
    ("kind", "id"),
    1,
    Cleanup.COMPACT,
    FOREVER,
    writers=(CORE,),
    readers=(CORE,),
    writer_keys=(
        "the entry's kind and id, joined by ':' (iot:<IOT_ID>, itu:<ITU key>, req:<request_id>, "
        "path:<mission_path_id>, seen:<event_id>, train:<train_id>, decl:<MRN>, "
        "park:iot:<IOT_ID> or park:path:<mission_path_id>, unres:<ITU key>), or meta"
    ),
)

CATALOG: tuple[Topic, ...] = (
    RAW_READS,
    PASSAGES,
    BINDING_REQUESTS,
    CUSTOMS_RELEASES,
    DECLARATIONS,
    MISSION_PATHS,
    *HOLDS_BY_AGENCY.values(),
    GDF_EXITS,
    BINDINGS,
    HOLDS,
    RELEASES,
    EXITS,
    DECLARATION_STATES,
    IOT_STATE,
    CLEARANCE_BY_IOT,
    CLEARANCE_BY_ITU,
    DEVIATIONS,
    LOADING_LISTS,
    MANIFESTS,
    PERMISSIONS,
    CONSISTS,
    TRAINS,
    *(REPLIES.for_party(agency) for agency in HOLDING_AGENCIES),
    DEAD_LETTERS,
    CORE_CHANGELOG,
)
"""Every topic every deployment has (the rail operators' and portals' own come with them)."""
FAMILIES: tuple[TopicFamily, ...] = (HOLD_REQUESTS, RAIL_REQUESTS, CONSIST_READS, REPLIES)
ADMITTED_INPUTS: tuple[TopicFamily, ...] = (RAIL_REQUESTS, CONSIST_READS)
"""The core's inputs that come one topic per party admitted (subscribed to by pattern)."""
CORE_INPUTS: tuple[Topic, ...] = (
    MISSION_PATHS,
    BINDING_REQUESTS,
    CUSTOMS_RELEASES,
    DECLARATIONS,
    PASSAGES,
    *HOLDS_BY_AGENCY.values(),
    GDF_EXITS,
)
"""What the tracking core consumes, besides the topics of the parties admitted one by one
(``ADMITTED_INPUTS``, subscribed to by pattern as parties are admitted)."""
_BY_NAME = {topic.name: topic for topic in CATALOG}


def topics_of(party: Sender) -> tuple[Topic, ...]:
    """The topics a party admitted one by one has of its own (none for the standing ones,
    whose topics are in ``CATALOG``)."""
    if party.kind is PartyKind.RAIL_OPERATOR:
        return (RAIL_REQUESTS.for_party(party), REPLIES.for_party(party))
    if party.kind is PartyKind.RAIL_PORTAL:
        return (CONSIST_READS.for_party(party), REPLIES.for_party(party))
    return ()


def deployed(parties: Iterable[Sender]) -> tuple[Topic, ...]:
    """Every topic of a deployment with these parties admitted: the catalogue and theirs."""
    own = {t.name: t for p in sorted(set(parties), key=str) for t in topics_of(p)}
    return (*CATALOG, *own.values())


def topic_named(name: str) -> Topic:
    """The catalogue entry of a topic name (a party's own too); CatalogError when there is
    none."""
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    for family in FAMILIES:
        party = family.party_of(name)
        if party is not None:
            return family.for_party(party)
    raise CatalogError(f"{name!r} is not in the topic catalogue")


def sender_of(topic: Topic) -> Sender:
    """The one party whose channel ``topic`` is: a record read from it came from that party
    (written by the party, or by a gateway acting for it, ``topics.parties.GATEWAYS``).
    CatalogError for a topic several parties write (raw reads, dead letters)."""
    writers = [w for w in topic.writers if isinstance(w, Sender) and w not in topic.gateways]
    kinds = [w for w in topic.writers if isinstance(w, PartyKind)]
    if len(writers) == 1 and not kinds:
        return writers[0]
    raise CatalogError(f"{topic.name} has no single writer: {', '.join(map(str, topic.writers))}")


def input_topic(record_type: str, sender: Sender) -> Topic:
    """The topic on which ``sender`` sends records of ``record_type``; CatalogError when it
    has none (it may not send them)."""
    for topic in (*CATALOG, *topics_of(sender)):
        if record_type in topic.schemas and any(
            w == sender or w is sender.kind for w in topic.writers
        ):
            return topic
    raise CatalogError(f"{sender} has no topic for {record_type} records")


def topic_for_schema(schema: str, topics: Iterable[Topic] = CATALOG) -> Topic:
    """The first of ``topics`` (the catalogue's) that carries records of ``schema``."""
    for topic in topics:
        if schema in topic.schemas:
            return topic
    raise CatalogError(f"no catalogued topic carries {schema}")
