"""Inputs that wait for what they refer to, so that arrival order cannot change the outcome.

The core reads its inputs from several topics with no order between them, so a release may
arrive before the binding of its IOT_ID, or a binding before its mission path. Such an input
is kept (``park``) under what it waits for, and applied, in the order it came, as soon as that
appears (``release``); if it does not appear within ``CoreConfig.park_wait_ms`` of the input's
own event time, it is refused with its reason (``expire``, on the watermark). The wait is
bounded per party: each may have ``park_limit_per_key`` inputs waiting for one key and
``park_limit_per_party`` in all, and all but Customs together ``park_limit``; beyond them an
input is refused at once, so a flood of inputs for IOT_IDs that never come cannot grow the
state, and one party's flood cannot crowd out Customs (its hold that came before its binding
still waits). The counts are kept as inputs come and go (``CoreState.waiting``): a park costs
the same however many wait.

A passage that read a unit with no IOT_ID is an ``UNKNOWN_UNIT`` at once (what the gate saw),
and is also kept for the same wait: a binding that arrives later, valid from before the
passage, gets the passage applied to its IOT_ID (``passages_for``), so the IOT_ID's position
does not depend on which topic was read first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from processors.core.outputs import Emitter, Output, refusal
from processors.core.state import CoreState, Parked, UnresolvedRead, record_text
from processors.events import CoreInput, Passage, record_type
from processors.parties import CUSTOMS, Sender


def iot_key(iot_id: str) -> str:
    return f"iot:{iot_id}"


def path_key(path_id: str) -> str:
    return f"path:{path_id}"


def park(state: CoreState, out: Emitter, key: str, event: CoreInput, waits_for: str) -> None:
    """Keep ``event`` until ``key`` appears (or refuse it at once when the limits are full)."""
    config = state.config
    waiting = state.parked.get(key, ())
    sender = out.sender.principal
    if any(p.event_id == event.event_id and p.sender == sender for p in waiting):
        out.parked = True
        return  # the same input again (from the same party) while it waits
    counts = state.waiting()
    for_it = sum(1 for p in waiting if p.sender == sender)
    of_party = counts.by_sender.get(sender, 0)
    others = counts.parked - counts.by_sender.get(CUSTOMS.principal, 0)
    full = None
    if for_it >= config.park_limit_per_key:
        full = f"{for_it} inputs of {sender} wait for it already"
    elif of_party >= config.park_limit_per_party:
        full = f"{of_party} inputs of {sender} wait already"
    elif out.sender != CUSTOMS and others >= config.park_limit:
        full = f"{others} inputs of other parties than Customs wait already"
    if full is not None:
        out.refuse(f"{waits_for} is not known, and {full}", "TooManyWaiting")
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
    if state.parked_by_expiry is not None:
        heapq.heappush(state.parked_by_expiry, (entry.expires_at, key))
    counts.parked += 1
    counts.by_sender[sender] = of_party + 1
    state.changes.parked.add(key)
    state.note_due(entry.expires_at)
    out.parked = True


def _unpark(state: CoreState, gone: Iterable[Parked]) -> None:
    counts = state.waiting()
    for p in gone:
        counts.parked -= 1
        left = counts.by_sender.get(p.sender, 0) - 1
        if left > 0:
            counts.by_sender[p.sender] = left
        else:
            counts.by_sender.pop(p.sender, None)


def take(state: CoreState, key: str) -> tuple[Parked, ...]:
    """The inputs waiting for ``key``, in the order they came, taken out of the wait."""
    found = state.parked.pop(key, ())
    if found:
        state.changes.parked.add(key)
        _unpark(state, found)
    return found


class _Expiring(Protocol):
    @property
    def expires_at(self) -> int: ...


def _by_expiry(entries: Mapping[str, Sequence[_Expiring]]) -> list[tuple[int, str]]:
    heap = [(e.expires_at, key) for key, waiting in entries.items() for e in waiting]
    heapq.heapify(heap)
    return heap


def _expired(heap: list[tuple[int, str]], entries: Mapping[str, object], mark: int) -> list[str]:
    """The keys, in order, with an entry whose wait ended before ``mark``, taken from
    ``heap``: the caller visits each and notes what it keeps of them."""
    keys = set()
    while heap and heap[0][0] < mark:
        keys.add(heapq.heappop(heap)[1])
    return sorted(key for key in keys if key in entries)


def _note_next(
    state: CoreState, heap: list[tuple[int, str]], entries: Mapping[str, Sequence[_Expiring]]
) -> None:
    """Note the earliest wait still to end (dropping entries taken since)."""
    while heap:
        at, key = heap[0]
        if any(e.expires_at == at for e in entries.get(key, ())):
            state.note_due(at)
            return
        heapq.heappop(heap)


def expire(state: CoreState) -> list[Output]:
    """Refuse every waiting input whose wait has passed the watermark, in key order; a dead
    letter of its own record, and a reply to its sender. Only keys with a wait over are
    visited (``CoreState.parked_by_expiry``), not every waiting input at each due."""
    outputs: list[Output] = []
    mark = state.watermark
    if state.parked_by_expiry is None:
        state.parked_by_expiry = _by_expiry(state.parked)
    for key in _expired(state.parked_by_expiry, state.parked, mark):
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
        _unpark(state, late)
        for p in late:
            hours = state.config.park_wait_ms / 3_600_000
            reason = f"{p.waits_for} did not appear within {hours:g} h of this event"
            for output in refusal(p.event_id, reason, "NeverAppeared", Sender.of(p.sender)):
                assert output.value is not None  # noqa: S101 - a refusal always has a value
                output.value.update(
                    {"record_type": p.record_type, "record": p.record(), "sender": p.sender}
                )
                outputs.append(output)
    _note_next(state, state.parked_by_expiry, state.parked)
    return outputs


def keep_unresolved(state: CoreState, unit_key: str, event: Passage) -> None:
    """Keep a passage whose unit had no IOT_ID, within the limits of the wait."""
    config = state.config
    reads = state.unresolved.get(unit_key, ())
    counts = state.waiting()
    if len(reads) >= config.park_limit_per_key or counts.unresolved >= config.park_limit:
        return  # the UNKNOWN_UNIT stands; a late binding will not move it to this passage
    entry = UnresolvedRead(
        record_text(event),
        event.occurred_at + config.park_wait_ms,
    )
    state.unresolved[unit_key] = (*reads, entry)
    if state.unresolved_by_expiry is not None:
        heapq.heappush(state.unresolved_by_expiry, (entry.expires_at, unit_key))
    counts.unresolved += 1
    state.changes.unresolved.add(unit_key)
    state.note_due(entry.expires_at)


def passages_for(state: CoreState, unit_key: str, bound_from: int) -> list[Passage]:
    """The kept passages of a unit just bound that happened while its binding holds (at or after
    ``bound_from``), oldest first; taken out of the wait."""
    reads = state.unresolved.pop(unit_key, ())
    if not reads:
        return []
    state.changes.unresolved.add(unit_key)
    state.waiting().unresolved -= len(reads)
    found = [r.passage() for r in reads]
    return sorted(
        (p for p in found if p.occurred_at >= bound_from), key=lambda p: (p.occurred_at, p.event_id)
    )


def forget_unresolved(state: CoreState) -> None:
    """Drop kept passages whose wait has passed the watermark (their UNKNOWN_UNIT stands);
    only keys with a wait over are visited (``CoreState.unresolved_by_expiry``)."""
    mark = state.watermark
    if state.unresolved_by_expiry is None:
        state.unresolved_by_expiry = _by_expiry(state.unresolved)
    for key in _expired(state.unresolved_by_expiry, state.unresolved, mark):
        reads = state.unresolved[key]
        kept = tuple(r for r in reads if r.expires_at >= mark)
        if len(kept) == len(reads):
            for r in kept:
                state.note_due(r.expires_at)
            continue
        state.changes.unresolved.add(key)
        state.waiting().unresolved -= len(reads) - len(kept)
        if kept:
            state.unresolved[key] = kept
            for r in kept:
                state.note_due(r.expires_at)
        else:
            del state.unresolved[key]
    _note_next(state, state.unresolved_by_expiry, state.unresolved)
