"""What the tracking core publishes: channels, outputs, the emitter of one input's outputs, and
the public IOT state and clearance verdict records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from processors import clearance as clearing
from processors import mission
from processors.core.state import CoreState, Tracked
from processors.events import Input, Itu, as_record, record_type
from processors.identifiers.itu import is_carrier
from processors.ids import deterministic_uuid7
from processors.parties import PartyKind, Sender

SOURCE = "iotrack-core"
SEVERITY = {
    "EXIT_WHILE_HELD": "CRITICAL",
    "EXIT_WITHOUT_RELEASE": "CRITICAL",
    "UNKNOWN_UNIT": "WARNING",
    "UNEXPECTED_NODE": "WARNING",
    "SKIPPED_NODE": "WARNING",
    "OVERDUE": "WARNING",
    "BINDING_CONFLICT": "WARNING",
    "READ_AFTER_DEFINITIVE": "INFO",
    "DUPLICATE_EXIT": "INFO",
    "CONSIST_MISMATCH": "CRITICAL",
    "UNREADABLE_IDENTIFIER": "WARNING",
    "DECLARATION_ANNULLED": "WARNING",
}
_STATUS = {mission.Phase.AT_EXIT: "AT_NODE"}


class Channel(StrEnum):
    """Where an output goes; the shells map each channel to its catalogued topic."""

    BINDINGS = "bindings"
    IOT_STATE = "iot_state"
    VERDICT_BY_IOT = "verdict_by_iot"
    VERDICT_BY_ITU = "verdict_by_itu"
    DEVIATIONS = "deviations"
    REFUSALS = "refusals"
    LOADING_LISTS = "loading_lists"
    MANIFESTS = "manifests"
    PERMISSIONS = "permissions"
    CONSISTS = "consists"
    TRAINS = "trains"
    HOLDS = "holds"
    """Holds placed and lifted as the core accepted them (reason codes: Customs only)."""
    RELEASES = "releases"
    """Customs releases (and annulments) as the core accepted them."""
    EXITS = "exits"
    """Exit confirmations as the core accepted them."""
    DECLARATIONS = "declarations"
    """Declaration states as the core accepted them (controls: Customs only)."""
    REPLIES = "replies"
    """What one party is told about its own inputs (``Output.to``): its refusals, and for a
    rail operator its trains' answers, for a rail portal its consist checks."""


@dataclass(frozen=True)
class Output:
    """One record to publish: a record type and value, or a tombstone (both None)."""

    channel: Channel
    key: str
    schema: str | None
    value: dict[str, Any] | None
    to: Sender | None = None
    """The party a ``REPLIES`` output is for."""


REPLIED = frozenset(
    {PartyKind.GDF, PartyKind.AGENCY, PartyKind.RAIL_OPERATOR, PartyKind.RAIL_PORTAL}
)
"""The parties told why their input was refused, on their replies topic: those outside iotrack
that send the core inputs, but Customs, which reads every dead letter. (A terminal or a reader
sends the core nothing: what comes on no channel of theirs is only a dead letter.)"""


def refusal(cause_id: str, reason: str, kind: str, to: Sender | None = None) -> list[Output]:
    """The refusal of input ``cause_id``: the shells make it a dead letter of that input, and,
    when its sender is one of the ``REPLIED`` parties, a reply telling it why."""
    value = {"reason": reason, "error_kind": kind, "caused_by_event_id": cause_id}
    found = [Output(Channel.REFUSALS, cause_id, None, value)]
    if to is not None and to.kind in REPLIED:
        found.append(Output(Channel.REPLIES, cause_id, None, dict(value), to))
    return found


