"""The tracking core: binding requests, mission paths, passages and clearance in; state out.

``apply(state, type, event)`` takes one input event (an Avro record's plain value: Unix
milliseconds, UUID text) and returns the state and the outputs it caused, in a deterministic
order: IOT_IDs bound, IOT state changes, clearance verdicts (per IOT_ID and per ITU identifier),
deviations for Customs, refusals (for the dead-letter topic) and tombstones. It never reads a
clock: time is the events' time, and a watermark (the newest event time seen) drives deadlines
and retirement, so ``iotrack replay`` of the same input gives the same output, byte for byte.

A redelivered input (same ``event_id``) is recognised and applied once. Output ids are derived
from the input's id, so a replay re-emits the same ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from processors import clearance as clearing
from processors import mission, rail
from processors.binding import Ledger, check_itu, itu_key
from processors.identifiers import mrn as mrn_module
from processors.ids import deterministic_uuid7

Record = Mapping[str, Any]
SOURCE = "iotrack-core"
DAY_MS = 24 * 60 * 60 * 1000

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
_UNIT_KINDS = ("CONTAINER", "ILU", "SWAP_BODY")
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


@dataclass(frozen=True)
class Output:
    """One record to publish: a record type and value, or a tombstone (both None)."""

    channel: Channel
    key: str
    schema: str | None
    value: dict[str, Any] | None


@dataclass(frozen=True)
class CoreConfig:
    """Tunable rules of the core."""

    retire_after_ms: int = 7 * DAY_MS
    """How long a definitive or closed IOT_ID stays on the state topics before its tombstone."""
    dedupe_horizon_ms: int = 7 * DAY_MS
    """How long input event ids are remembered to recognise redeliveries."""
    rail_mission_path_id: str = "RAIL-EXPORT"
    """The mission path of the IOT_IDs Customs binds to a manifest's units that have none."""


@dataclass(frozen=True)
class Tracked:
    """One IOT_ID: what it binds, where it is, and its clearance."""

    iot_id: str
    request_id: str
    mrns: tuple[str, ...]
    itus: tuple[dict[str, Any], ...]
    position: mission.Position
    clearance: clearing.Clearance
    retire_at: int | None = None

    @property
    def itu_keys(self) -> list[str]:
        return [itu_key(i) for i in self.itus]


@dataclass(frozen=True)
class Train:
    """One train: its loading list, manifest versions, permission and exit."""

    train_id: str
    operator: str
    phase: rail.TrainPhase
    items: tuple[dict[str, Any], ...] = ()
    """The latest loading list's items as submitted (``itu``, ``mrn``)."""
    answer: tuple[dict[str, Any], ...] = ()
    """The last answer published for them."""
    manifests: tuple[dict[str, Any], ...] = ()
    """Every manifest version, oldest first."""
    permission: tuple[bool, tuple[str, ...]] | None = None
    """The last permission decision published: granted, reasons."""
    iot_ids: tuple[str, ...] = ()
    exited: frozenset[str] = frozenset()
    consist_keys: frozenset[str] = frozenset()
    """Keys of its consist checks on the consists topic (train:read point)."""
    retire_at: int | None = None
    """When a departed train's records get their tombstones."""
    listed_at: int = 0
    """When its first loading list came (its claim on units before a manifest)."""
    unit_keys: frozenset[str] = frozenset()
    """The train's units: the latest manifest's, or the loading list's before one (kept, not
    worked out: every hold or release anywhere asks it)."""

    @property
    def manifest(self) -> dict[str, Any] | None:
        return self.manifests[-1] if self.manifests else None


@dataclass
class Changes:
    """Keys of the state that changed: IOT_IDs (stored or removed), ITU keys, binding requests,
    mission paths, and input event ids remembered or forgotten."""

    iots: set[str] = field(default_factory=set)
    itus: set[str] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    applied: set[str] = field(default_factory=set)
    trains: set[str] = field(default_factory=set)


@dataclass
class CoreState:
    """Everything the core remembers. Owned by one caller; ``apply`` updates it in place."""

    paths: dict[str, mission.MissionPath] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger.empty)
    iots: dict[str, Tracked] = field(default_factory=dict)
    trains: dict[str, Train] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    watermark: int = 0
    config: CoreConfig = field(default_factory=CoreConfig)
    next_due: int | None = None
    """The earliest deadline or retirement of any IOT_ID: no scan is needed before it."""
    applied_oldest: int | None = None
    """The time of the oldest remembered input id: no pruning is needed before the horizon
    passes it."""
    changes: Changes = field(default_factory=Changes)
    """What changed since the last ``take_changes``: what a worker must persist."""

    def take_changes(self) -> Changes:
        """Hand over the changes collected so far and start a new collection."""
        taken, self.changes = self.changes, Changes()
        taken.itus |= self.ledger.take_dirty()
        return taken

    def store(self, iot: Tracked) -> None:
        """Keep an IOT_ID's new state and note when it next needs the watermark's attention."""
        self.iots[iot.iot_id] = iot
        self.changes.iots.add(iot.iot_id)
        position = iot.position
        pending = position.deadline if position.overdue_raised_for != position.index else None
        for due in (pending, iot.retire_at):
            if due is not None and (self.next_due is None or due < self.next_due):
                self.next_due = due

    def customs_relevant(self, node_id: str) -> bool:
        """Whether any known path names this node as customs relevant."""
        return any(
            n.node_id == node_id and n.customs_relevant
            for p in self.paths.values()
            for n in p.nodes
        )


