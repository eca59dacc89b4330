"""Arrival order cannot change the outcome: each golden scenario, its events interleaved across
their topics at random (each topic keeping its own order, as Kafka keeps a partition's), ends
with the same verdicts and IOT states as in file order; its deviations are the same too unless
a gate read reached the core before an input it should have come after, and then only the
gate's own judgements differ (the README's "Arrival order" names them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import CoreState, apply
from streams.replay.lines import InputEvent, read_events
from tests.processors.port import HOUR, MINUTE, T0, C, P, Port, box, iot_of, mrn
from topics import catalog

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NAMES = sorted(p.name.removesuffix(".in.jsonl") for p in GOLDEN.glob("*.in.jsonl"))
SCENARIOS = {
    name: list(read_events((GOLDEN / f"{name}.in.jsonl").read_text().splitlines()))
    for name in NAMES
}
READS = frozenset({"iotrack.Passage", "iotrack.DetectedConsist", "iotrack.ExitConfirmed"})
"""What a gate or an officer at it sees: judged against what the core knows when it comes."""
PATHS = catalog.MISSION_PATHS.name
GATE_JUDGED = frozenset(
    {
        "EXIT_WHILE_HELD",
        "EXIT_WITHOUT_RELEASE",
        "READ_AFTER_DEFINITIVE",
        "SKIPPED_NODE",
        "UNEXPECTED_NODE",
        "UNKNOWN_UNIT",
        "CONSIST_MISMATCH",
        "OVERDUE",
    }
)
"""The deviations a read raises from what the core knew when it came (and ``OVERDUE``, raised
when later inputs moved event time past a deadline before the read came): the only ones an
interleaving that sends a read out of event time with the other inputs may change."""


def _outcome(events: Sequence[InputEvent]) -> tuple[dict, dict, Counter]:
    state = CoreState()
    verdicts: dict[str, str] = {}
    states: dict[str, tuple[str, str | None]] = {}
    deviations: Counter[tuple[str, str | None, str | None]] = Counter()
    for event in events:
        state, outputs = apply(state, event.schema, event.value, event.sender)
        for output in outputs:
            if output.to is not None:
                continue
            value = output.value
            if output.schema == "iotrack.ClearanceVerdict" and value and value["itu"] is not None:
                verdicts[output.key] = str(value["verdict"])
            elif output.schema is None and output.channel == "verdict_by_itu":
                verdicts.pop(output.key, None)
            elif output.schema == "iotrack.IotState" and value:
                states[output.key] = (str(value["status"]), value["current_node_id"])
            elif output.schema == "iotrack.Deviation" and value:
                deviations[(str(value["kind"]), value["iot_id"], value["node_id"])] += 1
    return verdicts, states, deviations


def _lanes(events: Sequence[InputEvent]) -> dict[str, list[InputEvent]]:
    lanes: dict[str, list[InputEvent]] = {}
    for event in events:
        lanes.setdefault(event.topic.name, []).append(event)
    return lanes


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[str, list[InputEvent]]:
    """A scenario's events interleaved across their topics; mission paths first (they are the
    deployment's data, loaded before any traffic: ``deploy/mission-paths.jsonl``)."""
    name = draw(st.sampled_from(NAMES))
    lanes = {k: list(v) for k, v in _lanes(SCENARIOS[name]).items()}
    order: list[InputEvent] = lanes.pop(PATHS, [])
    while lanes:
        lane = draw(st.sampled_from(sorted(lanes)))
        order.append(lanes[lane].pop(0))
        if not lanes[lane]:
            del lanes[lane]
    return name, order


