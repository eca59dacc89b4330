"""The tracking core: binding requests, mission paths, passages and clearance in; state out.

``apply_event(state, event)`` takes one typed input (``processors.events``) and returns the
state and the outputs it caused, in a deterministic order: IOT_IDs bound, IOT state changes,
clearance verdicts (per IOT_ID and per ITU identifier), deviations for Customs, refusals (for the
dead-letter topic) and tombstones. ``apply(state, type, record)`` does the same for a decoded
Avro record (Unix milliseconds, UUID text), parsing it first. It never reads a clock: time is
the events' time, and a watermark (the newest event time seen) drives deadlines and retirement,
so ``iotrack replay`` of the same input gives the same output, byte for byte.

A redelivered input (same ``event_id``) is recognised and applied once. Output ids are derived
from the input's id, so a replay re-emits the same ids.

The rooms, by concern:

====================== ======================================================================
``state``              what the core remembers (``CoreState``, ``Tracked``, ``Train``)
``outputs``            channels, outputs, the emitter, the IOT state and verdict records
``bindings``           mission paths defined, IOT_IDs bound, bindings changed and ended
``passages``           reads at a read point resolved to IOT_IDs, moves along their paths
``clearance_inputs``   holds, lifts, Customs releases, exit confirmations
``rail_decisions``     units' readiness for a train, claims, permission to leave
``trains``             loading lists and manifests, re-decisions when a unit changes
``train_exits``        the consist at the exit gate, the train's exits, its retirement
``event_time``         the watermark: deadlines, retirement, redelivery horizon
``apply``              the one ``apply``: a ``match`` on the input's type
====================== ======================================================================
"""

from __future__ import annotations

from processors.core.apply import CORE_RECORD_TYPES, apply, apply_event
from processors.core.outputs import SEVERITY, SOURCE, Channel, Output, state_value
from processors.core.state import (
    DAY_MS,
    Changes,
    CoreConfig,
    CoreState,
    ManifestVersion,
    Permission,
    Tracked,
    Train,
    UnitAnswer,
)

__all__ = [
    "CORE_RECORD_TYPES",
    "DAY_MS",
    "SEVERITY",
    "SOURCE",
    "Changes",
    "Channel",
    "CoreConfig",
    "CoreState",
    "ManifestVersion",
    "Output",
    "Permission",
    "Tracked",
    "Train",
    "UnitAnswer",
    "apply",
    "apply_event",
    "state_value",
]
