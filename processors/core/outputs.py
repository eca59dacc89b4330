"""What the tracking core publishes: channels, outputs, the emitter of one input's outputs, and
the public IOT state and clearance verdict records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from processors import mission
from processors.core.state import Tracked
from processors.events import Input, Itu, as_record, record_type
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


def refusal(cause_id: str, reason: str, kind: str, to: Sender | None = None) -> list[Output]:
    """The refusal of input ``cause_id``: the shells make it a dead letter of that input, and,
    when its sender is a party outside iotrack other than Customs (which reads every dead
    letter), a reply telling it why."""
    value = {"reason": reason, "error_kind": kind, "caused_by_event_id": cause_id}
    found = [Output(Channel.REFUSALS, cause_id, None, value)]
    if to is not None and to.kind not in (PartyKind.SERVICE, PartyKind.CUSTOMS):
        found.append(Output(Channel.REPLIES, cause_id, None, dict(value), to))
    return found


class Emitter:
    """Collects the outputs of one input, numbering their ids from the input's id; ``at`` is
    the input's time."""

    def __init__(self, cause_id: str, at: int, sender: Sender) -> None:
        self.cause_id = cause_id
        self.at = at
        self.sender = sender
        """The party whose channel the input came from."""
        self.outputs: list[Output] = []
        self._numbered = 0
        """Outputs that number the ids: not the replies (copies) or the inputs accepted (their
        own ids), so that adding either never renumbers the core's records."""

    def _append(self, output: Output) -> None:
        self.outputs.append(output)
        self._numbered += 1

    def _id(self, channel: Channel) -> str:
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
    ) -> None:
        self.emit(
            Channel.DEVIATIONS,
            iot.iot_id if iot else (read_point_id or node_id or "-"),
            "iotrack.Deviation",
            {
                "iot_id": iot.iot_id if iot else None,
                "kind": kind,
                "node_id": node_id,
                "read_point_id": read_point_id,
                "expected": expected,
                "observed": observed,
                "severity": SEVERITY[kind],
                "itu": itu.record() if itu else None,
                "caused_by_event_id": self.cause_id,
                "mission_path_id": iot.position.path.mission_path_id if iot else None,
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
        "open_holds": [
            {
                "agency": h.agency,
                "hold_type": h.hold_type,
                "placed_at": h.placed_at,
                "hold_id": h.hold_id,
            }
            for h in state.open_holds()
        ],
        "reasons": state.reasons(),
        "as_of": as_of,
    }


def publish_state(out: Emitter, iot: Tracked) -> None:
    out.emit(Channel.IOT_STATE, iot.iot_id, "iotrack.IotState", state_value(iot))


def publish_verdicts(out: Emitter, iot: Tracked) -> None:
    out.emit(
        Channel.VERDICT_BY_IOT,
        iot.iot_id,
        "iotrack.ClearanceVerdict",
        _verdict_value(iot, None, out.at),
    )
    for itu in iot.itus:
        out.emit(
            Channel.VERDICT_BY_ITU,
            itu.key,
            "iotrack.ClearanceVerdict",
            _verdict_value(iot, itu, out.at),
        )