@st.composite
def reads_in_time(draw: st.DrawFn) -> tuple[str, list[InputEvent]]:
    """A scenario's events with its reads in event time and everything else interleaved at
    random between them: Customs, the agencies and the rail operators reach the core in any
    order (a release before its binding, a hold before a release), the gates in time."""
    name = draw(st.sampled_from(NAMES))
    events = SCENARIOS[name]
    reads = sorted(
        (e for e in events if e.schema in READS), key=lambda e: int(e.value["occurred_at"])
    )
    rest = [e for e in events if e.schema not in READS and e.topic.name != PATHS]
    order = [e for e in events if e.topic.name == PATHS]
    bounds = [int(r.value["occurred_at"]) for r in reads] + [2**62]
    for read_at, read in zip(bounds, [*reads, None], strict=True):
        segment = [e for e in rest if int(e.value["occurred_at"]) <= read_at]
        rest = [e for e in rest if e not in segment]
        lanes = {k: list(v) for k, v in _lanes(segment).items()}
        while lanes:
            lane = draw(st.sampled_from(sorted(lanes)))
            order.append(lanes[lane].pop(0))
            if not lanes[lane]:
                del lanes[lane]
        if read is not None:
            order.append(read)
    return name, order


def _reads_in_time(order: Sequence[InputEvent]) -> bool:
    """Whether every read comes after every input of an earlier (or the same) event time and
    before every later one: the gate's reads are in event time with everything else."""
    for n, event in enumerate(order):
        if event.schema in READS:
            at = int(event.value["occurred_at"])
            if any(int(e.value["occurred_at"]) <= at for e in order[n + 1 :]):
                return False
            if any(int(e.value["occurred_at"]) > at for e in order[:n]):
                return False
    return True


def _units(event: InputEvent) -> set[str]:
    value = event.value
    if event.schema == "iotrack.BindingRequested":
        return {_key(i) for i in value["itus"]}
    if event.schema == "iotrack.TrainManifest":
        return {_key(i) for w in value["wagons"] for i in w["itus"]}
    return set()


def _key(itu: dict) -> str:
    country = itu.get("country")
    return (
        f"PLATE:{country}:{itu['value']}"
        if itu["kind"] == "PLATE" and country
        else (f"{itu['kind']}:{itu['value']}")
    )


def _manifest_overtook_binding(order: Sequence[InputEvent]) -> set[str]:
    """The units of a manifest that reached the core before Customs' binding of them."""
    overtaken: set[str] = set()
    for n, event in enumerate(order):
        if event.schema == "iotrack.TrainManifest":
            later = {u for e in order[n + 1 :] if e.schema == "iotrack.BindingRequested"
                     for u in _units(e)}  # fmt: skip
            overtaken |= _units(event) & later
    return overtaken


CANONICAL = {name: _outcome(events) for name, events in SCENARIOS.items()}


@settings(max_examples=300, deadline=None)
@given(interleavings())
def test_verdicts_and_iot_states_do_not_depend_on_arrival_order(drawn):
    name, order = drawn
    verdicts, states, deviations = _outcome(order)
    expected_verdicts, expected_states, _ = CANONICAL[name]
    overtaken = _manifest_overtook_binding(order)
    if overtaken:
        # Phase 2: the core binds a manifest's unit that has no IOT_ID itself, so Customs'
        # binding of it coming after is a conflict (README, "Arrival order").
        conflicts = {k for k, _, _ in deviations if k == "BINDING_CONFLICT"}
        assert conflicts, (name, overtaken)
        return
    assert verdicts == expected_verdicts, name
    assert states == expected_states, name


@settings(max_examples=300, deadline=None)
@given(interleavings())
def test_deviations_differ_only_where_a_read_came_early_and_only_the_gates_judgements(drawn):
    name, order = drawn
    _, _, deviations = _outcome(order)
    expected = CANONICAL[name][2]
    if _manifest_overtook_binding(order):
        return  # the test above holds it to its conflicts
    if _reads_in_time(order):
        assert deviations == expected, name
        return
    differing = (deviations - expected) + (expected - deviations)
    assert {kind for kind, _, _ in differing} <= GATE_JUDGED, (name, differing)


@settings(max_examples=300, deadline=None)
@given(reads_in_time())
def test_with_the_reads_in_event_time_the_deviations_are_the_same_too(drawn):
    name, order = drawn
    assert _reads_in_time(order)
    if not _manifest_overtook_binding(order):  # held to its conflicts above
        assert _outcome(order) == CANONICAL[name], name


