"""Who may send the core what: authority from the channel, never from the payload.

The shells tell the core which party's channel each input came from (a ``Sender``). An input
of a type that party may not send, or one whose claims (the agency of a hold, the operator of
a train, the read point of a consist) differ from the party it came from, is refused and not
remembered, so it can neither change a verdict nor take the id of a real input.

``MAY_SEND`` states the rule; the topic catalogue declares the channels that carry it out (the
broker lets each party write its own topics only), and a test holds the two to each other.

>>> hold = HoldPlaced(event_id="e1", source="phyto", occurred_at=1, iot_id="i1",
...                   hold_id="H1", agency="PHYTOSANITARY", hold_type="INSPECTION",
...                   placed_by="officer")
>>> unauthorised(hold, Sender.agency("phytosanitary")) is None
True
>>> unauthorised(hold, CUSTOMS).reason
'iotrack.HoldPlaced claims agency PHYTOSANITARY but came from the channel of customs'
>>> unauthorised(hold, Sender.rail_operator("tuscan-rail")).kind
'UnauthorisedSender'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from processors.errors import ProcessorError
from processors.events import (
    BindingChanged,
    BindingEnded,
    BindingRequested,
    CoreInput,
    CustomsRelease,
    DeclarationStatus,
    DetectedConsist,
    ExitConfirmed,
    HoldLifted,
    HoldPlaced,
    MissionPathDefined,
    Passage,
    Record,
    TrainLoadingList,
    TrainManifest,
    parse,
    record_type,
)
from processors.parties import CUSTOMS, FUSION, PartyKind, Sender

_CUSTOMS = frozenset({PartyKind.CUSTOMS})
_AGENCIES = frozenset({PartyKind.CUSTOMS, PartyKind.GDF, PartyKind.AGENCY})

MAY_SEND: Mapping[type[CoreInput], frozenset[PartyKind]] = MappingProxyType(
    {
        MissionPathDefined: _CUSTOMS,
        BindingRequested: _CUSTOMS,
        BindingChanged: _CUSTOMS,
        BindingEnded: _CUSTOMS,
        CustomsRelease: _CUSTOMS,
        DeclarationStatus: _CUSTOMS,
        HoldPlaced: _AGENCIES,
        HoldLifted: _AGENCIES,
        ExitConfirmed: frozenset({PartyKind.GDF}),
        Passage: frozenset({PartyKind.SERVICE}),
        TrainLoadingList: frozenset({PartyKind.RAIL_OPERATOR}),
        TrainManifest: frozenset({PartyKind.RAIL_OPERATOR}),
        DetectedConsist: frozenset({PartyKind.RAIL_PORTAL}),
    }
)
"""The kinds of party that may send each input."""


@dataclass(frozen=True)
class Unauthorised:
    """Why an input is refused for the party it came from."""

    reason: str
    kind: str
    """``UnauthorisedSender`` (a type that party may not send) or ``ClaimMismatch``."""


def unauthorised(event: CoreInput, sender: Sender) -> Unauthorised | None:
    """Why ``sender`` may not send ``event``; None when it may."""
    name = record_type(event)
    if sender.kind not in MAY_SEND[type(event)] or (
        isinstance(event, Passage) and sender != FUSION
    ):
        return Unauthorised(f"{sender} may not send {name} records", "UnauthorisedSender")
    claimed: tuple[str, str] | None = None
    match event:
        case HoldPlaced() | HoldLifted() if event.agency != sender.agency_name:
            claimed = ("agency", event.agency)
        case TrainLoadingList() | TrainManifest() if event.operator != sender.name:
            claimed = ("operator", event.operator)
        case DetectedConsist() if event.read_point_id.lower() != sender.name:
            # A portal is admitted as its read point (``rail-portal.rail-gate-1-ocr``): it
            # reports what it read there, never another portal's consist.
            claimed = ("read point", event.read_point_id)
        case _:
            pass
    if claimed is None:
        return None
    what, value = claimed
    return Unauthorised(
        f"{name} claims {what} {value} but came from the channel of {sender}", "ClaimMismatch"
    )


def default_sender(event: CoreInput) -> Sender:
    """The party whose channel an input of this kind belongs on, read from its own claims: how
    ``iotrack publish`` routes a file's events, and whom ``iotrack replay`` takes a line without
    ``"from"`` to come from (a file is trusted as its own channel)."""
    match event:
        case HoldPlaced() | HoldLifted():
            return Sender.agency(event.agency)
        case TrainLoadingList() | TrainManifest():
            return Sender.rail_operator(event.operator)
        case DetectedConsist():
            return Sender(PartyKind.RAIL_PORTAL, event.read_point_id.lower())
        case ExitConfirmed():
            return Sender.agency("GDF")
        case Passage():
            return FUSION
        case _:
            return Sender(PartyKind.CUSTOMS, "customs")


def claimed_sender(record_type: str, record: Record) -> Sender:
    """``default_sender`` of a decoded record (Customs for one the core would refuse anyway):
    whom an offline run takes a record to come from when nothing says otherwise."""
    try:
        event = parse(record_type, record)
    except ProcessorError:
        return CUSTOMS
    return default_sender(event) if isinstance(event, CoreInput) else CUSTOMS
