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
from processors.core.state import CoreState
from processors.core.train_exits import detected_consist, train_exits
from processors.core.trains import after_unit_change, loading_list, train_manifest

_RAIL_INPUTS = {
    "iotrack.TrainLoadingList": loading_list,
    "iotrack.TrainManifest": train_manifest,
    "iotrack.DetectedConsist": detected_consist,
}


HANDLERS: Mapping[str, Callable[[CoreState, Record, Emitter], None]] = {
    "iotrack.MissionPathDefined": path_defined,
    "iotrack.BindingRequested": binding_requested,
    "iotrack.BindingEnded": binding_ended,
    "iotrack.BindingChanged": binding_changed,
    "iotrack.Passage": passage,
    "iotrack.HoldPlaced": hold_placed,
    "iotrack.HoldLifted": hold_lifted,
    "iotrack.CustomsRelease": customs_release,
    "iotrack.ExitConfirmed": exit_confirmed,
    **_RAIL_INPUTS,
}


def apply(state: CoreState, schema: str, event: Record) -> tuple[CoreState, list[Output]]:
    """Apply one input event of record type ``schema``; the state and the outputs, in order."""
    handler = HANDLERS.get(schema)
    out = Emitter(event)
    if handler is None:
        out.refuse(f"the tracking core does not take {schema} events", "UnexpectedRecordType")
        return state, out.outputs
    if not remember(state, str(event["event_id"]), out.at):
        return state, []
    handler(state, event, out)
    if state.trains and schema not in _RAIL_INPUTS:
        after_unit_change(state, out)
        if schema == "iotrack.ExitConfirmed":
            train_exits(state, str(event["iot_id"]), out)
    advance_watermark(state, out)
    return state, out.outputs
