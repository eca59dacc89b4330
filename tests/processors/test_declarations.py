"""Declarations and releases by event time: the newest decision on an MRN stands, blocking
beats releasing at the same time, and neither arrival order nor a redelivery after the dedupe
horizon changes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import CoreConfig
from tests.processors.port import DAY, HOUR, MINUTE, T0, C, Port, box, iot_of, mrn, refusals

X, Z = box("000001"), box("000003")
M1 = mrn(1)
KEY = f"CONTAINER:{X}"


def _bound() -> tuple[Port, str]:
    port = Port()
    return port, port.bind(T0 + MINUTE, "A", [C(X)], [M1])


@pytest.mark.parametrize("blocking_first", [True, False])
def test_released_and_under_control_at_the_same_time_is_under_control_either_way(blocking_first):
    port, _ = _bound()
    states = ["UNDER_CONTROL", "RELEASED"] if blocking_first else ["RELEASED", "UNDER_CONTROL"]
    for state in states:
        port.declare(T0 + HOUR, M1, state)
    assert port.verdict(KEY)["verdict"] == "NOT_RELEASED"
    assert port.state.declarations[M1].state == "UNDER_CONTROL"


@pytest.mark.parametrize("annulment_first", [True, False])
def test_a_release_and_its_annulment_at_the_same_time_leave_it_not_released(annulment_first):
    port, a = _bound()
    decisions = [True, False] if annulment_first else [False, True]
    for annulled in decisions:
        port.release(T0 + HOUR, a, M1, annulled=annulled)
    assert port.verdict(KEY)["verdict"] == "NOT_RELEASED"


def test_an_older_release_arriving_after_its_annulment_changes_nothing():
    port, a = _bound()
    port.release(T0 + 2 * HOUR, a, M1, annulled=True)
    assert port.release(T0 + HOUR, a, M1) == []
    assert port.verdict(KEY)["verdict"] == "NOT_RELEASED"
    port.release(T0 + 3 * HOUR, a, M1)  # released again, later: it stands
    assert port.may_leave(KEY)


def test_a_release_redelivered_after_the_dedupe_horizon_does_not_undo_its_annulment():
    port, a = _bound()
    release = port.record(T0 + HOUR, iot_id=a, mrn=M1, released_by="officer")
    port.apply("CustomsRelease", release)
    port.release(T0 + 2 * HOUR, a, M1, annulled=True, annuls_event_id=release["event_id"])
    port.passage(T0 + 8 * DAY, "TERMINAL-QUAY-1", "Q1", [C(Z)])  # event time moves on 8 days
    assert not any(k.endswith(release["event_id"]) for k in port.state.applied)
    port.apply("CustomsRelease", release)  # the release again
    assert port.verdict(KEY)["verdict"] == "NOT_RELEASED"


def test_annulling_one_unit_s_release_of_a_declaration_released_by_mrn_is_refused_clearly():
    port, a = _bound()
    port.release(T0 + 10 * MINUTE, a, M1)
    port.declare(T0 + HOUR, M1, "RELEASED")
    outputs = port.release(T0 + 2 * HOUR, a, M1, annulled=True)
    [(kind, reason)] = refusals(outputs)
    assert kind == "ClearanceRefused"
    assert f"MRN {M1} is released by its declaration" in reason
    assert "place a hold" in reason
    assert port.may_leave(KEY)


# -- any arrival order, the same verdict ---------------------------------------------------------

_DECISIONS = st.lists(
    st.tuples(
        st.integers(1, 4),  # hour: ties are likely
        st.sampled_from(
            ["RELEASED", "UNDER_CONTROL", "ANNULLED", "release", "annulment", "hold", "lift"]
        ),
    ),
    min_size=1,
    max_size=8,
)


def _verdict(order: list[tuple[int, str]], accepted_first: bool) -> tuple[str, ...]:
    port = Port()
    at = T0 + MINUTE
    a = iot_of(at, "A")
    if accepted_first:
        port.declare(T0, M1, "ACCEPTED")
    port.bind(at, "A", [C(X)], [M1])
    for hour, what in order:
        when = T0 + hour * HOUR
        if what in ("release", "annulment"):
            port.release(when, a, M1, annulled=what == "annulment")
        elif what in ("hold", "lift"):
            (port.hold if what == "hold" else port.lift)(when, a, "H1", "CUSTOMS")
        else:
            port.declare(when, M1, what)
    value = port.verdict(KEY)
    iot = port.state.iots[a].clearance
    return str(value["verdict"]), str(iot.verdict), *iot.pending_mrns()


@settings(max_examples=300, deadline=None)
@given(_DECISIONS, st.booleans(), st.randoms(use_true_random=False))
def test_the_verdict_does_not_depend_on_the_order_declarations_and_releases_arrive_in(
    decisions, accepted_first, rng
):
    # Declarations and releases in any order; a hold's placing and lifting in theirs (a lift
    # before its hold is refused: that is the hold's state machine, not event time).
    holds = [d for d in decisions if d[1] in ("hold", "lift")]
    shuffled = [d for d in decisions if d[1] not in ("hold", "lift")]
    rng.shuffle(shuffled)
    for hold in holds:
        after = max((n + 1 for n, d in enumerate(shuffled) if d in holds), default=0)
        shuffled.insert(rng.randint(after, len(shuffled)), hold)
    assert _verdict(shuffled, accepted_first) == _verdict(decisions, accepted_first)


def test_an_input_older_than_the_dedupe_horizon_is_refused_with_the_reason():
    # Release, annulment, then the release redelivered more than the horizon (7 days) after the
    # latest event time: its id is forgotten, so it is refused, not applied again.
    port, a = _bound()
    release = port.record(T0 + HOUR, iot_id=a, mrn=M1, released_by="officer")
    port.apply("CustomsRelease", release)
    port.release(T0 + 2 * HOUR, a, M1, annulled=True)
    port.passage(T0 + 8 * DAY, "TERMINAL-QUAY-1", "Q1", [C(Z)])
    [(kind, reason)] = refusals(port.apply("CustomsRelease", release))
    assert kind == "BeyondDedupeHorizon"
    assert "older than the dedupe horizon (7 days before the latest event time" in reason
    assert port.verdict(KEY)["verdict"] == "NOT_RELEASED"
    # Within the horizon an old input is still taken (a hold of 2 days ago, say).
    port.hold(T0 + 6 * DAY, a, "H1", "CUSTOMS")
    assert port.verdict(KEY)["verdict"] == "HELD"


def test_an_input_that_waited_for_its_iot_id_is_applied_however_far_event_time_moved_on():
    port = Port(CoreConfig(dedupe_horizon_ms=HOUR, park_wait_ms=DAY))
    bound_at = T0 + 3 * HOUR
    a = iot_of(bound_at, "A")
    port.release(T0 + MINUTE, a, M1)  # before its binding: it waits (and was within the horizon)
    port.passage(bound_at, "TERMINAL-QUAY-1", "Q1", [C(Z)])  # event time moves on 3 hours
    port.bind(bound_at, "A", [C(X)], [M1])
    assert port.may_leave(KEY)
