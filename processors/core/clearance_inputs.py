"""Clearance inputs: holds placed and lifted, Customs releases, and the GdF's exit confirmations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from processors import clearance as clearing
from processors import mission
from processors.core.bindings import known
from processors.core.outputs import Channel, Emitter, annulled_deviation, publish_verdicts
from processors.core.passages import exit_deviation, move
from processors.core.state import NO_UNITS, CoreState, Declared, UnitKeys
from processors.events import (
    CustomsRelease,
    DeclarationStatus,
    ExitConfirmed,
    HoldLifted,
    HoldPlaced,
)
from processors.identifiers import mrn as mrn_module

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
    iot = known(state, event, out)
    if iot is None:
        return NO_UNITS
    before = iot.clearance
    after, decision = command(before, event)
    if decision.superseded:
        return NO_UNITS  # a newer decision on the same MRN stands: nothing to publish
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
        publish_verdicts(out, iot, state)
        return frozenset(iot.itu_keys)
    return NO_UNITS


def declaration_status(state: CoreState, event: DeclarationStatus, out: Emitter) -> UnitKeys:
    """A declaration changed state: every IOT_ID bound to its MRN, now or later, follows it.
    RELEASED releases the MRN on them; UNDER_CONTROL and ANNULLED keep them from leaving, and an
    annulment is a deviation on each. An older state arriving after a newer one is superseded,
    and of two with the same event time the more blocking stands (``clearance.supersedes``),
    whichever came first."""
    if not mrn_module.is_valid(event.mrn):
        out.refuse(f"declaration state for MRN {event.mrn}: not a valid MRN", "InvalidDeclaration")
        return NO_UNITS
    known = state.declarations.get(event.mrn)
    if known is not None and not clearing.supersedes(
        event.state, event.occurred_at, known.state, known.at
    ):
        return NO_UNITS  # older, or of the same time and blocking no more: it stands
    state.declarations[event.mrn] = Declared(event.state, event.occurred_at, event.event_id)
    state.changes.declarations.add(event.mrn)
    out.accept(Channel.DECLARATIONS, event.mrn, event)
    changed: set[str] = set()
    by = event.declarant or event.source
    for bound in state.bound_to(event.mrn):
        before = bound.clearance
        after, _decision = clearing.declare(before, event)
        if after is before:
            continue
        iot = replace(bound, clearance=after)
        state.store(iot)
        if event.state == clearing.ANNULLED:
            annulled_deviation(out, iot, event.mrn, f"annulled by {by}")
        if (after.verdict, after.reasons()) != (before.verdict, before.reasons()):
            publish_verdicts(out, iot, state)
            changed |= set(iot.itu_keys)
    return frozenset(changed)


def exit_confirmed(state: CoreState, event: ExitConfirmed, out: Emitter) -> UnitKeys:
    iot = known(state, event, out)
    if iot is None:
        return NO_UNITS
    gate = event.gate_node_id
    if iot.clearance.exited_at is None:
        exit_deviation(out, iot, gate, None, f"exit confirmed by {event.confirmed_by}")
    after, decision = clearing.confirm_exit(iot.clearance, event)
    iot = replace(iot, clearance=after)
    state.store(iot)
    iot = move(state, iot, mission.Signal.EXIT, out, node_id=gate)
    if decision.accepted:
        out.accept(Channel.EXITS, event.iot_id, event)
        # Its carriers were told when the exit ended its mission and freed its units (``move``).
        publish_verdicts(out, iot, state, carriers=False)
        return frozenset(iot.itu_keys)
    return NO_UNITS