def test_the_scenarios_are_there_and_some_interleave_across_several_topics():
    assert len(NAMES) >= 13
    assert all(len(_lanes(events)) >= 2 for events in SCENARIOS.values())
    assert json.dumps(sorted(NAMES))


# -- carriers: reads of several read points, and bindings, reach the core in any order ---------

_BOXES = [box(f"00000{n}") for n in range(1, 4)]
_TRUCKS = ["AB123CD", "ZZ999ZZ", "XA123BC"]


@st.composite
def truck_days(draw: st.DrawFn) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """Customs' inputs (bindings, some with a truck, and releases: one topic, in order) and the
    quay's reads at distinct times from read points of their own, each of one or two units on
    one truck, within the day a read of a unit not bound yet is kept for its binding."""
    port = Port(paths=False)
    customs: list[tuple[str, dict]] = []
    for n, unit in enumerate(_BOXES):
        at = T0 + (n + 1) * MINUTE
        itus = [C(unit)]
        truck = draw(st.sampled_from([None, *_TRUCKS]))
        if truck is not None:
            itus.append(P(truck))
        record = port.record(
            at,
            request_id=f"R{n}",
            mrns=[mrn(n + 1)],
            itus=itus,
            mission_path_id="IMPORT-ROAD",
            requested_by="officer",
        )
        customs.append(("BindingRequested", record))
        if draw(st.booleans()):
            released = port.record(
                at + 10 * MINUTE, iot_id=iot_of(at, f"R{n}"), mrn=mrn(n + 1), released_by="o"
            )
            customs.append(("CustomsRelease", released))
    hours = draw(st.lists(st.integers(1, 23), min_size=1, max_size=6, unique=True))
    reads = []
    for n, hour in enumerate(sorted(hours)):
        at = T0 + hour * HOUR
        units = draw(st.lists(st.sampled_from(_BOXES), min_size=1, max_size=2, unique=True))
        truck = draw(st.sampled_from(_TRUCKS))
        record = port.record(
            at,
            read_point_id=f"QUAY-1-RP-{n}",
            node_id="TERMINAL-QUAY-1",
            direction="IN",
            started_at=at,
            ended_at=at + 1500,
            identifiers=[*(C(u) for u in units), P(truck)],
            evidence=[],
            sensors_agree=True,
        )
        reads.append(("Passage", record))
    return customs, reads


def _carriage(order: Sequence[tuple[str, dict]]) -> tuple[dict, dict]:
    """What each truck carries at the end, and the last verdict published under each key."""
    port = Port()
    for name, record in order:
        port.apply(name, record)
    ledger = port.state.ledger
    carried = {k: frozenset(ledger.carried(k)) for k in ledger.intervals if k.startswith("PLATE:")}
    verdicts = {
        key: (v["verdict"], v["may_leave"], frozenset(c["iot_id"] for c in v["carried"]))
        for key, v in port.verdicts().items()
        if v is not None
    }
    return {k: v for k, v in carried.items() if v}, verdicts


@settings(max_examples=200, deadline=None)
@given(truck_days(), st.randoms(use_true_random=False))
def test_which_truck_carries_a_unit_does_not_depend_on_which_read_came_first(drawn, rng):
    customs, reads = drawn
    shuffled = list(reads)
    rng.shuffle(shuffled)
    assert _carriage([*customs, *shuffled]) == _carriage([*customs, *reads])


@settings(max_examples=200, deadline=None)
@given(truck_days(), st.randoms(use_true_random=False))
def test_nor_on_whether_a_unit_s_binding_came_before_or_after_its_reads(drawn, rng):
    customs, reads = drawn
    lanes = [list(customs), rng.sample(reads, len(reads))]
    order = []
    while any(lanes):
        lane = rng.choice([lane for lane in lanes if lane])
        order.append(lane.pop(0))
    assert _carriage(order) == _carriage([*customs, *reads])