class Emitter:
    """Collects the outputs of one input, numbering their ids from the input's id; ``at`` is
    the input's time."""

    def __init__(self, cause_id: str, at: int, sender: Sender, *, salt: str = "") -> None:
        self.cause_id = cause_id
        self.salt = salt
        """Mixed into the output ids when one input's outputs come in more than one go."""
        self.at = at
        self.sender = sender
        """The party whose channel the input came from."""
        self.parked = False
        """Set when the input was kept to wait for what it refers to (not applied yet)."""
        self.refused = False
        """Set when the input was refused (not applied)."""
        self.outputs: list[Output] = []
        self._numbered = 0
        """Outputs that number the ids: not the replies (copies) or the inputs accepted (their
        own ids), so that adding either never renumbers the core's records."""

    def _append(self, output: Output) -> None:
        self.outputs.append(output)
        self._numbered += 1

    def _id(self, channel: Channel) -> str:
        if self.salt:
            return deterministic_uuid7(
                self.at, channel, self.cause_id, self.salt, str(self._numbered)
            )
        return deterministic_uuid7(self.at, channel, self.cause_id, str(self._numbered))

    def emit(
        self,
        channel: Channel,
        key: str,
        schema: str,
        body: dict[str, Any],
        at: int | None = None,
        *,
        reply_to: Sequence[Sender] = (),
    ) -> None:
        """Publish a record of the core's own on ``channel``; the same record also goes to each
        party in ``reply_to``."""
        when = self.at if at is None else at
        value = {"event_id": self._id(channel), "source": SOURCE, "occurred_at": when, **body}
        self._append(Output(channel, key, schema, value))
        for party in dict.fromkeys(reply_to):
            self.outputs.append(Output(Channel.REPLIES, key, schema, value, party))

    def accept(self, channel: Channel, key: str, event: Input) -> None:
        """Publish an input as the core accepted it, unchanged (its own id, source and time)."""
        self.outputs.append(Output(channel, key, record_type(event), as_record(event)))

    def tombstone(self, channel: Channel, key: str) -> None:
        self._append(Output(channel, key, None, None))

    def refuse(self, reason: str, kind: str) -> None:
        self.refused = True
        refused, *replies = refusal(self.cause_id, reason, kind, self.sender)
        self._append(refused)
        self.outputs.extend(replies)

    def deviation(
        self,
        kind: str,
        *,
        iot: Tracked | None,
        expected: str,
        observed: str,
        node_id: str | None = None,
        read_point_id: str | None = None,
        itu: Itu | None = None,
        at: int | None = None,
        severity: str | None = None,
        caused_by: str | bool | None = True,
        iot_id: str | None = None,
        mission_path_id: str | None = None,
    ) -> None:
        """A deviation for Customs; ``caused_by`` False when no input caused it (a deadline
        passed), else the input's id. ``iot_id`` and ``mission_path_id`` name an IOT_ID that is
        no longer tracked (retired), when ``iot`` is None. It is keyed by its IOT_ID, else its
        read point, else its node: one with none of them is a fault of the caller."""
        named = iot.iot_id if iot else iot_id
        key = named or read_point_id or node_id
        if key is None:
            raise ValueError(f"a {kind} deviation names no IOT_ID, read point or node")
        cause = self.cause_id if caused_by is True else (None if caused_by is False else caused_by)
        self.emit(
            Channel.DEVIATIONS,
            key,
            "iotrack.Deviation",
            {
                "iot_id": named,
                "kind": kind,
                "node_id": node_id,
                "read_point_id": read_point_id,
                "expected": expected,
                "observed": observed,
                "severity": severity or SEVERITY[kind],
                "itu": itu.record() if itu else None,
                "caused_by_event_id": cause,
                "mission_path_id": iot.position.path.mission_path_id if iot else mission_path_id,
            },
            at,
        )


def state_value(iot: Tracked) -> dict[str, Any]:
    """The public IOT state record (``iotrack.IotState``) of an IOT_ID."""
    position = iot.position
    return {
        "iot_id": iot.iot_id,
        "status": _STATUS.get(position.phase, str(position.phase)),
        "mission_path_id": position.path.mission_path_id,
        "current_node_id": position.node_id,
        "last_seen_at": position.last_seen_at,
        "next_expected_node_ids": position.expected_next(),
        "deadline": position.deadline,
        "definitive_at": position.definitive_at,
        "version": position.version,
    }


def _verdict_value(iot: Tracked, itu: Itu | None, as_of: int) -> dict[str, Any]:
    state = iot.clearance
    return {
        "iot_id": iot.iot_id,
        "itu": itu.record() if itu else None,
        "verdict": str(state.verdict),
        "may_leave": state.may_leave,
        "mrns_pending": state.pending_mrns(),
        "open_holds": _open_holds(iot),
        "reasons": state.reasons(),
        "as_of": as_of,
        "carried": [],
    }


def _open_holds(iot: Tracked) -> list[dict[str, Any]]:
    return [
        {
            "agency": h.agency,
            "hold_type": h.hold_type,
            "placed_at": h.placed_at,
            "hold_id": h.hold_id,
        }
        for h in iot.clearance.open_holds()
    ]


