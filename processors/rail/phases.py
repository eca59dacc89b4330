"""A train's phases: a transition table and one ``advance``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from processors.errors import ProcessorError


class TrainPhase(StrEnum):
    """Where a train stands (``iotrack.TrainPhase``)."""

    LISTED = "LISTED"
    REFUSED = "REFUSED"
    PERMITTED = "PERMITTED"
    REVOKED = "REVOKED"
    CONFIRMING = "CONFIRMING"
    DEPARTED = "DEPARTED"


class TrainSignal(StrEnum):
    """What happened to a train."""

    LISTED = "LISTED"
    """A loading list was answered."""
    MANIFESTED = "MANIFESTED"
    """An operator sent a manifest version; the decision on it follows (GRANTED, REFUSED)."""
    REFUSED = "REFUSED"
    """A manifest (or a re-evaluation of it) refused permission to leave."""
    GRANTED = "GRANTED"
    """A manifest (or a re-evaluation of it) granted permission to leave."""
    CONSIST_MATCHED = "CONSIST_MATCHED"
    """The exit portal's consist matched the manifest."""
    CONSIST_MISMATCHED = "CONSIST_MISMATCHED"
    """The exit portal's consist differs from the manifest."""
    ALL_EXITED = "ALL_EXITED"
    """The GdF confirmed the exit of every unit."""


_OPEN = (None, TrainPhase.LISTED, TrainPhase.REFUSED, TrainPhase.PERMITTED, TrainPhase.REVOKED)


def _transitions() -> dict[tuple[TrainPhase | None, TrainSignal], TrainPhase]:
    table: dict[tuple[TrainPhase | None, TrainSignal], TrainPhase] = {}
    for phase in _OPEN:
        table[phase, TrainSignal.MANIFESTED] = phase or TrainPhase.LISTED
        table[phase, TrainSignal.REFUSED] = TrainPhase.REFUSED
        table[phase, TrainSignal.GRANTED] = TrainPhase.PERMITTED
    # A new loading list does not undo a manifest's decision; before any, the train is listed.
    table[None, TrainSignal.LISTED] = TrainPhase.LISTED
    for decided in (
        TrainPhase.LISTED,
        TrainPhase.REFUSED,
        TrainPhase.PERMITTED,
        TrainPhase.REVOKED,
    ):
        table[decided, TrainSignal.LISTED] = decided
    table[TrainPhase.PERMITTED, TrainSignal.CONSIST_MATCHED] = TrainPhase.CONFIRMING
    table[TrainPhase.PERMITTED, TrainSignal.CONSIST_MISMATCHED] = TrainPhase.REVOKED
    # Read again after a revocation, the train stays revoked until an amendment is granted.
    table[TrainPhase.REVOKED, TrainSignal.CONSIST_MATCHED] = TrainPhase.REVOKED
    table[TrainPhase.REVOKED, TrainSignal.CONSIST_MISMATCHED] = TrainPhase.REVOKED
    # Waiting for the GdF, a unit's status can still change (a hold placed at the last
    # minute): refused now, the permission is revoked.
    table[TrainPhase.CONFIRMING, TrainSignal.GRANTED] = TrainPhase.CONFIRMING
    table[TrainPhase.CONFIRMING, TrainSignal.REFUSED] = TrainPhase.REVOKED
    table[TrainPhase.CONFIRMING, TrainSignal.ALL_EXITED] = TrainPhase.DEPARTED
    return table


TRANSITIONS: Mapping[tuple[TrainPhase | None, TrainSignal], TrainPhase] = _transitions()
"""(phase, signal) -> next phase; a pair missing here is refused. ``None`` is a train not yet
known. Once the consist matched, the train's composition is final: loading lists and manifests
are refused, while re-decisions (GRANTED, REFUSED) still apply."""


class TrainTransitionError(ProcessorError, ValueError):
    """A signal the train's phase does not allow (e.g. a manifest after the consist matched)."""


def advance(phase: TrainPhase | None, signal: TrainSignal) -> TrainPhase:
    """The phase after ``signal``; TrainTransitionError when the table has no such step.

    >>> advance(None, TrainSignal.LISTED)
    <TrainPhase.LISTED: 'LISTED'>
    >>> advance(TrainPhase.PERMITTED, TrainSignal.CONSIST_MATCHED)
    <TrainPhase.CONFIRMING: 'CONFIRMING'>
    """
    try:
        return TRANSITIONS[phase, signal]
    except KeyError:
        where = phase.value if phase else "unknown"
        raise TrainTransitionError(f"a train {where.lower()} cannot take {signal}") from None
