"""Clearance inputs: holds placed and lifted, Customs releases, and the GdF's exit confirmations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from processors import clearance as clearing
from processors import mission
from processors.core.bindings import known
from processors.core.outputs import Channel, Emitter, publish_verdicts
from processors.core.passages import exit_deviation, move
from processors.core.state import NO_UNITS, CoreState, UnitKeys
from processors.events import CustomsRelease, ExitConfirmed, HoldLifted, HoldPlaced

_Command = TypeVar("_Command", HoldPlaced, HoldLifted, CustomsRelease)


def hold_placed(state: CoreState, event: HoldPlaced, out: Emitter) -> UnitKeys:
    return _clearance_command(state, event, out, clearing.place_hold)


def hold_lifted(state: CoreState, event: HoldLifted, out: Emitter) -> UnitKeys:
    return _clearance_command(state, event, out, clearing.lift_hold)


def customs_release(state: CoreState, event: CustomsRelease, out: Emitter) -> UnitKeys:
    return _clearance_command(state, event, out, clearing.release)


def _clearance_command(
    state: CoreState,
    event: _Command,
    out: Emitter,
    command: Callable[[clearing.Clearance, _Command], tuple[clearing.Clearance, clearing.Decision]],
) -> UnitKeys:
    """Apply a hold, lift or release; the IOT_ID's units when its verdict changed."""
    iot = known(state, event.iot_id, out)
    if iot is None:
        return NO_UNITS
    before = iot.clearance
    after, decision = command(before, event)
    iot = replace(iot, clearance=after)
    state.store(iot)
    if not decision.accepted:
        out.refuse(decision.reason or "refused", "ClearanceRefused")
        return NO_UNITS
    if isinstance(event, CustomsRelease):
        out.accept(Channel.RELEASES, f"{event.iot_id}:{event.mrn}", event)
    else:
        out.accept(Channel.HOLDS, f"{event.iot_id}:{event.agency}:{event.hold_id}", event)
    if (after.verdict, after.pending_mrns(), after.open_holds()) != (
        before.verdict,
        before.pending_mrns(),
        before.open_holds(),
    ):
        publish_verdicts(out, iot)
        return frozenset(iot.itu_keys)
    return NO_UNITS


def exit_confirmed(state: CoreState, event: ExitConfirmed, out: Emitter) -> UnitKeys:
    iot = known(state, event.iot_id, out)
    if iot is None:
        return NO_UNITS
    gate = event.gate_node_id
    if iot.clearance.exited_at is None:
        exit_deviation(out, iot, gate, None, f"exit confirmed by {event.confirmed_by}")
    after, decision = clearing.confirm_exit(iot.clearance, event)
    iot = replace(iot, clearance=after)
    state.store(iot)
    iot = move(state, iot, mission.Signal.EXIT, out, node_id=gate if decision.accepted else None)
    if decision.accepted:
        out.accept(Channel.EXITS, event.iot_id, event)
        publish_verdicts(out, iot)
        return frozenset(iot.itu_keys)
    return NO_UNITS
