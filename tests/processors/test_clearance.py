"""Clearance: only the placing agency lifts, releases per MRN, a journal that keeps everything."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors import clearance as c
from processors.events import Input, parse

MRNS = ("06DE586600006143E1", "26IT000000000001R4")
AGENCIES = ("CUSTOMS", "PHYTOSANITARY", "HEALTH")


def _record(n: int, **fields: object) -> dict[str, object]:
    return {"event_id": f"e{n}", "source": "test", "occurred_at": n, "iot_id": "iot", **fields}


def _event(record_type: str, n: int, **fields: object) -> Input:
    return parse(f"iotrack.{record_type}", _record(n, **fields))


def test_cleared_only_when_every_mrn_is_released_and_no_hold_is_open():
    state = c.new("iot", MRNS)
    assert state.verdict is c.Verdict.NOT_RELEASED
    state, _ = c.release(state, _event("CustomsRelease", 1, mrn=MRNS[0], released_by="o"))
    state, _ = c.place_hold(
        state,
        _event("HoldPlaced", 2, hold_id="h", agency="HEALTH", hold_type="DOC", placed_by="x"),
    )
    state, _ = c.release(state, _event("CustomsRelease", 3, mrn=MRNS[1], released_by="o"))
    assert state.verdict is c.Verdict.HELD
    assert not state.may_leave
    state, _ = c.lift_hold(
        state,
        _event("HoldLifted", 4, hold_id="h", agency="HEALTH", hold_type="DOC", lifted_by="x"),
    )
    assert state.verdict is c.Verdict.CLEARED
    assert state.may_leave


def test_another_agency_cannot_lift_a_hold_and_the_refusal_is_journalled():
    state = c.new("iot", MRNS)
    state, _ = c.place_hold(
        state,
        _event(
            "HoldPlaced",
            1,
            hold_id="h",
            agency="PHYTOSANITARY",
            hold_type="INSPECTION",
            placed_by="p",
        ),
    )
    state, decision = c.lift_hold(
        state,
        _event(
            "HoldLifted", 2, hold_id="h", agency="CUSTOMS", hold_type="INSPECTION", lifted_by="o"
        ),
    )
    assert not decision.accepted
    assert decision.reason == "hold h was placed by PHYTOSANITARY; CUSTOMS cannot lift it"
    assert state.open_holds()
    assert [(e.action, e.accepted) for e in state.journal] == [
        ("HOLD_PLACED", True),
        ("HOLD_LIFTED", False),
    ]


def test_an_annulled_release_is_journalled_not_overwritten():
    state = c.new("iot", MRNS[:1])
    state, _ = c.release(state, _event("CustomsRelease", 1, mrn=MRNS[0], released_by="o"))
    state, _ = c.release(
        state,
        _event(
            "CustomsRelease",
            2,
            mrn=MRNS[0],
            released_by="chief",
            annulled=True,
            reason="wrong declaration",
        ),
    )
    assert state.verdict is c.Verdict.NOT_RELEASED
    assert [(e.action, e.actor, e.reason) for e in state.journal] == [
        ("RELEASED", "o", None),
        ("RELEASE_ANNULLED", "chief", "wrong declaration"),
    ]


commands = st.lists(
    st.tuples(
        st.sampled_from(["place", "lift", "release", "annul"]),
        st.sampled_from(["h1", "h2"]),
        st.sampled_from(AGENCIES),
        st.sampled_from(MRNS),
    ),
    max_size=25,
)


@given(commands)
def test_random_commands_keep_the_rules(steps):
    state = c.new("iot", MRNS)
    placed_by: dict[str, str] = {}
    for n, (kind, hold_id, agency, mrn) in enumerate(steps):
        event = _record(
            n,
            hold_id=hold_id,
            agency=agency,
            hold_type="T",
            placed_by=agency,
            lifted_by=agency,
            mrn=mrn,
            released_by="o",
            annulled=kind == "annul",
        )
        before = state
        if kind == "place":
            state, decision = c.place_hold(state, parse("iotrack.HoldPlaced", event))
            if decision.accepted and hold_id not in placed_by:
                placed_by[hold_id] = agency
        elif kind == "lift":
            state, decision = c.lift_hold(state, parse("iotrack.HoldLifted", event))
            if (
                hold_id in before.holds
                and before.holds[hold_id].state is c.HoldState.OPEN
                and (state.holds[hold_id].state is c.HoldState.LIFTED)
            ):
                assert agency == placed_by[hold_id], "only the placing agency lifts"
        else:
            state, decision = c.release(state, parse("iotrack.CustomsRelease", event))
        assert len(state.journal) >= len(before.journal), "the journal only grows"
        assert state.journal[: len(before.journal)] == before.journal
        open_holds = bool(state.open_holds())
        released = set(MRNS) <= state.released
        assert state.may_leave == (released and not open_holds)
