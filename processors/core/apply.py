"""The one entry of the tracking core: ``apply`` an input event, get the outputs it caused."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from processors.core.bindings import binding_changed, binding_ended, binding_requested, path_defined
from processors.core.clearance_inputs import (
    customs_release,
    exit_confirmed,
    hold_lifted,
    hold_placed,
)
from processors.core.event_time import advance_watermark, remember
from processors.core.outputs import Emitter, Output, Record
from processors.core.passages import passage
from processors.core.state import CoreState, UnitKeys
from processors.core.train_exits import detected_consist, train_exits
from processors.core.trains import loading_list, reconsider_trains, train_manifest

_UNIT_INPUTS: Mapping[str, Callable[[CoreState, Record, Emitter], UnitKeys]] = {
    "iotrack.MissionPathDefined": path_defined,
    "iotrack.BindingRequested": binding_requested,
    "iotrack.BindingEnded": binding_ended,
    "iotrack.BindingChanged": binding_changed,
    "iotrack.Passage": passage,
    "iotrack.HoldPlaced": hold_placed,
    "iotrack.HoldLifted": hold_lifted,
    "iotrack.CustomsRelease": customs_release,
    "iotrack.ExitConfirmed": exit_confirmed,
}
"""Inputs about IOT_IDs; each handler reports the units whose status it changed."""

_RAIL_INPUTS: Mapping[str, Callable[[CoreState, Record, Emitter], None]] = {
    "iotrack.TrainLoadingList": loading_list,
    "iotrack.TrainManifest": train_manifest,
    "iotrack.DetectedConsist": detected_consist,
}
"""A train operator's submissions and the exit portal's reads."""

HANDLERS = frozenset((*_UNIT_INPUTS, *_RAIL_INPUTS))
"""The record types the core takes."""


def apply(state: CoreState, schema: str, event: Record) -> tuple[CoreState, list[Output]]:
    """Apply one input event of record type ``schema``; the state and the outputs, in order."""
    out = Emitter(event)
    if schema not in HANDLERS:
        out.refuse(f"the tracking core does not take {schema} events", "UnexpectedRecordType")
        return state, out.outputs
    if not remember(state, str(event["event_id"]), out.at):
        return state, []
    rail_input = _RAIL_INPUTS.get(schema)
    if rail_input is not None:
        rail_input(state, event, out)
    else:
        changed = _UNIT_INPUTS[schema](state, event, out)
        if state.trains:
            reconsider_trains(state, changed, out)
            if schema == "iotrack.ExitConfirmed":
                train_exits(state, str(event["iot_id"]), out)
    advance_watermark(state, out)
    return state, out.outputs
