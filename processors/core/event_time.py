"""Event time: the watermark (the newest event time seen) passes deadlines, retires IOT_IDs and
departed trains, and forgets input ids older than the dedupe horizon."""

from __future__ import annotations

from processors import mission
from processors.core import waiting
from processors.core.outputs import Channel, Emitter
from processors.core.passages import move
from processors.core.state import CoreState
from processors.core.train_exits import retire_train


def on_watermark(state: CoreState, out: Emitter) -> None:
    """Deadlines passed and retirements due at the current watermark, in IOT_ID order, then
    departed trains due for retirement, in train id order."""
    mark = state.watermark
    if state.next_due is None or mark <= state.next_due:
        return
    state.next_due = None
    for iot_id in sorted(state.iots):
        iot = state.iots[iot_id]
        if iot.position.deadline is not None and iot.position.deadline < mark:
            move(state, iot, mission.Signal.DEADLINE, out)
        iot = state.iots[iot_id]
        if iot.retire_at is not None and iot.retire_at <= mark:
            del state.iots[iot_id]
            state.changes.iots.add(iot_id)
            out.tombstone(Channel.IOT_STATE, iot_id)
            out.tombstone(Channel.VERDICT_BY_IOT, iot_id)
            for key in iot.itu_keys:
                if not any(i.iot_id != iot_id for i in state.ledger.active(key)):
                    out.tombstone(Channel.VERDICT_BY_ITU, key)
        else:
            state.store(iot)  # re-notes its remaining deadline or retirement
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


def forget(state: CoreState, event_id: str) -> None:
    """Un-note an input's id: it was kept to wait, not applied (``remember`` takes it again)."""
    if state.applied.pop(event_id, None) is not None:
        state.changes.applied.add(event_id)


def remember(state: CoreState, event_id: str, at: int) -> bool:
    """Note an input's id; False when it was applied already (a redelivery)."""
    if event_id in state.applied:
        return False
    state.applied[event_id] = at
    state.changes.applied.add(event_id)
    if state.applied_oldest is None or at < state.applied_oldest:
        state.applied_oldest = at
    return True


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
    horizon = state.watermark - state.config.dedupe_horizon_ms
    if state.applied_oldest is not None and state.applied_oldest < horizon:
        forgotten = {k for k, v in state.applied.items() if v < horizon}
        state.applied = {k: v for k, v in state.applied.items() if v >= horizon}
        state.changes.applied |= forgotten
        state.applied_oldest = min(state.applied.values(), default=None)
