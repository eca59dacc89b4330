"""The tracking core: bindings are idempotent and exclusive, redeliveries apply once."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Channel, CoreConfig, CoreState
from processors.ids import deterministic_uuid7
from tests.offline import apply_claimed

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
T0 = 1_795_600_000_000
PATH = {
    "mission_path_id": "IMPORT-ROAD",
    "version": 1,
    "defined_by": "adm",
    "nodes": [
        {
            "node_id": "QUAY",
            "kind": "TERMINAL",
            "role": "DEPARTURE",
            "customs_relevant": True,
            "name": None,
        },
        {
            "node_id": "GATE",
            "kind": "PORT_GATE",
            "role": "DESTINATION",
            "customs_relevant": True,
            "name": None,
        },
    ],
    "legs": [{"from_node": "QUAY", "to_node": "GATE", "time_budget_ms": 3_600_000}],
}


def _event(n: int, **fields: object) -> dict[str, object]:
    return {
        "event_id": deterministic_uuid7(T0 + n, "t", str(n)),
        "source": "test",
        "occurred_at": T0 + n,
        **fields,
    }


def _request(n: int, request_id: str, container: str = "CSQU3054383") -> dict[str, object]:
    return _event(
        n,
        request_id=request_id,
        mrns=["06DE586600006143E1"],
        itus=[
            {
                "kind": "CONTAINER",
                "value": container,
                "country": None,
                "seal_class": None,
                "issuer": None,
            }
        ],
        mission_path_id="IMPORT-ROAD",
        requested_by="officer",
    )


def _ready() -> CoreState:
    state, _ = apply_claimed(CoreState(), "iotrack.MissionPathDefined", _event(0, **PATH))
    return state


def test_the_same_request_id_gives_one_iot_id_however_often_it_comes():
    state = _ready()
    state, first = apply_claimed(state, "iotrack.BindingRequested", _request(1, "R1"))
    state, again = apply_claimed(state, "iotrack.BindingRequested", _request(2, "R1"))
    [bound] = [o for o in first if o.schema == "iotrack.IotBound"]
    assert again == []
    assert list(state.iots) == [bound.value["iot_id"]]


def test_a_second_active_binding_of_a_unit_on_the_same_path_is_refused_with_a_deviation():
    state = _ready()
    state, _ = apply_claimed(state, "iotrack.BindingRequested", _request(1, "R1"))
    state, outputs = apply_claimed(state, "iotrack.BindingRequested", _request(2, "R2"))
    assert [o.channel for o in outputs] == [Channel.DEVIATIONS, Channel.REFUSALS]
    assert outputs[0].value["kind"] == "BINDING_CONFLICT"
    assert "already bound" in outputs[1].value["reason"]
    assert len(state.iots) == 1


def test_an_invalid_container_in_a_request_is_refused_naming_it():
    state = _ready()
    state, outputs = apply_claimed(
        state, "iotrack.BindingRequested", _request(1, "R1", container="CSQU3054384")
    )
    [refusal] = outputs
    assert refusal.channel is Channel.REFUSALS
    assert "expected 3" in refusal.value["reason"]


def test_a_barcode_iot_id_resolves_a_passage_without_any_container_read():
    state = _ready()
    state, outputs = apply_claimed(state, "iotrack.BindingRequested", _request(1, "R1"))
    iot_id = next(o.value["iot_id"] for o in outputs if o.schema == "iotrack.IotBound")
    passage = _event(
        2,
        read_point_id="QUAY-SCAN",
        node_id="QUAY",
        lane=None,
        direction="IN",
        started_at=T0 + 2,
        ended_at=T0 + 2,
        identifiers=[],
        iot_ids=[iot_id],
        evidence=[],
        sensors_agree=True,
        iso_size_type=None,
        mrns=[],
    )
    state, outputs = apply_claimed(state, "iotrack.Passage", passage)
    [moved] = [o for o in outputs if o.channel is Channel.IOT_STATE]
    assert moved.value["current_node_id"] == "QUAY"


def test_definitive_iot_ids_are_retired_with_tombstones_after_the_retention():
    state = CoreState(config=CoreConfig(retire_after_ms=10_000))
    state, _ = apply_claimed(state, "iotrack.MissionPathDefined", _event(0, **PATH))
    state, outputs = apply_claimed(state, "iotrack.BindingRequested", _request(1, "R1"))
    iot_id = next(o.value["iot_id"] for o in outputs if o.schema == "iotrack.IotBound")
    state, _ = apply_claimed(
        state,
        "iotrack.ExitConfirmed",
        _event(
            5,
            iot_id=iot_id,
            mode="ROAD",
            gate_node_id="GATE",
            confirmed_by="gdf",
            train_id=None,
            plate=None,
        ),
    )
    state, outputs = apply_claimed(
        state, "iotrack.BindingRequested", _request(20_000, "R2", container="TCNU7200794")
    )
    tombstones = {(o.channel, o.key) for o in outputs if o.value is None}
    assert (Channel.IOT_STATE, iot_id) in tombstones
    assert (Channel.VERDICT_BY_IOT, iot_id) in tombstones
    assert iot_id not in state.iots


def _golden_events() -> list[tuple[str, dict]]:
    from streams.replay.lines import read_events

    lines = (GOLDEN / "exit-attempt-while-phytosanitary-hold.in.jsonl").read_text().splitlines()
    return [(e.schema, e.value) for e in read_events(lines)]


@settings(max_examples=30)
@given(st.data())
def test_redelivered_inputs_change_nothing(data):
    events = _golden_events()
    repeats = data.draw(st.lists(st.integers(0, len(events) - 1), max_size=10))
    state, once = CoreState(), []
    for schema, value in events:
        state, outputs = apply_claimed(state, schema, value)
        once.extend(outputs)
    state, twice = CoreState(), []
    for n, (schema, value) in enumerate(events):
        state, outputs = apply_claimed(state, schema, value)
        twice.extend(outputs)
        refused = [o for o in outputs if o.channel in (Channel.REFUSALS, Channel.REPLIES)]
        for _ in range(repeats.count(n)):
            state, again = apply_claimed(state, schema, json.loads(json.dumps(value)))
            # An input applied is applied once; one refused was not applied (nor remembered):
            # sent again, it is refused again, the same way, and changes nothing else.
            assert again == (refused if refused == outputs else [])
    assert twice == once


def test_after_its_exit_a_unit_read_again_is_a_deviation_and_may_be_bound_anew():
    state = _ready()
    state, outputs = apply_claimed(state, "iotrack.BindingRequested", _request(1, "R1"))
    iot_id = next(o.value["iot_id"] for o in outputs if o.schema == "iotrack.IotBound")
    state, _ = apply_claimed(
        state,
        "iotrack.ExitConfirmed",
        _event(
            5,
            iot_id=iot_id,
            mode="ROAD",
            gate_node_id="GATE",
            confirmed_by="gdf",
            train_id=None,
            plate=None,
        ),
    )
    passage = _event(
        9,
        read_point_id="QUAY-SCAN",
        node_id="QUAY",
        lane=None,
        direction="IN",
        started_at=T0 + 9,
        ended_at=T0 + 9,
        iot_ids=[],
        evidence=[],
        identifiers=[
            {
                "kind": "CONTAINER",
                "value": "CSQU3054383",
                "country": None,
                "seal_class": None,
                "issuer": None,
            }
        ],
        sensors_agree=True,
        iso_size_type=None,
        mrns=[],
    )
    state, outputs = apply_claimed(state, "iotrack.Passage", passage)
    assert [o.value["kind"] for o in outputs if o.channel is Channel.DEVIATIONS] == [
        "READ_AFTER_DEFINITIVE"
    ]
    state, outputs = apply_claimed(state, "iotrack.BindingRequested", _request(12, "R-next-voyage"))
    assert any(o.schema == "iotrack.IotBound" for o in outputs)


def test_a_late_read_of_a_retired_iot_id_moves_nothing_and_is_not_a_crash():
    """A unit that reached a staying destination (its binding ended then) and was retired, read
    late with an event time inside its old binding (a reader's spool after a long outage): the
    core used to look the retired IOT_ID up and stop with a KeyError on every restart. The unit
    was bound then, so it is no unknown unit either (tests/processors/test_robustness.py)."""
    dry_port = {
        **PATH,
        "mission_path_id": "TO-DRY-PORT",
        "nodes": [PATH["nodes"][0], {**PATH["nodes"][1], "node_id": "DRY", "kind": "DRY_PORT"}],
        "legs": [{"from_node": "QUAY", "to_node": "DRY", "time_budget_ms": 3_600_000}],
    }
    state = CoreState(config=CoreConfig(retire_after_ms=10_000))
    state, _ = apply_claimed(state, "iotrack.MissionPathDefined", _event(0, **dry_port))
    request = {**_request(1, "R1"), "mission_path_id": "TO-DRY-PORT"}
    state, outputs = apply_claimed(state, "iotrack.BindingRequested", request)
    iot_id = next(o.value["iot_id"] for o in outputs if o.schema == "iotrack.IotBound")

    def passage(n: int, node: str) -> dict[str, object]:
        return _event(
            n,
            read_point_id=f"{node}-1",
            node_id=node,
            lane=None,
            direction="IN",
            started_at=T0 + n,
            ended_at=T0 + n,
            identifiers=[{"kind": "CONTAINER", "value": "CSQU3054383"}],
            iot_ids=[],
            evidence=[],
            sensors_agree=True,
            iso_size_type=None,
            mrns=[],
        )

    state, _ = apply_claimed(state, "iotrack.Passage", passage(1_000, "DRY"))
    state, _ = apply_claimed(state, "iotrack.Passage", passage(60_000, "DRY"))
    assert iot_id not in state.iots  # retired
    state, outputs = apply_claimed(state, "iotrack.Passage", passage(500, "QUAY"))
    assert [o for o in outputs if o.channel in (Channel.DEVIATIONS, Channel.REFUSALS)] == []
