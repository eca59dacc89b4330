"""The core never crashes on what it is sent: an input it cannot take is refused with a reason,
and every output it makes can be published (a key, a topic). A crash would abort the live
worker's batch and replay it for ever."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.core import Channel, CoreConfig, CoreState
from processors.core.outputs import REPLIED
from processors.core.state import WaitCounts
from processors.parties import PartyKind, Sender
from streams.replay.run import replay
from tests.processors.port import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    WAGONS,
    C,
    P,
    Port,
    box,
    deviations,
    iot_of,
    mrn,
    refusals,
)
from topics import catalog

X, Y, Z = box("000001"), box("000002"), box("000003")
M1, M2 = mrn(1), mrn(2)


def test_a_late_read_of_a_unit_whose_iot_id_retired_since_moves_nothing_and_is_not_unknown():
    port = Port(CoreConfig(retire_after_ms=DAY))  # retired within the dedupe horizon
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.release(T0 + 2 * MINUTE, a, M1)
    port.passage(T0 + HOUR, "PORT-GATE-1", "G1", [C(X)], "OUT")
    port.exit(T0 + HOUR + MINUTE, a)
    port.passage(T0 + 2 * DAY, "TERMINAL-QUAY-1", "Q1", [C(Z)])  # A retires
    assert a not in port.state.iots
    outputs = port.passage(T0 + 30 * MINUTE, "TERMINAL-QUAY-1", "Q1", [C(X)])  # from a spool
    assert deviations(outputs) == []
    assert refusals(outputs) == []


def test_a_binding_end_that_would_take_effect_later_than_it_is_sent_is_refused():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    outputs = port.end(T0 + HOUR, a, valid_to=T0 + 30 * DAY)
    [(kind, reason)] = refusals(outputs)
    assert kind == "InvalidBindingEnd"
    assert "valid_to 2026-12-25T09:46:40Z is after the end's own time" in reason
    assert port.state.iots[a].position.phase == "BOUND"
    port.end(T0 + 2 * HOUR, a, valid_to=T0 + HOUR)  # ended as of an hour before: taken
    port.passage(T0 + 8 * DAY, "TERMINAL-QUAY-1", "Q1", [C(Z)])
    port.passage(T0 + 8 * DAY + MINUTE, "PORT-GATE-1", "G1", [C(X)], "OUT")
    assert a not in port.state.iots


def test_a_second_exit_for_a_train_unit_whose_iot_id_retired_tells_no_train_anything():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1], path="RAIL-EXPORT")
    b = port.bind(T0 + MINUTE, "B", [C(Y)], [M2], path="RAIL-EXPORT")
    port.release(T0 + 2 * MINUTE, a, M1)
    port.release(T0 + 2 * MINUTE, b, M2)
    port.manifest(T0 + HOUR, "IT-1", 1, [[X, Y]], [M1, M2])
    first = port.exit(T0 + 2 * HOUR, a, gate="RAIL-GATE-1")  # before the consist matched
    assert [d["kind"] for d in deviations(first)] == ["SKIPPED_NODE", "CONSIST_MISMATCH"]
    port.passage(T0 + 8 * DAY, "TERMINAL-QUAY-1", "Q1", [C(Z)])  # A retires
    assert a not in port.state.iots
    outputs = port.exit(T0 + 8 * DAY + MINUTE, a, gate="RAIL-GATE-1")
    assert deviations(outputs) == []
    assert outputs == []  # kept to wait for an IOT_ID that will not come back


def test_a_refusal_is_a_reply_only_to_the_parties_that_have_a_replies_topic():
    assert frozenset(catalog.REPLIES.kinds) - {PartyKind.CUSTOMS} == REPLIED
    port = Port()
    outputs = port.send(
        "CustomsRelease",
        T0 + HOUR,
        sender=Sender(PartyKind.TERMINAL, "lsct"),
        iot_id=iot_of(T0, "A"),
        mrn=M1,
        released_by="x",
    )
    assert [o.channel for o in outputs] == [Channel.REFUSALS]


def test_replay_of_a_line_from_a_terminal_s_channel_is_a_dead_letter_not_a_crash():
    line = {
        "type": "iotrack.HoldLifted",
        "from": "terminal.lsct",
        "value": Port(paths=False).record(
            T0, iot_id=iot_of(T0, "A"), hold_id="H1", agency="CUSTOMS", hold_type="X", lifted_by="x"
        ),
    }
    [out] = [json.loads(o) for o in replay([json.dumps(line)])]
    assert out["topic"] == "iotrack.dead-letters.v1"
    assert out["value"]["error_kind"] == "UnauthorisedSender"


# -- random inputs: the core never raises, every output can be published ------------------------

_UNITS = [box(f"00000{n}") for n in range(1, 5)]
_MRNS = [mrn(n) for n in range(1, 4)]
_NODES = ["TERMINAL-QUAY-1", "PORT-GATE-1", "RAIL-YARD-1", "RAIL-GATE-1", "DRY-PORT", "ELSEWHERE"]
_PATHS = {
    "IMPORT-ROAD": [
        ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
        ("PORT-GATE-1", "PORT_GATE", "DESTINATION"),
    ],
    "RAIL-EXPORT": [
        ("RAIL-YARD-1", "RAIL_YARD", "DEPARTURE"),
        ("RAIL-GATE-1", "RAIL_YARD", "DESTINATION"),
    ],
    "CORRIDOR": [
        ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
        ("PORT-GATE-1", "PORT_GATE", "INTERMEDIATE"),
        ("DRY-PORT", "DRY_PORT", "DESTINATION"),
    ],
}


class _Day:
    """The lines of one random day, and what an input of each kind needs drawn."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.port = Port(paths=False)
        self.lines: list[dict[str, Any]] = []
        self.requests: list[str] = []

    def line(self, name: str, at: int, sender: str | None = None, **fields: Any) -> None:
        found: dict[str, Any] = {"type": f"iotrack.{name}", "value": self.port.record(at, **fields)}
        if sender is not None:
            found["from"] = sender
        self.lines.append(found)

    def paths(self) -> None:
        for path_id, nodes in _PATHS.items():
            self.line(
                "MissionPathDefined",
                T0,
                mission_path_id=path_id,
                version=1,
                nodes=[
                    {"node_id": n, "kind": k, "role": r, "customs_relevant": True, "name": None}
                    for n, k, r in nodes
                ],
                legs=[
                    {"from_node": a[0], "to_node": b[0], "time_budget_ms": 3 * HOUR}
                    for a, b in itertools.pairwise(nodes)
                ],
                defined_by="ADM",
            )

    def one(self, n: int, at: int) -> None:
        draw = self.draw
        iot_id = draw(st.sampled_from(self.requests)) if self.requests else iot_of(at, "none")
        units = draw(st.lists(st.sampled_from(_UNITS), min_size=1, max_size=2, unique=True))
        itus = [C(u) for u in units]
        if draw(st.booleans()):
            itus.append(P(draw(st.sampled_from(["AB123CD", "ZZ999ZZ"]))))
        make = draw(st.sampled_from(_MAKERS))
        make(self, n, at, iot_id, units, itus)


