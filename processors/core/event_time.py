"""Event time: the watermark (the newest event time seen) passes deadlines, retires IOT_IDs and
departed trains, and forgets input ids older than the dedupe horizon."""

from __future__ import annotations

import heapq

from processors import mission
from processors.core import waiting
from processors.core.outputs import Channel, Emitter, speaks_for
from processors.core.passages import move
from processors.core.state import DAY_MS, CoreState
from processors.core.train_exits import retire_train
from processors.identifiers.itu import is_carrier
from processors.parties import Sender


def on_watermark(state: CoreState, out: Emitter) -> None:
    """Deadlines passed and retirements due at the current watermark, in IOT_ID order, then
    departed trains due for retirement, in train id order. Only the IOT_IDs with something due
    are visited (``CoreState.iots_due``): visiting every one took 58 ms per input with 20,000
    IOT_IDs when a deadline passed at each, and wrote every IOT_ID to the changelog."""
    mark = state.watermark
    if state.next_due is None or mark <= state.next_due:
        return
    state.next_due = None
    for iot_id in state.iots_due(mark):
        iot = state.iots[iot_id]
        if iot.position.deadline is not None and iot.position.deadline < mark:
            move(state, iot, mission.Signal.DEADLINE, out)
        iot = state.iots[iot_id]
        if iot.retire_at is not None and iot.retire_at <= mark:
            spoken = [k for k in iot.itu_keys if not is_carrier(k) and speaks_for(state, iot, k)]
            state.retire(iot_id)
            out.tombstone(Channel.IOT_STATE, iot_id)
            out.tombstone(Channel.VERDICT_BY_IOT, iot_id)
            for key in spoken:
                out.tombstone(Channel.VERDICT_BY_ITU, key)
        else:
            state.store(iot)  # re-notes its remaining deadline or retirement
    state.note_earliest_due()
    out.outputs.extend(waiting.expire(state))
    waiting.forget_unresolved(state)
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if train.retire_at is not None and train.retire_at <= mark:
            retire_train(state, train, out)
        elif train.retire_at is not None and (
            state.next_due is None or train.retire_at < state.next_due
        ):
            state.next_due = train.retire_at


def applied_key(sender: Sender, event_id: str) -> str:
    """How an input's id is remembered: per party, so that a record from one party's channel
    can never take the id of another party's input (``CoreState.applied``).

    >>> applied_key(Sender.agency("phytosanitary"), "e1")
    'agency.phytosanitary:e1'
    """
    return f"{sender.principal}:{event_id}"


def forget(state: CoreState, sender: Sender, event_id: str) -> None:
    """Un-note an input's id: it was kept to wait, or refused, not applied (``remember`` takes
    it again)."""
    key = applied_key(sender, event_id)
    if state.applied.pop(key, None) is not None:
        state.changes.applied.add(key)


def beyond_horizon(state: CoreState, at: int) -> str | None:
    """Why an input of event time ``at`` is not applied: older than the dedupe horizon behind
    the watermark, its id may have been forgotten, so a redelivery of it could not be told from
    a new input (a release applied again after its annulment). None when it is within it."""
    horizon = state.watermark - state.config.dedupe_horizon_ms
    if at >= horizon:
        return None
    days = state.config.dedupe_horizon_ms / DAY_MS
    return (
        f"its event time {mission.iso(at)} is older than the dedupe horizon ({days:g} days "
        f"before the latest event time, {mission.iso(state.watermark)}): a redelivery could "
        "not be told from a new input, so it is not applied; send it again with its own time "
        "if it is new"
    )


def remember(state: CoreState, sender: Sender, event_id: str, at: int) -> bool:
    """Note an input's id, as its party's; False when it was applied already (a redelivery).

    An id remembered without its party (``event_id`` alone: restored from a changelog written
    before redeliveries were told apart per party) is a redelivery from any party, until the
    dedupe horizon forgets it."""
    key = applied_key(sender, event_id)
    if key in state.applied or event_id in state.applied:
        return False
    state.applied[key] = at
    state.changes.applied.add(key)
    if state.applied_by_time is not None:
        heapq.heappush(state.applied_by_time, (at, key))
    if state.applied_oldest is None or at < state.applied_oldest:
        state.applied_oldest = at
    return True


def forget_beyond_horizon(state: CoreState, horizon: int) -> None:
    """Forget the remembered input ids older than ``horizon``, oldest first, from the ids by
    time (``CoreState.applied_by_time``, made once from ``applied`` when first needed): each id
    costs one step of the heap once, where rebuilding ``applied`` at each input cost every id
    (226 ms per input with 500,000 ids, once a week of inputs is remembered)."""
    if state.applied_oldest is None or state.applied_oldest >= horizon:
        return
    if state.applied_by_time is None:
        state.applied_by_time = [(at, key) for key, at in state.applied.items()]
        heapq.heapify(state.applied_by_time)
    by_time = state.applied_by_time
    while by_time and by_time[0][0] < horizon:
        at, key = heapq.heappop(by_time)
        if state.applied.get(key) == at:  # else forgotten or remembered again since
            del state.applied[key]
            state.changes.applied.add(key)
    while by_time and state.applied.get(by_time[0][1]) != by_time[0][0]:
        heapq.heappop(by_time)
    state.applied_oldest = by_time[0][0] if by_time else None


def advance_watermark(state: CoreState, out: Emitter) -> None:
    """Move the watermark to this input's time, if later: what falls due then happens, and input
    ids older than the dedupe horizon are forgotten. Something that fell due before the
    watermark (a deadline set by an input that came late) happens now too."""
    if out.at <= state.watermark:
        if state.next_due is not None and state.next_due < state.watermark:
            on_watermark(state, out)
        return
    state.watermark = out.at
    on_watermark(state, out)
    forget_beyond_horizon(state, state.watermark - state.config.dedupe_horizon_ms)
