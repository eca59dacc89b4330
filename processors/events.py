"""The processors' inputs as typed values, built at one edge from decoded Avro records.

Every record type a processor takes (``avro/iotrack.*.avsc``) is a small frozen class here, with
nested values where they help: an ``Itu`` identifier with its ``key``, a manifest's
``WagonEntry``, a loading list's ``LoadingListItem``. ``parse(record_type, value)`` builds one
from the decoded record, a plain mapping (Unix milliseconds as ints, UUIDs as text, fields named
as in the schema; a field with a default may be left out). A value without the shape raises
``MalformedRecord`` naming the field; a type no processor takes, ``UnexpectedRecordType``.

The classes are the shape: ``parse`` reads each field as its annotation says
(``processors._shape``), and a field with a default is the schema's field with a default
(``tests/processors/test_events.py`` holds each class to its schema).

>>> event = parse("iotrack.HoldLifted", {
...     "event_id": "01a2121a-8e60-7de2-862e-86fce5ec2590", "source": "customs",
...     "occurred_at": 1_795_600_000_000, "iot_id": "01a2121a-8e60-768b-8a86-0d95e63c54d4",
...     "hold_id": "H1", "agency": "CUSTOMS", "hold_type": "DOC", "lifted_by": "officer"})
>>> event.hold_id, event.outcome
('H1', None)
>>> parse("iotrack.HoldLifted", {"event_id": "e1"})
Traceback (most recent call last):
    ...
processors.errors.MalformedRecord: iotrack.HoldLifted: source is missing
>>> parse("iotrack.Passage", {"event_id": 7})
Traceback (most recent call last):
    ...
processors.errors.MalformedRecord: iotrack.Passage: event_id is not text (int 7)
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processors._shape import Misfit, build, plain
from processors.errors import MalformedRecord, UnexpectedRecordType
from processors.identifiers import itu as itu_keys

Record = Mapping[str, Any]
"""A decoded Avro record, or an output value to encode: field name -> plain value."""


# -- nested values -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Itu:
    """An ITU identifier (``iotrack.ItuIdentifier``): a container, ILU, plate, swap body, seal,
    manifest goods id or wagon."""

    kind: str
    value: str
    country: str | None = None
    """Registration country of a plate."""
    seal_class: str | None = None
    issuer: str | None = None

    def __post_init__(self) -> None:
        # One unit, one key: whoever wrote it (a reader, an officer, a file), the value is kept
        # in its kind's compact form and a plate's country in upper case, so that "tstu 000001 4"
        # and "TSTU0000014" are the same container and "AB 123 CD" the same truck.
        object.__setattr__(self, "value", itu_keys.compact(self.kind, self.value))
        object.__setattr__(self, "country", itu_keys.compact_country(self.country))

    @property
    def key(self) -> str:
        """The binding ledger's (and the verdict-by-ITU topic's) key: ``KIND:value``, and
        ``KIND:country:value`` for a plate with its country.

        >>> Itu("CONTAINER", "CSQU3054383").key
        'CONTAINER:CSQU3054383'
        >>> Itu("PLATE", "AB123CD", "IT").key
        'PLATE:IT:AB123CD'
        >>> Itu("CONTAINER", "csqu 305438-3").key, Itu("PLATE", "ab 123 cd", "it").key
        ('CONTAINER:CSQU3054383', 'PLATE:IT:AB123CD')
        """
        return itu_keys.key(self.kind, self.value, self.country)

    def record(self) -> dict[str, Any]:
        """The ``iotrack.ItuIdentifier`` value, for an output."""
        return {
            "kind": self.kind,
            "value": self.value,
            "country": self.country,
            "seal_class": self.seal_class,
            "issuer": self.issuer,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionNode:
    """A node of a mission path (``iotrack.MissionNode``)."""

    node_id: str
    kind: str
    role: str
    customs_relevant: bool = True
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionLeg:
    """The time budget between two consecutive nodes (``iotrack.MissionLeg``)."""

    from_node: str
    to_node: str
    time_budget_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorEvidence:
    """What one sensor read in a passage (``iotrack.SensorEvidence``)."""

    sensor: str
    reader_id: str
    raw_value: str
    value: str | None = None
    confidence: float | None = None
    read_count: int
    first_read_at: int
    last_read_at: int
    itu_kind: str | None = None
    repair: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadingListItem:
    """One unit of a loading list (``iotrack.LoadingListItem``); the answer fields are the
    core's, an operator leaves them out."""

    itu: Itu
    mrn: str | None = None
    ready: bool | None = None
    reasons: tuple[str, ...] = ()
    iot_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WagonEntry:
    """One wagon of a manifest and the units on it (``iotrack.WagonEntry``)."""

    position: int
    wagon_number: str
    itus: tuple[Itu, ...]
    mrns: tuple[str, ...] = ()
    """The wagon's MRNs, covering its units that have none of their own."""
    transport_document: str | None = None
    mrns_by_itu: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """A unit's own MRNs, by its identifier's value."""

    def record(self) -> dict[str, Any]:
        """The ``iotrack.WagonEntry`` value, for an output."""
        return {
            "position": self.position,
            "wagon_number": self.wagon_number,
            "itus": [i.record() for i in self.itus],
            "mrns": list(self.mrns),
            "mrns_by_itu": {k: list(v) for k, v in self.mrns_by_itu.items()},
            "transport_document": self.transport_document,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectedWagon:
    """A wagon as the exit portal read it (``iotrack.DetectedWagon``)."""

    position: int
    wagon_number_read: str
    itus_read: tuple[str, ...]
    confidence: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One of an OCR engine's alternative readings (``iotrack.Candidate``)."""

    value: str
    confidence: float


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every input event carries: its id (UUIDv7 text), who sent it, and when it happened
    (Unix milliseconds)."""

    event_id: str
    source: str
    occurred_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionPathDefined(Event):
    """Customs defines (a version of) a mission path."""

    mission_path_id: str
    version: int
    nodes: tuple[MissionNode, ...]
    legs: tuple[MissionLeg, ...]
    defined_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingRequested(Event):
    """Customs asks for an IOT_ID binding MRNs to ITUs on a mission path."""

    request_id: str
    mrns: tuple[str, ...]
    itus: tuple[Itu, ...]
    mission_path_id: str
    requested_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingChanged(Event):
    """MRNs or ITUs added to or removed from an IOT_ID."""

    iot_id: str
    mrns_added: tuple[str, ...] = ()
    mrns_removed: tuple[str, ...] = ()
    itus_added: tuple[Itu, ...] = ()
    itus_removed: tuple[Itu, ...] = ()
    changed_by: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingEnded(Event):
    """An IOT_ID's binding ends (transloaded, declaration annulled, exited, corrected)."""

    iot_id: str
    reason: str
    ended_by: str
    valid_to: int
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Passage(Event):
    """One physical crossing of a read point, fused from its sensor reads."""

    read_point_id: str
    node_id: str
    lane: str | None = None
    direction: str
    started_at: int
    ended_at: int
    identifiers: tuple[Itu, ...]
    iot_ids: tuple[str, ...] = ()
    evidence: tuple[SensorEvidence, ...]
    sensors_agree: bool
    iso_size_type: str | None = None
    mrns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldPlaced(Event):
    """An agency places a hold on an IOT_ID."""

    iot_id: str
    hold_id: str
    agency: str
    hold_type: str
    reason_code: str | None = None
    reason: str | None = None
    placed_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldLifted(Event):
    """An agency lifts its hold."""

    iot_id: str
    hold_id: str
    agency: str
    hold_type: str
    lifted_by: str
    outcome: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomsRelease(Event):
    """Customs releases one MRN of an IOT_ID, or annuls that release."""

    iot_id: str
    mrn: str
    released_by: str
    annulled: bool = False
    annuls_event_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclarationStatus(Event):
    """The declaration system says where a customs declaration (an MRN) stands."""

    mrn: str
    state: str
    """LODGED, ACCEPTED, UNDER_CONTROL, RELEASED or ANNULLED (``iotrack.DeclarationState``)."""
    procedure: str | None = None
    declarant: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitConfirmed(Event):
    """The GdF confirms that an IOT_ID's goods left the port."""

    iot_id: str
    mode: str
    gate_node_id: str
    confirmed_by: str
    train_id: str | None = None
    plate: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainLoadingList(Event):
    """A train operator's candidate units for a train (rail phase 1)."""

    train_id: str
    operator: str
    planned_departure: int | None = None
    items: tuple[LoadingListItem, ...]
    answered: bool = False
    caused_by_event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainManifest(Event):
    """A version of a train's manifest: its wagons in order with their units (rail phase 2)."""

    train_id: str
    version: int
    operator: str
    wagons: tuple[WagonEntry, ...]
    supersedes_version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectedConsist(Event):
    """The wagons and units the exit portal read on a train (rail phase 3)."""

    train_id: str | None = None
    gate_node_id: str
    read_point_id: str
    wagons: tuple[DetectedWagon, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RawRead(Event):
    """One sensor read at a read point: the passage fusion's input."""

    reader_id: str
    read_point_id: str
    node_id: str
    sensor: str
    lane: str | None = None
    raw_value: str
    candidates: tuple[Candidate, ...] = ()
    direction: str
    image_ref: str | None = None
    payload_ref: str | None = None
    itu_kind: str | None = None
    antenna: int | None = None
    rssi: float | None = None
    country: str | None = None


CoreInput = (
    MissionPathDefined
    | BindingRequested
    | BindingChanged
    | BindingEnded
    | Passage
    | HoldPlaced
    | HoldLifted
    | CustomsRelease
    | DeclarationStatus
    | ExitConfirmed
    | TrainLoadingList
    | TrainManifest
    | DetectedConsist
)
"""What the tracking core takes (``processors.core.apply_event``)."""

Input = CoreInput | RawRead
"""Every input a processor takes."""

RECORD_TYPES: Mapping[str, type[Input]] = types.MappingProxyType(
    {f"iotrack.{cls.__name__}": cls for cls in typing.get_args(Input)}
)
"""The class of each record type, by its Avro full name."""
_TYPE_NAMES: Mapping[type, str] = {cls: name for name, cls in RECORD_TYPES.items()}


def parse(record_type: str, value: Record) -> Input:
    """The typed event of a decoded record of ``record_type``.

    UnexpectedRecordType when no processor takes that type; MalformedRecord when the value does
    not have its shape (the message names the field).
    """
    cls = RECORD_TYPES.get(record_type)
    if cls is None:
        raise UnexpectedRecordType(record_type)
    try:
        return build(cls, value)
    except Misfit as misfit:
        raise MalformedRecord(record_type, misfit.where, misfit.problem) from None


def as_record(event: Input) -> dict[str, Any]:
    """The record of a typed event, as its Avro schema has it (``parse`` read back).

    >>> hold = parse("iotrack.HoldLifted", {
    ...     "event_id": "e1", "source": "customs", "occurred_at": 1, "iot_id": "i1",
    ...     "hold_id": "H1", "agency": "CUSTOMS", "hold_type": "DOC", "lifted_by": "officer"})
    >>> as_record(hold)["outcome"], parse("iotrack.HoldLifted", as_record(hold)) == hold
    (None, True)
    """
    record: dict[str, Any] = plain(event)
    return record


def record_type(event: Input) -> str:
    """The Avro full name of a typed event's record type."""
    return _TYPE_NAMES[type(event)]
