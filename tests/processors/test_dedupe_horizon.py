"""Input ids are forgotten once older than the dedupe horizon, exactly as a scan of every
remembered id would forget them, whatever the order of remembering, forgetting and time; and
an id within the horizon is never forgotten, so its redelivery is still recognised."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from processors.core import CoreState
from processors.core.event_time import forget, forget_beyond_horizon, remember
from processors.parties import Sender

SENDERS = [Sender.of("customs"), Sender.of("gdf")]
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("remember"), st.integers(0, 1), st.integers(0, 8), st.integers(0, 20)),
        st.tuples(st.just("forget"), st.integers(0, 1), st.integers(0, 8), st.just(0)),
        st.tuples(st.just("horizon"), st.just(0), st.just(0), st.integers(0, 24)),
    ),
    min_size=10,
    max_size=120,
)


@settings(max_examples=400)
@given(_STEPS)
# an id exactly at the horizon stays (it is not older than it)
@example([("remember", 0, 0, 5), ("remember", 0, 1, 10), ("horizon", 0, 0, 10)])
# an id forgotten (it waited), then remembered again later, is not forgotten by its first time
@example(
    [
        *[("remember", 0, 1, 1), ("remember", 0, 0, 5), ("horizon", 0, 0, 2)],
        *[("forget", 0, 0, 0), ("remember", 0, 0, 15), ("horizon", 0, 0, 10)],
    ]
)
def test_forgetting_by_time_equals_a_scan_of_every_id(steps):
    state, model = CoreState(), {}
    for action, who, n, at in steps:
        sender, event_id = SENDERS[who], f"e{n}"
        key = f"{sender.principal}:{event_id}"
        if action == "remember":
            assert remember(state, sender, event_id, at) == (key not in model)  # else redelivered
            model.setdefault(key, at)
        elif action == "forget":
            forget(state, sender, event_id)
            model.pop(key, None)
        else:
            due = state.applied_oldest is not None and state.applied_oldest < at
            state.changes.applied.clear()
            forget_beyond_horizon(state, at)
            gone = {k for k, v in model.items() if v < at}
            model = {k: v for k, v in model.items() if v >= at}
            assert state.changes.applied == gone
            if due:  # the oldest is then exact, as the changelog's meta record has it
                assert state.applied_oldest == min(model.values(), default=None)
        assert state.applied == model
        if model:
            assert state.applied_oldest is not None
            assert state.applied_oldest <= min(model.values())
