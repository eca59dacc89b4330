"""Inputs that wait for what they refer to, so that arrival order cannot change the outcome.

The core reads its inputs from several topics with no order between them, so a release may
arrive before the binding of its IOT_ID, or a binding before its mission path. Such an input
is kept (``park``) under what it waits for, and applied, in the order it came, as soon as that
appears (``release``); if it does not appear within ``CoreConfig.park_wait_ms`` of the input's
own event time, it is refused with its reason (``expire``, on the watermark). The wait is
bounded per key (``park_limit_per_key``) and in total (``park_limit``): beyond them an input is
refused at once, so a flood of inputs for IOT_IDs that never come cannot grow the state.

A passage that read a unit with no IOT_ID is an ``UNKNOWN_UNIT`` at once (what the gate saw),
and is also kept for the same wait: a binding that arrives later, valid from before the
passage, gets the passage applied to its IOT_ID (``passages_for``), so the IOT_ID's position
does not depend on which topic was read first.
"""

from __future__ import annotations

from processors.core.outputs import Emitter, Output, refusal
from processors.core.state import CoreState, Parked, UnresolvedRead, record_text
from processors.events import CoreInput, Passage, record_type
from processors.parties import Sender


def iot_key(iot_id: str) -> str:
    return f"iot:{iot_id}"


def path_key(path_id: str) -> str:
    return f"path:{path_id}"


def park(state: CoreState, out: Emitter, key: str, event: CoreInput, waits_for: str) -> None:
    """Keep ``event`` until ``key`` appears (or refuse it at once when the limits are full)."""
    config = state.config
    waiting = state.parked.get(key, ())
    if any(p.event_id == event.event_id for p in waiting):
        out.parked = True
        return  # the same input again while it waits
    total = sum(len(v) for v in state.parked.values())
    if len(waiting) >= config.park_limit_per_key or total >= config.park_limit:
        out.refuse(
            f"{waits_for} is not known, and too many inputs wait already "
            f"({len(waiting)} for it, {total} in all)",
            "TooManyWaiting",
        )
        return
    entry = Parked(
        record_type(event),
        record_text(event),
        out.sender.principal,
        event.event_id,
        event.occurred_at,
        event.occurred_at + config.park_wait_ms,
        waits_for,
    )
    state.parked[key] = (*waiting, entry)
    state.changes.parked.add(key)
    state.note_due(entry.expires_at)
    out.parked = True


def take(state: CoreState, key: str) -> tuple[Parked, ...]:
    """The inputs waiting for ``key``, in the order they came, taken out of the wait."""
    found = state.parked.pop(key, ())
    if found:
        state.changes.parked.add(key)
    return found


def expire(state: CoreState) -> list[Output]:
    """Refuse every waiting input whose wait has passed the watermark, in key order; a dead
    letter of its own record, and a reply to its sender."""
    outputs: list[Output] = []
    mark = state.watermark
    for key in sorted(state.parked):
        waiting = state.parked[key]
        late = [p for p in waiting if p.expires_at < mark]
        if not late:
            for p in waiting:
                state.note_due(p.expires_at)
            continue
        kept = tuple(p for p in waiting if p.expires_at >= mark)
        if kept:
            state.parked[key] = kept
            for p in kept:
                state.note_due(p.expires_at)
        else:
            del state.parked[key]
        state.changes.parked.add(key)
        for p in late:
            hours = state.config.park_wait_ms / 3_600_000
            reason = f"{p.waits_for} did not appear within {hours:g} h of this event"
            for output in refusal(p.event_id, reason, "NeverAppeared", Sender.of(p.sender)):
                assert output.value is not None  # noqa: S101 - a refusal always has a value
                output.value.update(
                    {"record_type": p.record_type, "record": p.record(), "sender": p.sender}
                )
                outputs.append(output)
    return outputs


def keep_unresolved(state: CoreState, unit_key: str, event: Passage) -> None:
    """Keep a passage whose unit had no IOT_ID, within the limits of the wait."""
    config = state.config
    reads = state.unresolved.get(unit_key, ())
    total = sum(len(v) for v in state.unresolved.values())
    if len(reads) >= config.park_limit_per_key or total >= config.park_limit:
        return  # the UNKNOWN_UNIT stands; a late binding will not move it to this passage
    entry = UnresolvedRead(
        record_text(event),
        event.occurred_at + config.park_wait_ms,
    )
    state.unresolved[unit_key] = (*reads, entry)
    state.changes.unresolved.add(unit_key)
    state.note_due(entry.expires_at)


def passages_for(state: CoreState, unit_key: str, bound_from: int) -> list[Passage]:
    """The kept passages of a unit just bound that happened while its binding holds (at or after
    ``bound_from``), oldest first; taken out of the wait."""
    reads = state.unresolved.pop(unit_key, ())
    if not reads:
        return []
    state.changes.unresolved.add(unit_key)
    found = [r.passage() for r in reads]
    return sorted(
        (p for p in found if p.occurred_at >= bound_from), key=lambda p: (p.occurred_at, p.event_id)
    )


def forget_unresolved(state: CoreState) -> None:
    """Drop kept passages whose wait has passed the watermark (their UNKNOWN_UNIT stands)."""
    mark = state.watermark
    for key in sorted(state.unresolved):
        reads = state.unresolved[key]
        kept = tuple(r for r in reads if r.expires_at >= mark)
        if len(kept) == len(reads):
            for r in kept:
                state.note_due(r.expires_at)
            continue
        state.changes.unresolved.add(key)
        if kept:
            state.unresolved[key] = kept
            for r in kept:
                state.note_due(r.expires_at)
        else:
            del state.unresolved[key]