def _bind(day: _Day, n: int, at: int, _iot: str, _units: list[str], itus: list[Any]) -> None:
    day.requests.append(iot_of(at, f"R{n}"))
    day.line(
        "BindingRequested",
        at,
        request_id=f"R{n}",
        mrns=day.draw(st.lists(st.sampled_from(_MRNS), min_size=1, max_size=2, unique=True)),
        itus=itus,
        mission_path_id=day.draw(st.sampled_from(sorted(_PATHS))),
        requested_by="o",
    )


def _read(day: _Day, _n: int, at: int, _iot: str, _units: list[str], itus: list[Any]) -> None:
    day.line(
        "Passage",
        at,
        read_point_id=day.draw(st.sampled_from(["RP1", "RP2"])),
        node_id=day.draw(st.sampled_from(_NODES)),
        direction="IN",
        started_at=at,
        ended_at=at,
        identifiers=itus,
        evidence=[],
        sensors_agree=True,
    )


def _release(day: _Day, _n: int, at: int, iot_id: str, _units: list[str], _itus: list[Any]) -> None:
    day.line(
        "CustomsRelease",
        at,
        iot_id=iot_id,
        mrn=day.draw(st.sampled_from(_MRNS)),
        released_by="o",
        annulled=day.draw(st.booleans()),
    )


def _hold(day: _Day, _n: int, at: int, iot_id: str, _units: list[str], _itus: list[Any]) -> None:
    placed = day.draw(st.booleans())
    day.line(
        "HoldPlaced" if placed else "HoldLifted",
        at,
        day.draw(st.sampled_from([None, "agency.phytosanitary", "rail-operator.tuscan-rail"])),
        iot_id=iot_id,
        hold_id=day.draw(st.sampled_from(["H1", "H2"])),
        agency=day.draw(st.sampled_from(["CUSTOMS", "PHYTOSANITARY", "GDF"])),
        hold_type="X",
        **({"placed_by": "o"} if placed else {"lifted_by": "o"}),
    )


