"""The one entry of the tracking core: ``apply`` an input, get the outputs it caused.

``apply_event`` takes a typed input (``processors.events``) and hands it to its room with a
``match`` on its type; ``apply`` takes a decoded record as the shells have it, parses it at the
edge, and refuses a record of a type the core does not take, or without its type's shape.
"""

from __future__ import annotations

from typing import assert_never

from processors.core import waiting
from processors.core.authority import unauthorised
from processors.core.bindings import binding_changed, binding_ended, binding_requested, path_defined
from processors.core.clearance_inputs import (
    customs_release,
    declaration_status,
    exit_confirmed,
    hold_lifted,
    hold_placed,
)
from processors.core.event_time import advance_watermark, beyond_horizon, forget, remember
from processors.core.outputs import Channel, Emitter, Output, refusal
from processors.core.passages import passage
from processors.core.state import NO_UNITS, CoreState, UnitKeys
from processors.core.train_exits import detected_consist, train_exits
from processors.core.trains import loading_list, reconsider_trains, train_manifest
from processors.errors import MalformedRecord
from processors.events import (
    RECORD_TYPES,
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
from processors.parties import Sender

CORE_RECORD_TYPES = frozenset(
    name for name, cls in RECORD_TYPES.items() if issubclass(cls, CoreInput)
)
"""The record types the tracking core takes."""


def apply(
    state: CoreState, schema: str, record: Record, sender: Sender
) -> tuple[CoreState, list[Output]]:
    """Apply one decoded record of record type ``schema`` that came from ``sender``'s channel;
    the state and the outputs, in order.

    A record of a type the core does not take is refused (``UnexpectedRecordType``), and so is
    one without its type's shape (``MalformedRecord``); neither is remembered as applied.
    """
    try:
        event = parse(schema, record) if schema in CORE_RECORD_TYPES else None
    except MalformedRecord as exc:
        return state, refusal(_cause_id(record), str(exc), type(exc).__name__, sender)
    if not isinstance(event, CoreInput):
        reason = f"the tracking core does not take {schema} events"
        return state, refusal(_cause_id(record), reason, "UnexpectedRecordType", sender)
    return apply_event(state, event, sender)


def apply_event(
    state: CoreState, event: CoreInput, sender: Sender, *, waited: bool = False
) -> tuple[CoreState, list[Output]]:
    """Apply one input from ``sender``'s channel; the state and the outputs, in order. A
    redelivery (the same party's ``event_id`` again) changes nothing; an input its sender may
    not send is refused, and a refused input is not remembered: neither can take the id of an
    input still to come, from that party or another. An input older than the dedupe horizon is
    refused (``BeyondDedupeHorizon``): it could be a redelivery whose id is forgotten. One that
    waited for what it refers to (``waited``) was within it when it came."""
    out = Emitter(event.event_id, event.occurred_at, sender)
    denied = unauthorised(event, sender)
    if denied is not None:
        out.refuse(denied.reason, denied.kind)
        return state, out.outputs
    late = None if waited else beyond_horizon(state, out.at)
    if late is not None:
        out.refuse(f"{record_type(event)} {event.event_id}: {late}", "BeyondDedupeHorizon")
        return state, out.outputs
    if not remember(state, sender, event.event_id, out.at):
        return state, []
    changed = _handle(state, event, out)
    # The GdF's exit counts for a train only when it was taken (not kept to wait, nor refused).
    exited = isinstance(event, ExitConfirmed) and any(
        o.channel is Channel.EXITS for o in out.outputs
    )
    if out.parked or out.refused:
        # It waits, not applied: when what it refers to appears it is applied (and remembered)
        # then, and a redelivery meanwhile finds it waiting. Or it was refused: not applied.
        forget(state, sender, event.event_id)
    while state.released:
        for parked in waiting.take(state, state.released.pop(0)):
            _, later = apply_event(state, parked.event(), Sender.of(parked.sender), waited=True)
            out.outputs.extend(later)
    if state.trains:
        reconsider_trains(state, changed, out)
        if exited:
            assert isinstance(event, ExitConfirmed)  # noqa: S101 - for the type checker
            train_exits(state, event.iot_id, out)
    advance_watermark(state, out)
    return state, out.outputs


def _handle(state: CoreState, event: CoreInput, out: Emitter) -> UnitKeys:  # noqa: PLR0912
    """Hand the input to its room, one case per input type; the units whose status it changed
    (a train's own submissions and the exit portal's reads change none: the train re-decides
    itself)."""
    match event:
        case MissionPathDefined():
            return path_defined(state, event, out)
        case BindingRequested():
            return binding_requested(state, event, out)
        case BindingChanged():
            return binding_changed(state, event, out)
        case BindingEnded():
            return binding_ended(state, event, out)
        case Passage():
            return passage(state, event, out)
        case HoldPlaced():
            return hold_placed(state, event, out)
        case HoldLifted():
            return hold_lifted(state, event, out)
        case CustomsRelease():
            return customs_release(state, event, out)
        case DeclarationStatus():
            return declaration_status(state, event, out)
        case ExitConfirmed():
            return exit_confirmed(state, event, out)
        case TrainLoadingList():
            loading_list(state, event, out)
        case TrainManifest():
            train_manifest(state, event, out)
        case DetectedConsist():
            detected_consist(state, event, out)
        case _:
            assert_never(event)
    return NO_UNITS


def _cause_id(record: Record) -> str:
    """The id of a record that could not be applied, for its refusal."""
    return str(record.get("event_id"))