class _Emitter:
    """Collects the outputs of one input, numbering their ids from the input's id."""

    def __init__(self, cause: Record) -> None:
        self.cause_id = str(cause["event_id"])
        self.at = int(cause["occurred_at"])
        self.outputs: list[Output] = []

    def _id(self, channel: Channel) -> str:
        return deterministic_uuid7(self.at, channel, self.cause_id, str(len(self.outputs)))

    def emit(
        self, channel: Channel, key: str, schema: str, body: dict[str, Any], at: int | None = None
    ) -> None:
        when = self.at if at is None else at
        value = {"event_id": self._id(channel), "source": SOURCE, "occurred_at": when, **body}
        self.outputs.append(Output(channel, key, schema, value))

    def tombstone(self, channel: Channel, key: str) -> None:
        self.outputs.append(Output(channel, key, None, None))

    def refuse(self, reason: str, kind: str) -> None:
        self.outputs.append(
            Output(
                Channel.REFUSALS,
                self.cause_id,
                None,
                {"reason": reason, "error_kind": kind, "caused_by_event_id": self.cause_id},
            )
        )

    def deviation(
        self,
        kind: str,
        *,
        iot: Tracked | None,
        expected: str,
        observed: str,
        node_id: str | None = None,
        read_point_id: str | None = None,
        itu: Record | None = None,
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
                "itu": dict(itu) if itu else None,
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


def _verdict_value(iot: Tracked, itu: Record | None, as_of: int) -> dict[str, Any]:
    state = iot.clearance
    return {
        "iot_id": iot.iot_id,
        "itu": dict(itu) if itu else None,
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


def _publish_state(out: _Emitter, iot: Tracked) -> None:
    out.emit(Channel.IOT_STATE, iot.iot_id, "iotrack.IotState", state_value(iot))


def _publish_verdicts(out: _Emitter, iot: Tracked) -> None:
    out.emit(
        Channel.VERDICT_BY_IOT,
        iot.iot_id,
        "iotrack.ClearanceVerdict",
        _verdict_value(iot, None, out.at),
    )
    for itu in iot.itus:
        out.emit(
            Channel.VERDICT_BY_ITU,
            itu_key(itu),
            "iotrack.ClearanceVerdict",
            _verdict_value(iot, itu, out.at),
        )


# -- handlers ---------------------------------------------------------------------------------


def _path_defined(state: CoreState, event: Record, out: _Emitter) -> None:
    try:
        path = mission.MissionPath.from_event(event)
    except (mission.PathError, KeyError, TypeError, ValueError) as exc:
        out.refuse(str(exc), "PathError")
        return
    known = state.paths.get(path.mission_path_id)
    if known is not None and known.version >= path.version:
        if known.version > path.version:
            out.refuse(
                f"mission path {path.mission_path_id} v{path.version} is older than the "
                f"known v{known.version}",
                "StalePathError",
            )
        return
    state.paths[path.mission_path_id] = path
    state.changes.paths.add(path.mission_path_id)


def _binding_requested(state: CoreState, event: Record, out: _Emitter) -> None:
    request_id = str(event["request_id"])
    if request_id in state.ledger.requests:
        return  # the same request again: the same IOT_ID exists already
    path = state.paths.get(str(event["mission_path_id"]))
    problems = [] if path else [f"unknown mission path {event['mission_path_id']!r}"]
    mrns = [str(m) for m in event["mrns"]]
    problems += [f"MRN {m}: not valid" for m in mrns if not mrn_module.is_valid(m)]
    itus = [dict(i) for i in event["itus"]]
    if not itus:
        problems.append("no ITU identifier to bind")
    problems += [p for p in (check_itu(i) for i in itus) if p]
    if problems or path is None:
        out.refuse(f"binding request {request_id}: " + "; ".join(problems), "InvalidBindingRequest")
        return
    keys = [itu_key(i) for i in itus]
    conflicts = state.ledger.conflicts(keys, path.mission_path_id)
    if conflicts:
        for key, interval in conflicts:
            itu = itus[keys.index(key)]
            holder = state.iots.get(interval.iot_id)
            out.deviation(
                "BINDING_CONFLICT",
                iot=holder,
                itu=itu,
                expected=f"{key} free on mission path {path.mission_path_id}",
                observed=f"request {request_id} while {key} is bound to IOT_ID "
                f"{interval.iot_id} since {mission.iso(interval.valid_from)}",
            )
        out.refuse(
            f"binding request {request_id}: {', '.join(k for k, _ in conflicts)} already "
            f"bound on mission path {path.mission_path_id}",
            "BindingConflict",
        )
        return
    iot_id = deterministic_uuid7(out.at, "iot", request_id)
    state.ledger.requests[request_id] = iot_id
    state.changes.requests.add(request_id)
    state.ledger.bind(keys, iot_id, path.mission_path_id, out.at)
    iot = Tracked(
        iot_id,
        request_id,
        tuple(mrns),
        tuple(itus),
        mission.start(iot_id, path),
        clearing.new(iot_id, tuple(mrns)),
    )
    state.store(iot)
    out.emit(
        Channel.BINDINGS,
        iot_id,
        "iotrack.IotBound",
        {
            "iot_id": iot_id,
            "request_id": request_id,
            "mrns": mrns,
            "itus": itus,
            "mission_path_id": path.mission_path_id,
            "requested_by": event["requested_by"],
            "valid_from": out.at,
        },
    )
    _publish_state(out, iot)
    _publish_verdicts(out, iot)


def _known(state: CoreState, event: Record, out: _Emitter) -> Tracked | None:
    iot = state.iots.get(str(event["iot_id"]))
    if iot is None:
        out.refuse(f"IOT_ID {event['iot_id']} is not bound", "UnknownIotId")
    return iot


def _binding_ended(state: CoreState, event: Record, out: _Emitter) -> None:
    iot = _known(state, event, out)
    if iot is None or iot.position.phase is mission.Phase.CLOSED:
        return
    at = int(event["valid_to"])
    state.ledger.unbind(iot.itu_keys, iot.iot_id, at)
    moved = mission.advance(iot.position, mission.Signal.END, out.at)
    iot = replace(iot, position=moved.position, retire_at=out.at + state.config.retire_after_ms)
    state.store(iot)
    _publish_state(out, iot)
    for key in iot.itu_keys:
        out.tombstone(Channel.VERDICT_BY_ITU, key)


def _binding_changed(state: CoreState, event: Record, out: _Emitter) -> None:
    iot = _known(state, event, out)
    if iot is None:
        return
    added = [dict(i) for i in event.get("itus_added") or ()]
    problems = [p for p in (check_itu(i) for i in added) if p]
    problems += [
        f"MRN {m}: not valid"
        for m in event.get("mrns_added") or ()
        if not mrn_module.is_valid(str(m))
    ]
    if problems:
        out.refuse(
            f"binding change of {iot.iot_id}: " + "; ".join(problems), "InvalidBindingChange"
        )
        return
    removed_keys = {itu_key(i) for i in event.get("itus_removed") or ()}
    state.ledger.unbind(removed_keys, iot.iot_id, out.at)
    state.ledger.bind(
        [itu_key(i) for i in added], iot.iot_id, iot.position.path.mission_path_id, out.at
    )
    for key in removed_keys:
        out.tombstone(Channel.VERDICT_BY_ITU, key)
    itus = tuple(i for i in (*iot.itus, *added) if itu_key(i) not in removed_keys)
    mrns_added = tuple(str(m) for m in event.get("mrns_added") or ())
    mrns_removed = tuple(str(m) for m in event.get("mrns_removed") or ())
    iot = replace(
        iot,
        itus=itus,
        mrns=tuple(m for m in dict.fromkeys((*iot.mrns, *mrns_added)) if m not in mrns_removed),
        clearance=clearing.bind_more(iot.clearance, mrns_added, mrns_removed),
    )
    state.store(iot)
    _publish_verdicts(out, iot)


def _exit_deviation(
    out: _Emitter, iot: Tracked, node_id: str | None, read_point_id: str | None, what: str
) -> None:
    """Leaving while held or not released is the deviation Customs must see first."""
    verdict = iot.clearance.verdict
    if verdict is clearing.Verdict.HELD:
        holds = ", ".join(f"{h.agency} {h.hold_type}" for h in iot.clearance.open_holds())
        out.deviation(
            "EXIT_WHILE_HELD",
            iot=iot,
            node_id=node_id,
            read_point_id=read_point_id,
            expected="no exit while a hold is open",
            observed=f"{what}; open: {holds}",
        )
    elif verdict is clearing.Verdict.NOT_RELEASED:
        pending = ", ".join(iot.clearance.pending_mrns())
        out.deviation(
            "EXIT_WITHOUT_RELEASE",
            iot=iot,
            node_id=node_id,
            read_point_id=read_point_id,
            expected="every MRN released before exit",
            observed=f"{what}; not released: {pending}",
        )


def _move(
    state: CoreState,
    iot: Tracked,
    signal: mission.Signal,
    out: _Emitter,
    *,
    node_id: str | None = None,
    read_point_id: str | None = None,
) -> Tracked:
    moved = mission.advance(iot.position, signal, out.at, node_id)
    iot = replace(iot, position=moved.position)
    if moved.position.phase is mission.Phase.DEFINITIVE and iot.retire_at is None:
        # The mission is over: the units are free for a new binding from now on.
        state.ledger.unbind(iot.itu_keys, iot.iot_id, out.at)
        iot = replace(iot, retire_at=out.at + state.config.retire_after_ms)
    state.store(iot)
    if moved.deviation:
        out.deviation(
            moved.deviation,
            iot=iot,
            node_id=node_id,
            read_point_id=read_point_id,
            expected=moved.expected,
            observed=moved.observed,
        )
    if moved.changed:
        _publish_state(out, iot)
    return iot


def _passage(state: CoreState, event: Record, out: _Emitter) -> None:
    node_id, read_point = str(event["node_id"]), str(event["read_point_id"])
    at = out.at
    resolved: list[str] = []
    for iot_id in event.get("iot_ids") or ():
        if iot_id in state.iots and iot_id not in resolved:
            resolved.append(str(iot_id))
    unknown: list[Record] = []
    for itu in event.get("identifiers") or ():
        key = itu_key(itu)
        found = [i.iot_id for i in state.ledger.active(key, at)]
        if not found:
            # A unit whose mission ended but which is still tracked: a read after definitive.
            ended = [
                i
                for i in state.ledger.intervals.get(key, ())
                if i.iot_id in state.iots and i.valid_to is not None and i.valid_to <= at
            ]
            found = [ended[-1].iot_id] if ended else []
        for iot_id in found:
            if iot_id not in resolved:
                resolved.append(iot_id)
        if not found and itu["kind"] in _UNIT_KINDS:
            unknown.append(itu)
    if state.customs_relevant(node_id):
        for itu in unknown:
            out.deviation(
                "UNKNOWN_UNIT",
                iot=None,
                itu=itu,
                node_id=node_id,
                read_point_id=read_point,
                expected=f"an IOT_ID bound to {itu_key(itu)}",
                observed=f"{itu_key(itu)} read at {node_id} with no active IOT_ID",
            )
    for iot_id in resolved:
        iot = state.iots[iot_id]
        signal = mission.classify(iot.position, node_id)
        if signal in mission.EXIT_SIGNALS:
            _exit_deviation(
                out, iot, node_id, read_point, f"read at exit gate {node_id} ({event['direction']})"
            )
        _move(state, iot, signal, out, node_id=node_id, read_point_id=read_point)


def _hold_placed(state: CoreState, event: Record, out: _Emitter) -> None:
    _clearance_command(state, event, out, clearing.place_hold)


def _hold_lifted(state: CoreState, event: Record, out: _Emitter) -> None:
    _clearance_command(state, event, out, clearing.lift_hold)


def _release(state: CoreState, event: Record, out: _Emitter) -> None:
    _clearance_command(state, event, out, clearing.release)


def _clearance_command(
    state: CoreState,
    event: Record,
    out: _Emitter,
    command: Callable[[clearing.Clearance, Record], tuple[clearing.Clearance, clearing.Decision]],
) -> None:
    iot = _known(state, event, out)
    if iot is None:
        return
    before = iot.clearance
    after, decision = command(before, event)
    iot = replace(iot, clearance=after)
    state.store(iot)
    if not decision.accepted:
        out.refuse(decision.reason or "refused", "ClearanceRefused")
        return
    if (after.verdict, after.pending_mrns(), after.open_holds()) != (
        before.verdict,
        before.pending_mrns(),
        before.open_holds(),
    ):
        _publish_verdicts(out, iot)


def _exit_confirmed(state: CoreState, event: Record, out: _Emitter) -> None:
    iot = _known(state, event, out)
    if iot is None:
        return
    gate = str(event["gate_node_id"])
    if iot.clearance.exited_at is None:
        _exit_deviation(out, iot, gate, None, f"exit confirmed by {event['confirmed_by']}")
    after, decision = clearing.confirm_exit(iot.clearance, event)
    iot = replace(iot, clearance=after)
    state.store(iot)
    iot = _move(state, iot, mission.Signal.EXIT, out, node_id=gate if decision.accepted else None)
    if decision.accepted:
        _publish_verdicts(out, iot)


# -- rail -----------------------------------------------------------------------------------


def _unit_status(state: CoreState, key: str, at: int) -> rail.UnitStatus | None:
    """The unit's IOT_ID and clearance now: its active binding, else the last one if it left."""
    active = state.ledger.active(key, at)
    iot = state.iots.get(active[-1].iot_id) if active else None
    if iot is None:
        ended = [
            i
            for i in state.ledger.intervals.get(key, ())
            if i.iot_id in state.iots and state.iots[i.iot_id].clearance.exited_at is not None
        ]
        iot = state.iots[ended[-1].iot_id] if ended else None
    if iot is None:
        return None
    clearance = iot.clearance
    return rail.UnitStatus(
        iot.iot_id,
        str(clearance.verdict),
        iot.mrns,
        tuple(clearance.pending_mrns()),
        tuple(f"{h.agency} ({h.hold_type})" for h in clearance.open_holds()),
    )


def _claim(train: Train) -> tuple[int, int, str]:
    """A train's precedence on a unit it shares with another: a manifest before a loading
    list, then the earlier one, then the train id (so the answer never depends on dict order)."""
    if train.manifests:
        return (0, int(train.manifests[0]["received_at"]), train.train_id)
    return (1, train.listed_at, train.train_id)


def _other_train(state: CoreState, train: Train, key: str) -> str | None:
    """The train with precedence over ``train`` that also carries the unit, if any, as the
    operator of ``train`` may see it."""
    mine = _claim(train)
    holders = [
        other
        for other in state.trains.values()
        if other.train_id != train.train_id
        and other.phase is not rail.TrainPhase.DEPARTED
        and key in other.unit_keys
        and _claim(other) < mine
    ]
    if not holders:
        return None
    first = min(holders, key=_claim)
    # Another operator's train is not named: its composition is not this operator's business.
    return (
        f"train {first.train_id}"
        if first.operator == train.operator
        else ("a train of another operator")
    )


def _answer(state: CoreState, train: Train, at: int) -> tuple[dict[str, Any], ...]:
    """The loading list's items with each unit's readiness now."""
    answered = []
    seen: set[str] = set()
    for item in train.items:
        itu, mrn = dict(item["itu"]), item.get("mrn")
        key = itu_key(itu)
        found = rail.unit_readiness(
            itu,
            [str(mrn)] if mrn else [],
            _unit_status(state, key, at),
            _other_train(state, train, key),
        )
        reasons = list(found.reasons)
        if key in seen:
            reasons.append(f"LISTED_TWICE: {key} appears more than once on the list")
        seen.add(key)
        answered.append(
            {
                "itu": itu,
                "mrn": mrn,
                "ready": not reasons,
                "reasons": reasons,
                "iot_id": found.iot_id,
            }
        )
    return tuple(answered)


def _decide(
    state: CoreState, train: Train, at: int
) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    """Permission for the latest manifest: granted, every problem, and the units' IOT_IDs."""
    manifest = train.manifest
    assert manifest is not None  # noqa: S101 - called only once a manifest is known
    problems = list(manifest["problems"])
    iot_ids: list[str] = []
    for wagon in manifest["wagons"]:
        for itu in wagon["itus"]:
            if check_itu(itu) if manifest["problems"] else False:
                continue  # listed among the manifest's own problems
            iot_id, reasons = _unit_on_manifest(state, train, wagon, itu, at)
            if iot_id:
                iot_ids.append(iot_id)
            problems += [
                f"{reason.split(': ', 1)[0]}: position {wagon['position']}: "
                + reason.split(": ", 1)[1]
                for reason in reasons
            ]
    return not problems, tuple(problems), tuple(iot_ids)


def _unit_on_manifest(
    state: CoreState, train: Train, wagon: Record, itu: Record, at: int
) -> tuple[str | None, list[str]]:
    """A manifest unit's IOT_ID and every reason it may not leave on this train now."""
    key = itu_key(itu)
    own = [str(m) for m in (wagon.get("mrns_by_itu") or {}).get(str(itu["value"]), [])]
    status = _unit_status(state, key, at)
    found = rail.unit_readiness(
        itu, own, status, _other_train(state, train, key), identifier_checked=True
    )
    reasons = list(found.reasons)
    wagon_mrns = [str(m) for m in wagon.get("mrns") or ()]
    if status is None:
        # The manifest gives a declaration (or a transport document), so the unit is not
        # undeclared: what is missing is Customs' binding.
        if own or wagon_mrns:
            reasons = [f"UNKNOWN_UNIT: no IOT_ID is bound to {key}"]
        elif wagon.get("transport_document"):
            reasons = [
                f"NO_DECLARATION: {key} travels on transport document "
                f"{wagon['transport_document']} only, and no IOT_ID is bound to it"
            ]
    elif not own and wagon_mrns and not set(wagon_mrns) & set(status.mrns):
        reasons.append(
            f"MRN_NOT_BOUND: none of the wagon's MRNs ({', '.join(wagon_mrns)}) is bound to {key}"
        )
    if (
        status is not None
        and status.verdict == "EXITED"
        and train.phase is rail.TrainPhase.CONFIRMING
        and status.iot_id in train.iot_ids
    ):
        # It left through this train's exit: that is the train leaving, not a problem.
        reasons = [r for r in reasons if not r.startswith("ALREADY_LEFT")]
    return found.iot_id, reasons


def _train_status(out: _Emitter, train: Train, state: CoreState) -> None:
    manifest = train.manifest
    if manifest is not None:
        units = sum(len(w["itus"]) for w in manifest["wagons"])
        ready = sum(
            1
            for iot_id in train.iot_ids
            if iot_id in state.iots and state.iots[iot_id].clearance.may_leave
        )
    else:
        units = len(train.answer)
        ready = sum(1 for item in train.answer if item["ready"])
    granted, reasons = train.permission if train.permission else (None, ())
    out.emit(
        Channel.TRAINS,
        train.train_id,
        "iotrack.TrainStatus",
        {
            "train_id": train.train_id,
            "operator": train.operator,
            "phase": str(train.phase),
            "manifest_version": manifest["version"] if manifest else None,
            "manifest_versions": [m["version"] for m in train.manifests],
            "permission_granted": granted,
            "reasons": list(reasons),
            "units": units,
            "units_ready": ready,
            "iot_ids": list(train.iot_ids),
            "exited": len(train.exited),
        },
    )


def _publish_answer(out: _Emitter, train: Train) -> None:
    out.emit(
        Channel.LOADING_LISTS,
        train.train_id,
        "iotrack.TrainLoadingList",
        {
            "train_id": train.train_id,
            "operator": train.operator,
            "planned_departure": None,
            "items": [dict(item) for item in train.answer],
            "answered": True,
            "caused_by_event_id": out.cause_id,
        },
    )


def _publish_permission(out: _Emitter, train: Train) -> None:
    assert train.manifest is not None  # noqa: S101 - a permission follows a manifest
    assert train.permission is not None  # noqa: S101
    granted, reasons = train.permission
    out.emit(
        Channel.PERMISSIONS,
        train.train_id,
        "iotrack.PermissionToLeave",
        {
            "train_id": train.train_id,
            "manifest_version": train.manifest["version"],
            "granted": granted,
            "reasons": list(reasons),
            "decided_by": SOURCE,
            "caused_by_event_id": out.cause_id,
        },
    )


def _store_train(state: CoreState, train: Train) -> Train:
    state.trains[train.train_id] = train
    state.changes.trains.add(train.train_id)
    due = train.retire_at
    if due is not None and (state.next_due is None or due < state.next_due):
        state.next_due = due
    return train


def _train_for(
    state: CoreState, event: Record, out: _Emitter, signal: rail.TrainSignal
) -> Train | None:
    """The train an operator's submission is for, in the phase the submission takes it to, if
    the submission is allowed now."""
    train_id, operator = str(event["train_id"]), str(event["operator"])
    known = state.trains.get(train_id)
    if known is not None and known.operator != operator:
        out.refuse(
            f"train {train_id} is composed by operator {known.operator}, not {operator}",
            "TrainOperatorMismatch",
        )
        return None
    try:
        phase = rail.advance(known.phase if known else None, signal)
    except rail.TrainTransitionError as exc:
        out.refuse(f"train {train_id}: {exc}", "TrainPhaseError")
        return None
    return replace(known, phase=phase) if known else Train(train_id, operator, phase)


def _loading_list(state: CoreState, event: Record, out: _Emitter) -> None:
    if event.get("answered"):
        out.refuse("a loading list answer is published by the core, not taken", "AnswerAsInput")
        return
    train = _train_for(state, event, out, rail.TrainSignal.LISTED)
    if train is None:
        return
    items = tuple({"itu": dict(i["itu"]), "mrn": i.get("mrn")} for i in event["items"])
    train = replace(train, items=items, listed_at=train.listed_at or out.at)
    if train.manifest is None:
        train = replace(train, unit_keys=frozenset(itu_key(item["itu"]) for item in items))
    train = replace(train, answer=_answer(state, train, out.at))
    _store_train(state, train)
    _publish_answer(out, train)
    _train_status(out, train, state)


def _bind_for_rail(state: CoreState, train: Train, manifest: Record, out: _Emitter) -> None:
    """Customs associates an IOT_ID with each manifest unit that has none: a binding on the rail
    mission path, for the unit's MRNs, or its wagon's (units only with a transport document stay
    unbound)."""
    for wagon in manifest["wagons"]:
        for itu in wagon["itus"]:
            key = itu_key(itu)
            mrns = [m for m in rail.unit_mrns(wagon, itu) if mrn_module.is_valid(m)]
            if (
                not mrns
                or check_itu(itu)
                or state.ledger.active(key, out.at)
                or _other_train(state, train, key)
            ):
                continue
            _binding_requested(
                state,
                {
                    "request_id": f"RAIL:{train.train_id}:{key}",
                    "mission_path_id": state.config.rail_mission_path_id,
                    "mrns": mrns,
                    "itus": [dict(itu)],
                    "requested_by": f"rail manifest {train.train_id} v{manifest['version']}",
                },
                out,
            )


def _manifest(state: CoreState, event: Record, out: _Emitter) -> None:
    train = _train_for(state, event, out, rail.TrainSignal.MANIFESTED)
    if train is None:
        return
    version = int(event["version"])
    latest = train.manifest
    if latest is not None and version <= int(latest["version"]):
        out.refuse(
            f"train {train.train_id}: manifest v{version} is not newer than v{latest['version']}",
            "StaleManifest",
        )
        return
    supersedes = event.get("supersedes_version")
    if latest is not None and supersedes is not None and supersedes != latest["version"]:
        out.refuse(
            f"train {train.train_id}: manifest v{version} amends v{supersedes}, but the latest "
            f"is v{latest['version']}",
            "StaleManifest",
        )
        return
    wagons = [
        {
            "position": int(w["position"]),
            "wagon_number": str(w["wagon_number"]),
            "itus": [dict(i) for i in w["itus"]],
            "mrns": [str(m) for m in w.get("mrns") or ()],
            "mrns_by_itu": {
                str(k): [str(m) for m in v] for k, v in (w.get("mrns_by_itu") or {}).items()
            },
            "transport_document": w.get("transport_document"),
        }
        for w in event["wagons"]
    ]
    manifest: dict[str, Any] = {
        "version": version,
        "supersedes_version": supersedes,
        "wagons": wagons,
        "received_at": out.at,
        "problems": tuple(rail.manifest_problems(wagons)),
    }
    keys = frozenset(itu_key(i) for w in wagons for i in w["itus"])
    train = _store_train(
        state, replace(train, manifests=(*train.manifests, manifest), unit_keys=keys)
    )
    out.emit(
        Channel.MANIFESTS,
        f"{train.train_id}:{version}",
        "iotrack.TrainManifest",
        {
            "train_id": train.train_id,
            "version": version,
            "operator": train.operator,
            "wagons": manifest["wagons"],
            "supersedes_version": supersedes,
        },
    )
    _bind_for_rail(state, train, manifest, out)
    _reconsider_train(state, state.trains[train.train_id], out, force=True)


def _reconsider_train(
    state: CoreState, train: Train, out: _Emitter, *, force: bool = False
) -> None:
    """Re-answer the loading list and re-decide permission; publish what changed."""
    changed = force
    if train.items and train.phase is not rail.TrainPhase.CONFIRMING:
        # Once the consist matched, the loading list is history: its units are leaving.
        answer = _answer(state, train, out.at)
        if answer != train.answer:
            train = replace(train, answer=answer)
            _publish_answer(out, train)
            changed = True
    if train.manifest is not None and (force or train.phase is not rail.TrainPhase.REVOKED):
        granted, reasons, iot_ids = _decide(state, train, out.at)
        if force or (granted, reasons) != train.permission or iot_ids != train.iot_ids:
            signal = rail.TrainSignal.GRANTED if granted else rail.TrainSignal.REFUSED
            train = replace(
                train,
                phase=rail.advance(train.phase, signal),
                permission=(granted, reasons),
                iot_ids=iot_ids,
            )
            _publish_permission(out, train)
            changed = True
    if changed:
        _store_train(state, train)
        _train_status(out, train, state)


_RECONSIDERED = (
    rail.TrainPhase.LISTED,
    rail.TrainPhase.REFUSED,
    rail.TrainPhase.PERMITTED,
    rail.TrainPhase.CONFIRMING,
)


def _after_unit_change(state: CoreState, out: _Emitter) -> None:
    """A hold, release or binding changed some units' status: trains holding them re-decide."""
    keys: set[str] = set()
    for output in out.outputs:
        if output.channel is Channel.VERDICT_BY_ITU:
            keys.add(output.key)
    if not keys:
        return
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if train.phase in _RECONSIDERED and keys.intersection(train.unit_keys):
            _reconsider_train(state, train, out)


def _train_by_wagons(state: CoreState, wagons: Any) -> Train | None:
    """The train a portal read without a train id belongs to: the permitted (or revoked) train
    whose latest manifest holds most of the wagon numbers read, if that is at least half."""
    read = {rail.compact_wagon(str(w["wagon_number_read"])) for w in wagons}
    best, best_count = None, 0
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if train.manifest is None or train.phase not in (
            rail.TrainPhase.PERMITTED,
            rail.TrainPhase.REVOKED,
        ):
            continue
        numbers = {str(w["wagon_number"]) for w in train.manifest["wagons"]}
        count = len(numbers & read)
        if count > best_count:
            best, best_count = train, count
    return best if best is not None and 2 * best_count >= len(read) else None


def _consist(state: CoreState, event: Record, out: _Emitter) -> None:
    gate, point = str(event["gate_node_id"]), str(event["read_point_id"])
    if event.get("train_id"):
        train = state.trains.get(str(event["train_id"]))
    else:
        train = _train_by_wagons(state, event["wagons"])
    observed = f"{len(event['wagons'])} wagons read by {point}"
    if train is None or train.manifest is None:
        out.deviation(
            "CONSIST_MISMATCH",
            iot=None,
            node_id=gate,
            read_point_id=point,
            expected=f"a manifest for train {event.get('train_id') or '(no train id read)'}",
            observed=observed,
        )
        out.refuse(f"no manifest for the train read at {gate}: {observed}", "UnknownTrain")
        return
    if train.phase in (rail.TrainPhase.CONFIRMING, rail.TrainPhase.DEPARTED):
        return  # the portal read it again after it matched: nothing new
    found = rail.reconcile(train.manifest["wagons"], event["wagons"])
    problems = [(kind, expected, seen) for kind, expected, seen in found.problems]
    if train.phase is not rail.TrainPhase.PERMITTED:
        # A revoked train stays revoked until an amendment is granted, however well it reads.
        problems.insert(
            0, ("NO_PERMISSION", "permission to leave granted", f"train {str(train.phase).lower()}")
        )
    for kind, expected, seen in problems:
        out.deviation(
            "CONSIST_MISMATCH",
            iot=None,
            node_id=gate,
            read_point_id=point,
            expected=f"train {train.train_id}: {expected}",
            observed=f"{kind}: {seen}",
        )
    matched = not problems
    candidates: list[str] = []
    if matched:
        train = replace(train, phase=rail.advance(train.phase, rail.TrainSignal.CONSIST_MATCHED))
        if not train.iot_ids:  # wagons and no unit under customs control: nothing to confirm
            train = replace(
                train,
                phase=rail.advance(train.phase, rail.TrainSignal.ALL_EXITED),
                retire_at=out.at + state.config.retire_after_ms,
            )
        for iot_id in train.iot_ids:
            iot = state.iots.get(iot_id)
            if iot is None:
                continue
            signal = mission.classify(iot.position, gate)
            if signal in mission.EXIT_SIGNALS:
                _exit_deviation(out, iot, gate, point, f"on train {train.train_id} at {gate}")
            _move(state, iot, signal, out, node_id=gate, read_point_id=point)
            candidates.append(iot_id)
    elif train.phase in (rail.TrainPhase.PERMITTED, rail.TrainPhase.REVOKED):
        train = replace(
            train,
            phase=rail.advance(train.phase, rail.TrainSignal.CONSIST_MISMATCHED),
            permission=(False, tuple(f"{k}: {e} / {o}" for k, e, o in problems)),
        )
        _publish_permission(out, train)
    train = _store_train(
        state, replace(train, consist_keys=train.consist_keys | {f"{train.train_id}:{point}"})
    )
    out.emit(
        Channel.CONSISTS,
        f"{train.train_id}:{point}",
        "iotrack.ConsistCheck",
        {
            "train_id": train.train_id,
            "gate_node_id": gate,
            "read_point_id": point,
            "manifest_version": train.manifest["version"] if train.manifest else 0,
            "matched": matched,
            "problems": [f"{k}: {e} / {o}" for k, e, o in problems],
            "repairs": list(found.repairs),
            "wagon_numbers": list(found.wagon_numbers),
            "exit_candidates": candidates,
        },
    )
    _train_status(out, train, state)


def _train_exits(state: CoreState, iot_id: str, out: _Emitter) -> None:
    """An exit confirmed: a confirming train is departed once all its units are out."""
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if iot_id not in train.iot_ids or train.phase is rail.TrainPhase.DEPARTED:
            continue
        if train.phase is not rail.TrainPhase.CONFIRMING:
            out.deviation(
                "CONSIST_MISMATCH",
                iot=state.iots.get(iot_id),
                expected=f"train {train.train_id}: exits confirmed once its consist matched",
                observed=f"EXIT_BEFORE_CONSIST: exit confirmed while the train is "
                f"{str(train.phase).lower()}",
            )
            continue
        train = replace(train, exited=train.exited | {iot_id})
        if train.exited >= set(train.iot_ids):
            train = replace(
                train,
                phase=rail.advance(train.phase, rail.TrainSignal.ALL_EXITED),
                retire_at=out.at + state.config.retire_after_ms,
            )
        _store_train(state, train)
        _train_status(out, train, state)


_RAIL_INPUTS = {
    "iotrack.TrainLoadingList": _loading_list,
    "iotrack.TrainManifest": _manifest,
    "iotrack.DetectedConsist": _consist,
}


HANDLERS: Mapping[str, Callable[[CoreState, Record, _Emitter], None]] = {
    "iotrack.MissionPathDefined": _path_defined,
    "iotrack.BindingRequested": _binding_requested,
    "iotrack.BindingEnded": _binding_ended,
    "iotrack.BindingChanged": _binding_changed,
    "iotrack.Passage": _passage,
    "iotrack.HoldPlaced": _hold_placed,
    "iotrack.HoldLifted": _hold_lifted,
    "iotrack.CustomsRelease": _release,
    "iotrack.ExitConfirmed": _exit_confirmed,
    **_RAIL_INPUTS,
}


def _on_watermark(state: CoreState, out: _Emitter) -> None:
    """Deadlines passed and retirements due at the current watermark, in IOT_ID order, then
    departed trains due for retirement, in train id order."""
    mark = state.watermark
    if state.next_due is None or mark <= state.next_due:
        return
    state.next_due = None
    for iot_id in sorted(state.iots):
        iot = state.iots[iot_id]
        if iot.position.deadline is not None and iot.position.deadline < mark:
            _move(state, iot, mission.Signal.DEADLINE, out)
        iot = state.iots[iot_id]
        if iot.retire_at is not None and iot.retire_at <= mark:
            del state.iots[iot_id]
            state.changes.iots.add(iot_id)
            out.tombstone(Channel.IOT_STATE, iot_id)
            out.tombstone(Channel.VERDICT_BY_IOT, iot_id)
            for key in iot.itu_keys:
                if not any(i.iot_id != iot_id for i in state.ledger.active(key)):
                    out.tombstone(Channel.VERDICT_BY_ITU, key)
        else:
            state.store(iot)  # re-notes its remaining deadline or retirement
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if train.retire_at is not None and train.retire_at <= mark:
            _retire_train(state, train, out)
        elif train.retire_at is not None and (
            state.next_due is None or train.retire_at < state.next_due
        ):
            state.next_due = train.retire_at


def _retire_train(state: CoreState, train: Train, out: _Emitter) -> None:
    """A departed train's records leave the compacted rail topics."""
    del state.trains[train.train_id]
    state.changes.trains.add(train.train_id)
    for channel in (Channel.TRAINS, Channel.LOADING_LISTS, Channel.PERMISSIONS):
        out.tombstone(channel, train.train_id)
    for manifest in train.manifests:
        out.tombstone(Channel.MANIFESTS, f"{train.train_id}:{manifest['version']}")
    for key in sorted(train.consist_keys):
        out.tombstone(Channel.CONSISTS, key)


def apply(state: CoreState, schema: str, event: Record) -> tuple[CoreState, list[Output]]:
    """Apply one input event of record type ``schema``; the state and the outputs, in order."""
    handler = HANDLERS.get(schema)
    out = _Emitter(event)
    event_id = str(event["event_id"])
    if handler is None:
        out.refuse(f"the tracking core does not take {schema} events", "UnexpectedRecordType")
        return state, out.outputs
    if event_id in state.applied:
        return state, []
    state.applied[event_id] = out.at
    state.changes.applied.add(event_id)
    if state.applied_oldest is None or out.at < state.applied_oldest:
        state.applied_oldest = out.at
    handler(state, event, out)
    if state.trains and schema not in _RAIL_INPUTS:
        _after_unit_change(state, out)
        if schema == "iotrack.ExitConfirmed":
            _train_exits(state, str(event["iot_id"]), out)
    if out.at > state.watermark:
        state.watermark = out.at
        _on_watermark(state, out)
        horizon = state.watermark - state.config.dedupe_horizon_ms
        if state.applied_oldest is not None and state.applied_oldest < horizon:
            forgotten = {k for k, v in state.applied.items() if v < horizon}
            state.applied = {k: v for k, v in state.applied.items() if v >= horizon}
            state.changes.applied |= forgotten
            state.applied_oldest = min(state.applied.values(), default=None)
    return state, out.outputs