def speaks_for(state: CoreState, iot: Tracked, key: str) -> bool:
    """Whether ``iot``'s verdict is the one to publish under unit ``key``: the unit's latest
    binding is this IOT_ID's (no other has bound it since), and its binding has not been ended
    (closed). An exited IOT_ID's EXITED stands under its unit until another binds it; a closed
    one's unit has no verdict of its, whatever later inputs say of it."""
    if iot.position.phase is mission.Phase.CLOSED:
        return False
    intervals = state.ledger.intervals.get(key, ())
    return not intervals or intervals[-1].iot_id == iot.iot_id


def publish_state(out: Emitter, iot: Tracked) -> None:
    out.emit(Channel.IOT_STATE, iot.iot_id, "iotrack.IotState", state_value(iot))


def publish_verdicts(
    out: Emitter, iot: Tracked, state: CoreState, *, carriers: bool = True
) -> None:
    """An IOT_ID's verdict, on the per-IOT_ID topic and under each of its units it speaks for
    (``speaks_for``: not a unit another IOT_ID has bound since, nor any of a closed one); with
    ``carriers``, the verdict of each carrier it is on too (theirs combined)."""
    out.emit(
        Channel.VERDICT_BY_IOT,
        iot.iot_id,
        "iotrack.ClearanceVerdict",
        _verdict_value(iot, None, out.at),
    )
    for itu in iot.itus:
        if not is_carrier(itu.key) and speaks_for(state, iot, itu.key):
            out.emit(
                Channel.VERDICT_BY_ITU,
                itu.key,
                "iotrack.ClearanceVerdict",
                _verdict_value(iot, itu, out.at),
            )
    if carriers:
        publish_carriers(out, state, iot.itus)


def publish_carriers(out: Emitter, state: CoreState, itus: Iterable[Itu]) -> None:
    """The verdict of each carrier among ``itus`` (a plate, a wagon): everything it carries now,
    combined; a tombstone for one that carries nothing any more."""
    found = {i.key: i for i in itus if is_carrier(i.key)}
    for key in sorted(found):
        value = _carrier_value(state, found[key], out.at)
        if value is None:
            out.tombstone(Channel.VERDICT_BY_ITU, key)
        else:
            out.emit(Channel.VERDICT_BY_ITU, key, "iotrack.ClearanceVerdict", value)


def _carrier_value(state: CoreState, carrier: Itu, as_of: int) -> dict[str, Any] | None:
    carried = [state.iots[i] for i in state.ledger.carried(carrier.key) if i in state.iots]
    if not carried:
        return None
    verdicts = [c.clearance.verdict for c in carried]
    if clearing.Verdict.HELD in verdicts:
        combined = clearing.Verdict.HELD
    elif clearing.Verdict.NOT_RELEASED in verdicts:
        combined = clearing.Verdict.NOT_RELEASED
    elif all(v is clearing.Verdict.EXITED for v in verdicts):
        combined = clearing.Verdict.EXITED
    else:
        combined = clearing.Verdict.CLEARED
    entries = []
    reasons = []
    for iot in carried:
        unit = next((i for i in iot.itus if not is_carrier(i.key)), None)
        label = unit.key if unit else iot.iot_id
        reasons += [f"{label}: {reason}" for reason in iot.clearance.reasons()]
        entries.append(
            {
                "iot_id": iot.iot_id,
                "unit": unit.record() if unit else None,
                "verdict": str(iot.clearance.verdict),
                "may_leave": iot.clearance.may_leave,
                "reasons": iot.clearance.reasons(),
            }
        )
    return {
        "iot_id": None,
        "itu": carrier.record(),
        "verdict": str(combined),
        "may_leave": all(c.clearance.may_leave for c in carried),
        "mrns_pending": list(dict.fromkeys(m for c in carried for m in c.clearance.pending_mrns())),
        "open_holds": [h for c in carried for h in _open_holds(c)],
        "reasons": reasons,
        "as_of": as_of,
        "carried": entries,
    }


def annulled_deviation(out: Emitter, iot: Tracked, mrn: str, what: str) -> None:
    """An MRN of this IOT_ID is annulled: Customs must see every unit it covered (critical when
    the goods have left already)."""
    gone = iot.clearance.exited_at is not None
    out.deviation(
        "DECLARATION_ANNULLED",
        iot=iot,
        expected=f"declaration {mrn} in force",
        observed=f"declaration {mrn} {what}" + ("; the goods have left" if gone else ""),
        severity="CRITICAL" if gone else None,
    )