def _exit(day: _Day, _n: int, at: int, iot_id: str, _units: list[str], _itus: list[Any]) -> None:
    gate = day.draw(st.sampled_from(["PORT-GATE-1", "RAIL-GATE-1"]))
    day.line("ExitConfirmed", at, iot_id=iot_id, mode="ROAD", gate_node_id=gate, confirmed_by="g")


def _declare(day: _Day, _n: int, at: int, _iot: str, _units: list[str], _itus: list[Any]) -> None:
    day.line(
        "DeclarationStatus",
        at,
        mrn=day.draw(st.sampled_from(_MRNS)),
        state=day.draw(st.sampled_from(["RELEASED", "UNDER_CONTROL", "ANNULLED", "ACCEPTED"])),
    )


def _change(day: _Day, _n: int, at: int, iot_id: str, _units: list[str], itus: list[Any]) -> None:
    day.line(
        "BindingChanged",
        at,
        iot_id=iot_id,
        itus_added=day.draw(st.sampled_from([[], itus[:1], itus[-1:]])),
        itus_removed=day.draw(st.sampled_from([[], [C(day.draw(st.sampled_from(_UNITS)))]])),
        mrns_added=day.draw(st.lists(st.sampled_from(_MRNS), max_size=1)),
        mrns_removed=[],
        changed_by="o",
        reason="r",
    )


def _end(day: _Day, _n: int, at: int, iot_id: str, _units: list[str], _itus: list[Any]) -> None:
    day.line(
        "BindingEnded",
        at,
        iot_id=iot_id,
        reason="CORRECTION",
        ended_by="o",
        valid_to=at + day.draw(st.sampled_from([0, -HOUR, HOUR])),
    )


def _train(day: _Day, _n: int, at: int, _iot: str, units: list[str], _itus: list[Any]) -> None:
    train = day.draw(st.sampled_from(["IT-1", "IT-2"]))
    operator = day.draw(st.sampled_from(["tuscan-rail", "other-rail"]))
    if day.draw(st.booleans()):
        items = [{"itu": C(u), "mrn": day.draw(st.sampled_from(_MRNS))} for u in units]
        day.line("TrainLoadingList", at, train_id=train, operator=operator, items=items)
        return
    wagon = {
        "position": 1,
        "wagon_number": WAGONS[0],
        "itus": [C(u) for u in units],
        "mrns": [day.draw(st.sampled_from(_MRNS))],
        "transport_document": None,
    }
    version = day.draw(st.integers(1, 3))
    day.line(
        "TrainManifest", at, train_id=train, version=version, operator=operator, wagons=[wagon]
    )


def _consist(day: _Day, _n: int, at: int, _iot: str, units: list[str], _itus: list[Any]) -> None:
    day.line(
        "DetectedConsist",
        at,
        train_id=day.draw(st.sampled_from(["IT-1", None])),
        gate_node_id="RAIL-GATE-1",
        read_point_id="RAIL-GATE-1-OCR",
        wagons=[
            {"position": 1, "wagon_number_read": WAGONS[0], "itus_read": units, "confidence": 0.9}
        ],
    )


_MAKERS = (
    _bind, _bind, _read, _read, _read, _release, _hold, _hold, _exit, _declare, _change, _end,
    _train, _train, _consist,
)  # fmt: skip


@st.composite
def port_days(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A random day: bindings, reads, holds, releases, exits, declarations, changes, ends and
    trains over four containers and three MRNs, time mostly going forward, some inputs late,
    some sent twice, some from a channel they do not belong on."""
    day = _Day(draw)
    day.paths()
    at = T0
    for n in range(draw(st.integers(5, 40))):
        at += draw(st.sampled_from([0, 1, MINUTE, HOUR, HOUR, DAY, 4 * DAY, -HOUR, -8 * DAY]))
        day.one(n, at)
        if draw(st.integers(0, 19)) == 0:
            day.lines.append(draw(st.sampled_from(day.lines[3:])))  # a redelivery
    return day.lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(port_days())
def test_random_inputs_never_crash_the_core_and_every_output_has_its_topic_and_key(lines):
    state = CoreState()
    for text in replay([json.dumps(line) for line in lines], state):
        output = json.loads(text)
        assert output["topic"]
        assert output["key"]
    # What waits is counted as it comes and goes, never recounted: the counts hold.
    assert state.waiting() == WaitCounts.of(state)
