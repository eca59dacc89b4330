"""The mission-path state machine: table-driven, never backwards, never twice, always explained."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.events import MissionPathDefined, parse
from processors.mission import (
    TRANSITIONS,
    MissionPath,
    PathError,
    Phase,
    Signal,
    advance,
    classify,
    start,
)

HOUR = 3_600_000


def _defined(fields: dict[str, object]) -> MissionPathDefined:
    header = {"event_id": "e", "source": "test", "occurred_at": 0, "defined_by": "adm"}
    event = parse("iotrack.MissionPathDefined", {**header, **fields})
    assert isinstance(event, MissionPathDefined)
    return event


def _path(destination_kind: str = "PORT_GATE") -> MissionPath:
    return MissionPath.from_event(
        _defined(
            {
                "mission_path_id": "P",
                "version": 1,
                "nodes": [
                    {"node_id": "QUAY", "kind": "TERMINAL", "role": "DEPARTURE"},
                    {"node_id": "SCAN", "kind": "CUSTOMS_AREA", "role": "INTERMEDIATE"},
                    {"node_id": "GATE", "kind": destination_kind, "role": "DESTINATION"},
                ],
                "legs": [
                    {"from_node": "QUAY", "to_node": "SCAN", "time_budget_ms": 2 * HOUR},
                    {"from_node": "SCAN", "to_node": "GATE", "time_budget_ms": HOUR},
                ],
            }
        )
    )


def test_the_happy_path_to_an_exit():
    position = start("iot", _path())
    for at, node in ((1, "QUAY"), (2, "SCAN"), (3, "GATE")):
        moved = advance(position, classify(position, node), at, node)
        assert moved.deviation is None
        position = moved.position
    assert position.phase is Phase.AT_EXIT
    moved = advance(position, Signal.EXIT, 4)
    assert (moved.position.phase, moved.deviation) == (Phase.DEFINITIVE, None)
    assert moved.position.definitive_at == 4


def test_a_skipped_scan_is_named():
    position = advance(start("iot", _path()), Signal.NEXT_NODE, 1, "QUAY").position
    moved = advance(position, classify(position, "GATE"), 2, "GATE")
    assert moved.deviation == "SKIPPED_NODE"
    assert "SCAN" in moved.expected
    assert moved.position.phase is Phase.AT_EXIT


def test_overdue_is_raised_once_per_leg_and_only_after_the_deadline():
    position = advance(start("iot", _path()), Signal.NEXT_NODE, 0, "QUAY").position
    assert advance(position, Signal.DEADLINE, 2 * HOUR).deviation is None
    late = advance(position, Signal.DEADLINE, 2 * HOUR + 1)
    assert late.deviation == "OVERDUE"
    assert advance(late.position, Signal.DEADLINE, 5 * HOUR).deviation is None


def test_a_staying_destination_is_definitive_on_arrival_and_reads_there_are_normal():
    position = start("iot", _path("DRY_PORT"))
    for node in ("QUAY", "SCAN", "GATE"):
        position = advance(position, classify(position, node), 1, node).position
    assert position.phase is Phase.DEFINITIVE
    assert advance(position, classify(position, "GATE"), 2, "GATE").deviation is None
    assert advance(position, classify(position, "QUAY"), 2, "QUAY").deviation == (
        "READ_AFTER_DEFINITIVE"
    )


@pytest.mark.parametrize(
    "nodes",
    [
        [("A", "DEPARTURE")],
        [("A", "DEPARTURE"), ("A", "DESTINATION")],
        [("A", "INTERMEDIATE"), ("B", "DESTINATION")],
    ],
)
def test_unfollowable_paths_are_refused(nodes):
    with pytest.raises(PathError):
        MissionPath.from_event(
            _defined(
                {
                    "mission_path_id": "P",
                    "version": 1,
                    "nodes": [{"node_id": n, "kind": "TERMINAL", "role": r} for n, r in nodes],
                    "legs": [],
                }
            )
        )


inputs = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.sampled_from(["QUAY", "SCAN", "GATE", "ELSEWHERE"])),
        st.tuples(st.just("exit"), st.none()),
        st.tuples(st.just("tick"), st.none()),
        st.tuples(st.just("end"), st.none()),
    ),
    max_size=30,
)


@given(inputs, st.sampled_from(["PORT_GATE", "DRY_PORT"]))
def test_random_sequences_never_go_backwards_never_apply_twice_and_explain_deviations(
    steps, destination
):
    position = start("iot", _path(destination))
    at = 0
    for kind, node in steps:
        at += HOUR
        if kind == "read":
            signal = classify(position, node)
        else:
            signal = {"exit": Signal.EXIT, "tick": Signal.DEADLINE, "end": Signal.END}[kind]
        assert (position.phase, signal) in TRANSITIONS, "the table covers every reachable pair"
        moved = advance(position, signal, at, node)
        after = moved.position
        assert after.index >= position.index, "never backwards along the path"
        assert after.version == position.version + (1 if moved.changed else 0)
        if moved.deviation:
            assert moved.expected
            assert moved.observed
        if position.phase in (Phase.DEFINITIVE, Phase.CLOSED):
            assert after.phase in (Phase.DEFINITIVE, Phase.CLOSED)
        position = after
