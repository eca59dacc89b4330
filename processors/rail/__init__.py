"""Rail: Customs readiness of loading lists, manifest checks, the train's phases, and the
reconciliation of the consist read at the exit gate with the manifest.

The seed document's three phases: the operator shares the candidate units (a loading list) and
learns which are Customs-ready; it sends the manifest (wagons in order with their units), Customs
associates an IOT_ID with each unit and grants permission to leave when all are cleared; the
rail OCR portal at the exit reads the consist, which must match the manifest before the GdF
confirms the exits.

Pure: the tracking core (``processors.core``) owns the state and calls these functions with
what it knows of each unit (``UnitStatus``).

Every reason is a ``Reason``: a code stable for programs (``ReasonCode``) and a text for people,
published as ``CODE: text``. Hold reason codes never appear: operators see which agency holds a
unit and the kind of hold, not why.

Its rooms: ``reasons``; ``phases`` (the transition table); ``readiness`` (phases 1 and 2: units
and manifests); ``consist`` (phase 3: the exit gate's reads against the manifest). Everything
is imported from ``processors.rail``.
"""

from __future__ import annotations

from processors.rail.consist import Reconciliation, compact_wagon, reconcile
from processors.rail.phases import (
    TRANSITIONS,
    TrainPhase,
    TrainSignal,
    TrainTransitionError,
    advance,
)
from processors.rail.readiness import (
    Readiness,
    UnitStatus,
    manifest_problems,
    unit_mrns,
    unit_readiness,
)
from processors.rail.reasons import Mismatch, Reason, ReasonCode

__all__ = [
    "TRANSITIONS",
    "Mismatch",
    "Readiness",
    "Reason",
    "ReasonCode",
    "Reconciliation",
    "TrainPhase",
    "TrainSignal",
    "TrainTransitionError",
    "UnitStatus",
    "advance",
    "compact_wagon",
    "manifest_problems",
    "reconcile",
    "unit_mrns",
    "unit_readiness",
]
