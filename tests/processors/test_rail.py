"""Rail: readiness answers, manifest checks, the train's phases and the consist check at exit,
through the tracking core as a train operator, Customs and the GdF see them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors import rail
from processors.core import Channel, CoreState, Output
from processors.events import DetectedConsist, DetectedWagon, TrainManifest, WagonEntry, parse
from processors.identifiers import container, ilu, mrn, wagon
from processors.ids import deterministic_uuid7
from tests.offline import apply_claimed

T0 = 1_795_600_000_000
RAIL_PATH = {
    "mission_path_id": "RAIL-EXPORT",
    "version": 1,
    "defined_by": "adm",
    "nodes": [
        {
            "node_id": "RAIL-YARD-1",
            "kind": "RAIL_YARD",
            "role": "DEPARTURE",
            "customs_relevant": True,
            "name": None,
        },
        {
            "node_id": "RAIL-GATE-1",
            "kind": "RAIL_YARD",
            "role": "DESTINATION",
            "customs_relevant": True,
            "name": None,
        },
    ],
    "legs": [{"from_node": "RAIL-YARD-1", "to_node": "RAIL-GATE-1", "time_budget_ms": 86_400_000}],
}


def box(n: int) -> str:
    body = f"TRLU{n:06d}"
    return body + container.check_digit(body)


def car(n: int) -> str:
    body = f"3180{n:07d}"
    return body + wagon.check_digit(body)


def declaration(n: int) -> str:
    body = f"26IT{n:012d}R"
    return body + mrn.check_digit(body)


def itu(value: str) -> dict[str, Any]:
    return {
        "kind": "CONTAINER",
        "value": value,
        "country": None,
        "seal_class": None,
        "issuer": None,
    }


class Port:
    """The core with the rail path loaded, fed one event at a time in event-time order."""

    def __init__(self) -> None:
        self.state = CoreState()
        self.n = 0
        self.feed("iotrack.MissionPathDefined", **RAIL_PATH)

    def feed(self, schema: str, **fields: Any) -> list[Output]:
        self.n += 1
        event = {
            "event_id": deterministic_uuid7(T0 + self.n * 1000, "t", str(self.n)),
            "source": "test",
            "occurred_at": T0 + self.n * 1000,
            **fields,
        }
        self.state, outputs = apply_claimed(self.state, schema, event)
        return outputs

    def bind(self, unit: str, number: int) -> str:
        outputs = self.feed(
            "iotrack.BindingRequested",
            request_id=f"R-{unit}",
            mrns=[declaration(number)],
            itus=[itu(unit)],
            mission_path_id="RAIL-EXPORT",
            requested_by="officer",
        )
        [bound] = [o for o in outputs if o.schema == "iotrack.IotBound"]
        return str(bound.value["iot_id"])  # type: ignore[index]

    def release(self, iot_id: str, number: int) -> list[Output]:
        return self.feed(
            "iotrack.CustomsRelease", iot_id=iot_id, mrn=declaration(number), released_by="o"
        )

    def hold(self, iot_id: str) -> list[Output]:
        return self.feed(
            "iotrack.HoldPlaced",
            iot_id=iot_id,
            hold_id="H1",
            agency="CUSTOMS",
            hold_type="PHYSICAL_INSPECTION",
            reason_code="RISK-7",
            reason="risk profile match",
            placed_by="customs.duty",
        )

    def lift(self, iot_id: str) -> list[Output]:
        return self.feed(
            "iotrack.HoldLifted",
            iot_id=iot_id,
            hold_id="H1",
            agency="CUSTOMS",
            hold_type="PHYSICAL_INSPECTION",
            lifted_by="customs.duty",
            outcome="nothing found",
        )


def typed(wagons: list[dict[str, Any]]) -> tuple[WagonEntry, ...]:
    """Manifest wagons as the core takes them."""
    header = {"event_id": "e", "source": "test", "occurred_at": T0}
    event = parse(
        "iotrack.TrainManifest",
        {**header, "train_id": "T", "version": 1, "operator": "op", "wagons": wagons},
    )
    assert isinstance(event, TrainManifest)
    return event.wagons


def detected(read: list[dict[str, Any]]) -> tuple[DetectedWagon, ...]:
    """A portal's wagon reads as the core takes them."""
    header = {"event_id": "e", "source": "test", "occurred_at": T0}
    event = parse(
        "iotrack.DetectedConsist",
        {**header, "gate_node_id": "G", "read_point_id": "P", "wagons": read},
    )
    assert isinstance(event, DetectedConsist)
    return event.wagons


def only(outputs: list[Output], channel: Channel) -> dict[str, Any]:
    [found] = [o.value for o in outputs if o.channel is channel]
    assert found is not None
    return found


def manifest_wagons(units: list[list[str]], numbers: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "position": p,
            "wagon_number": car(p),
            "itus": [itu(u) for u in on_wagon],
            "mrns": [declaration(numbers[u]) for u in on_wagon],
            "transport_document": None,
        }
        for p, on_wagon in enumerate(units, start=1)
    ]


def consist(wagons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "position": n,
            "wagon_number_read": w["wagon_number"],
            "itus_read": [i["value"] for i in w["itus"]],
            "confidence": 0.9,
        }
        for n, w in enumerate(wagons, start=1)
    ]


def test_a_loading_list_answers_each_unit_with_every_reason():
    port = Port()
    ready, held, unreleased = box(1), box(2), box(3)
    numbers = {ready: 1, held: 2, unreleased: 3}
    iot = {u: port.bind(u, numbers[u]) for u in numbers}
    port.release(iot[ready], 1)
    port.release(iot[held], 2)
    port.hold(iot[held])
    items = [
        {"itu": itu(ready), "mrn": declaration(1)},
        {"itu": itu(held), "mrn": declaration(2)},
        {"itu": itu(unreleased), "mrn": None},
        {"itu": itu("TRLU0000099"), "mrn": None},
        {"itu": itu(box(50)), "mrn": declaration(50)},
        {"itu": itu(box(51)), "mrn": None},
        {"itu": itu(ready), "mrn": declaration(9)},
    ]
    outputs = port.feed(
        "iotrack.TrainLoadingList", train_id="T1", operator="op", planned_departure=None,
        items=items, answered=False,
    )  # fmt: skip
    answer = only(outputs, Channel.LOADING_LISTS)
    assert answer["answered"] is True
    reasons = [item["reasons"] for item in answer["items"]]
    assert reasons[0] == []
    assert answer["items"][0]["iot_id"] == iot[ready]
    assert answer["items"][0]["ready"]
    assert reasons[1] == ["HELD: held by CUSTOMS (PHYSICAL_INSPECTION)"]
    assert reasons[2] == [f"NOT_RELEASED: MRN {declaration(3)} not released"]
    assert reasons[3][0].startswith("INVALID_IDENTIFIER: TRLU0000099: check digit")
    assert reasons[4] == [f"UNKNOWN_UNIT: no IOT_ID is bound to CONTAINER:{box(50)}"]
    assert reasons[5][0].startswith("NO_DECLARATION")
    assert [r.split(":")[0] for r in reasons[6]] == ["MRN_NOT_BOUND", "LISTED_TWICE"]
    assert not any("RISK-7" in r for rs in reasons for r in rs), "reason codes are Customs-only"
    status = only(outputs, Channel.TRAINS)
    assert (status["phase"], status["units"], status["units_ready"]) == ("LISTED", 7, 1)


def test_a_unit_on_one_train_is_not_ready_for_another():
    port = Port()
    unit = box(1)
    iot_id = port.bind(unit, 1)
    port.release(iot_id, 1)
    for train in ("T1", "T2"):
        outputs = port.feed(
            "iotrack.TrainLoadingList", train_id=train, operator="op", planned_departure=None,
            items=[{"itu": itu(unit), "mrn": None}], answered=False,
        )  # fmt: skip
    [item] = only(outputs, Channel.LOADING_LISTS)["items"]
    assert item["reasons"] == [f"ON_OTHER_TRAIN: CONTAINER:{unit} is already on train T1"]


def test_a_lifted_hold_turns_the_unit_ready_and_the_answer_is_republished():
    port = Port()
    unit = box(1)
    iot_id = port.bind(unit, 1)
    port.release(iot_id, 1)
    port.hold(iot_id)
    port.feed(
        "iotrack.TrainLoadingList", train_id="T1", operator="op", planned_departure=None,
        items=[{"itu": itu(unit), "mrn": None}], answered=False,
    )  # fmt: skip
    outputs = port.lift(iot_id)
    [item] = only(outputs, Channel.LOADING_LISTS)["items"]
    assert item["ready"] is True
    lift_id = deterministic_uuid7(T0 + port.n * 1000, "t", str(port.n))
    assert only(outputs, Channel.LOADING_LISTS)["caused_by_event_id"] == lift_id
    assert only(outputs, Channel.TRAINS)["units_ready"] == 1


def test_a_train_from_manifest_to_departure_with_an_amendment_and_a_swapped_wagon():
    port = Port()
    units = [box(n) for n in range(1, 7)]
    numbers = {u: n for n, u in enumerate(units, start=1)}
    iot = {u: port.bind(u, numbers[u]) for u in units}
    for u in units:
        port.release(iot[u], numbers[u])
    port.hold(iot[units[5]])
    layout = [units[0:2], units[2:4], units[4:6]]
    wagons = manifest_wagons(layout, numbers)
    refused = port.feed(
        "iotrack.TrainManifest", train_id="T1", version=1, operator="op", wagons=wagons,
        supersedes_version=None,
    )  # fmt: skip
    permission = only(refused, Channel.PERMISSIONS)
    assert permission["granted"] is False
    assert permission["reasons"] == ["HELD: position 3: held by CUSTOMS (PHYSICAL_INSPECTION)"]
    assert only(refused, Channel.MANIFESTS)["version"] == 1

    # The operator amends: the held unit stays behind.
    amended = manifest_wagons([units[0:2], units[2:4], units[4:5]], numbers)
    granted = port.feed(
        "iotrack.TrainManifest", train_id="T1", version=2, operator="op", wagons=amended,
        supersedes_version=1,
    )  # fmt: skip
    assert only(granted, Channel.PERMISSIONS)["granted"] is True
    status = only(granted, Channel.TRAINS)
    assert (status["phase"], status["manifest_versions"]) == ("PERMITTED", [1, 2])
    assert status["iot_ids"] == [iot[u] for u in units[:5]]

    # Wagons 1 and 2 swapped at the exit: permission revoked, Customs sees why.
    swapped = consist([amended[1], amended[0], amended[2]])
    outputs = port.feed(
        "iotrack.DetectedConsist", train_id="T1", gate_node_id="RAIL-GATE-1",
        read_point_id="RAIL-GATE-1-OCR", wagons=swapped,
    )  # fmt: skip
    check = only(outputs, Channel.CONSISTS)
    assert check["matched"] is False
    assert [p.split(":")[0] for p in check["problems"]] == ["SWAPPED_WAGON", "SWAPPED_WAGON"]
    assert only(outputs, Channel.PERMISSIONS)["granted"] is False
    deviations = [o.value for o in outputs if o.channel is Channel.DEVIATIONS]
    assert {d["kind"] for d in deviations} == {"CONSIST_MISMATCH"}  # type: ignore[index]
    assert only(outputs, Channel.TRAINS)["phase"] == "REVOKED"

    # Recomposed and re-sent as v3, the train is read again and matches.
    port.feed(
        "iotrack.TrainManifest", train_id="T1", version=3, operator="op", wagons=amended,
        supersedes_version=2,
    )  # fmt: skip
    outputs = port.feed(
        "iotrack.DetectedConsist", train_id="T1", gate_node_id="RAIL-GATE-1",
        read_point_id="RAIL-GATE-1-OCR", wagons=consist(amended),
    )  # fmt: skip
    check = only(outputs, Channel.CONSISTS)
    assert check["matched"] is True
    assert check["exit_candidates"] == [iot[u] for u in units[:5]]
    states = [o.value for o in outputs if o.channel is Channel.IOT_STATE]
    assert {s["status"] for s in states} == {"AT_NODE"}  # type: ignore[index]
    for u in units[:5]:
        outputs = port.feed(
            "iotrack.ExitConfirmed", iot_id=iot[u], mode="RAIL", gate_node_id="RAIL-GATE-1",
            confirmed_by="gdf",
        )  # fmt: skip
    assert only(outputs, Channel.TRAINS)["phase"] == "DEPARTED"
    assert only(outputs, Channel.IOT_STATE)["status"] == "DEFINITIVE"


def test_a_manifest_binds_units_that_have_no_iot_id_on_the_rail_path():
    port = Port()
    unit = box(7)
    wagons = manifest_wagons([[unit]], {unit: 7})
    outputs = port.feed(
        "iotrack.TrainManifest", train_id="T9", version=1, operator="op", wagons=wagons,
        supersedes_version=None,
    )  # fmt: skip
    bound = only(outputs, Channel.BINDINGS)
    assert bound["mission_path_id"] == "RAIL-EXPORT"
    assert only(outputs, Channel.PERMISSIONS)["reasons"] == [
        f"NOT_RELEASED: position 1: MRN {declaration(7)} not released"
    ]
    outputs = port.release(str(bound["iot_id"]), 7)
    assert only(outputs, Channel.PERMISSIONS)["granted"] is True, "re-decided on the release"


def test_refusals_name_the_train_and_the_problem():
    port = Port()
    wagons = manifest_wagons([[box(1)]], {box(1): 1})
    port.feed(
        "iotrack.TrainManifest", train_id="T1", version=2, operator="op", wagons=wagons,
        supersedes_version=None,
    )  # fmt: skip
    stale = port.feed(
        "iotrack.TrainManifest", train_id="T1", version=1, operator="op", wagons=wagons,
        supersedes_version=None,
    )  # fmt: skip
    assert only(stale, Channel.REFUSALS)["reason"] == ("train T1: manifest v1 is not newer than v2")
    other = port.feed(
        "iotrack.TrainManifest", train_id="T1", version=3, operator="intruder", wagons=wagons,
        supersedes_version=2,
    )  # fmt: skip
    reason = only(other, Channel.REFUSALS)["reason"]
    assert reason == "train T1 is composed by another operator, not intruder"


# -- pure pieces --------------------------------------------------------------------------


def test_every_manifest_problem_is_listed_not_only_the_first():
    wagons = manifest_wagons([[box(1)], [box(1)]], {box(1): 1})
    wagons[1]["itus"].append(itu("TRLU0000099"))
    wagons[1]["mrns"] = []
    wagons[0]["wagon_number"] = "318000000010"
    kinds = [p.code for p in rail.manifest_problems(typed(wagons))]
    assert kinds == ["WAGON_NUMBER", "INVALID_IDENTIFIER", "NO_DECLARATION", "ITU_TWICE"]


def test_a_misread_wagon_and_container_are_repaired_towards_the_manifest():
    wagons = manifest_wagons([[box(1)], [box(2)]], {box(1): 1, box(2): 2})
    read = consist(wagons)
    read[0]["wagon_number_read"] = read[0]["wagon_number_read"][:-1] + "X"
    read[1]["itus_read"] = [box(2).replace("0", "O", 1)]
    found = rail.reconcile(typed(wagons), detected(read))
    assert found.matched, found.problems
    assert len(found.repairs) == 2


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (lambda r: r.pop(1), "MISSING_WAGON"),
        (lambda r: r.append({**r[0], "position": 3, "wagon_number_read": car(9)}), "EXTRA_WAGON"),
        (lambda r: r[0]["itus_read"].append(box(40)), "EXTRA_ITU"),
        (lambda r: r[0]["itus_read"].clear(), "MISSING_ITU"),
        (lambda r: r[1]["itus_read"].append(r[0]["itus_read"].pop()), "MOVED_ITU"),
        (lambda r: r[0].update(wagon_number_read="??"), "UNREADABLE_WAGON"),
    ],
)
def test_each_kind_of_wrong_consist_is_caught(change, kind):
    wagons = manifest_wagons([[box(1)], [box(2)]], {box(1): 1, box(2): 2})
    read = consist(wagons)
    change(read)
    found = rail.reconcile(typed(wagons), detected(read))
    assert not found.matched
    assert kind in [k for k, _, _ in found.problems]


@given(st.integers(2, 12), st.data())
def test_a_consist_matches_only_in_the_manifest_order(count, data):
    wagons = manifest_wagons([[box(n)] for n in range(count)], {box(n): n for n in range(count)})
    order = data.draw(st.permutations(list(range(count))))
    read = consist([wagons[i] for i in order])
    found = rail.reconcile(typed(wagons), detected(read))
    assert found.matched == (list(order) == sorted(order))
    kinds = {k for k, _, _ in found.problems}
    if count >= 3 and list(order) == sorted(order, reverse=True):
        assert kinds == {"REVERSED_CONSIST"}, "one reason, not every wagon swapped"
    elif not found.matched:
        assert kinds == {"SWAPPED_WAGON"}


@given(st.lists(st.sampled_from(list(rail.TrainSignal)), max_size=30))
def test_the_train_phase_follows_only_the_table(signals):
    phase: rail.TrainPhase | None = None
    for signal in signals:
        try:
            after = rail.advance(phase, signal)
        except rail.TrainTransitionError:
            assert (phase, signal) not in rail.TRANSITIONS
            continue
        if after is rail.TrainPhase.CONFIRMING and phase is not rail.TrainPhase.CONFIRMING:
            assert (phase, signal) == (rail.TrainPhase.PERMITTED, rail.TrainSignal.CONSIST_MATCHED)
        if phase is rail.TrainPhase.DEPARTED:
            pytest.fail("a departed train took another signal")
        if phase is rail.TrainPhase.CONFIRMING:
            # waiting for the GdF: it leaves, or a unit's new status revokes the permission
            assert after in (
                rail.TrainPhase.CONFIRMING,
                rail.TrainPhase.DEPARTED,
                rail.TrainPhase.REVOKED,
            )
            assert (after is rail.TrainPhase.REVOKED) == (signal is rail.TrainSignal.REFUSED)
        phase = after


def test_a_departed_train_leaves_the_rail_topics_after_the_retention():
    port = Port()
    unit = box(1)
    iot_id = port.bind(unit, 1)
    port.release(iot_id, 1)
    wagons = manifest_wagons([[unit]], {unit: 1})
    port.feed("iotrack.TrainManifest", train_id="T1", version=1, operator="op", wagons=wagons,
              supersedes_version=None)  # fmt: skip
    port.feed("iotrack.DetectedConsist", train_id="T1", gate_node_id="RAIL-GATE-1",
              read_point_id="P", wagons=consist(wagons))  # fmt: skip
    port.feed("iotrack.ExitConfirmed", iot_id=iot_id, mode="RAIL", gate_node_id="RAIL-GATE-1",
              confirmed_by="gdf")  # fmt: skip
    assert port.state.trains["T1"].phase is rail.TrainPhase.DEPARTED
    port.n += 8 * 24 * 3600  # a week and a day of other traffic later
    outputs = port.feed("iotrack.MissionPathDefined", **RAIL_PATH)
    tombstones = {(o.channel, o.key) for o in outputs if o.value is None}
    assert {
        (Channel.TRAINS, "T1"),
        (Channel.LOADING_LISTS, "T1"),
        (Channel.PERMISSIONS, "T1"),
        (Channel.MANIFESTS, "T1:1"),
        (Channel.CONSISTS, "T1:P"),
    } <= tombstones
    assert "T1" not in port.state.trains


def test_a_portal_read_without_a_train_id_is_matched_to_its_train_by_wagon_numbers():
    port = Port()
    units = [box(1), box(2)]
    numbers = {u: n for n, u in enumerate(units, start=1)}
    for u in units:
        port.release(port.bind(u, numbers[u]), numbers[u])
    wagons = manifest_wagons([units[:1], units[1:]], numbers)
    port.feed("iotrack.TrainManifest", train_id="T7", version=1, operator="op", wagons=wagons,
              supersedes_version=None)  # fmt: skip
    outputs = port.feed("iotrack.DetectedConsist", train_id=None, gate_node_id="RAIL-GATE-1",
                        read_point_id="P", wagons=consist(wagons))  # fmt: skip
    check = only(outputs, Channel.CONSISTS)
    assert (check["train_id"], check["matched"]) == ("T7", True)
    strangers = consist(manifest_wagons([[box(8)]], {box(8): 8}))
    strangers[0]["wagon_number_read"] = car(99)
    outputs = port.feed("iotrack.DetectedConsist", train_id=None, gate_node_id="RAIL-GATE-1",
                        read_point_id="P", wagons=strangers)  # fmt: skip
    assert (
        only(outputs, Channel.DEVIATIONS)["expected"] == "a manifest for train (no train id read)"
    )


# -- review cases ----------------------------------------------------------------------------


def _permitted_train(port: Port, train: str, units: list[str], first: int = 1) -> dict[str, str]:
    numbers = {u: first + n for n, u in enumerate(units)}
    iot = {u: port.bind(u, numbers[u]) for u in units}
    for u in units:
        port.release(iot[u], numbers[u])
    wagons = manifest_wagons([units[i : i + 2] for i in range(0, len(units), 2)], numbers)
    outputs = port.feed("iotrack.TrainManifest", train_id=train, version=1, operator="op",
                        wagons=wagons, supersedes_version=None)  # fmt: skip
    assert only(outputs, Channel.PERMISSIONS)["granted"] is True
    port.wagons = wagons  # type: ignore[attr-defined]
    return iot


def _read(port: Port, train: str, wagons: list[dict[str, Any]]) -> list[Output]:
    return port.feed("iotrack.DetectedConsist", train_id=train, gate_node_id="RAIL-GATE-1",
                     read_point_id="P", wagons=consist(wagons))  # fmt: skip


def test_a_revoked_train_read_correctly_gets_no_exit_candidates_until_amended():
    port = Port()
    units = [box(n) for n in range(1, 5)]
    _permitted_train(port, "T1", units)
    wagons = port.wagons  # type: ignore[attr-defined]
    _read(port, "T1", [wagons[1], wagons[0]])
    check = only(_read(port, "T1", wagons), Channel.CONSISTS)
    assert (check["matched"], check["exit_candidates"]) == (False, [])
    assert check["problems"][0].startswith("NO_PERMISSION")
    assert port.state.trains["T1"].phase is rail.TrainPhase.REVOKED


def test_a_repeated_or_foreign_wagon_does_not_pass_for_a_manifest_one():
    wagons = manifest_wagons([[box(1)], [box(2)]], {box(1): 1, box(2): 2})
    read = consist([wagons[0], wagons[1], wagons[0]])
    assert "DUPLICATE_WAGON" in [
        k for k, _, _ in rail.reconcile(typed(wagons), detected(read)).problems
    ]
    foreign = consist(wagons)
    number = foreign[0]["wagon_number_read"]
    foreign.append({**foreign[0], "position": 3, "wagon_number_read": number[:-1] + "X"})
    found = rail.reconcile(typed(wagons), detected(foreign))
    assert not found.matched, "one digit off a wagon already read is not that wagon again"


def test_a_later_loading_list_does_not_block_a_permitted_train_nor_learn_its_name():
    port = Port()
    units = [box(1), box(2)]
    iot = _permitted_train(port, "T1", units)
    outputs = port.feed("iotrack.TrainLoadingList", train_id="T2", operator="other",
                        planned_departure=None, items=[{"itu": itu(units[0]), "mrn": None}],
                        answered=False)  # fmt: skip
    [item] = only(outputs, Channel.LOADING_LISTS)["items"]
    assert item["reasons"] == [
        f"ON_OTHER_TRAIN: CONTAINER:{units[0]} is already on a train of another operator"
    ]
    port.hold(iot[units[1]])
    port.lift(iot[units[1]])
    assert port.state.trains["T1"].permission == (True, ())


def test_a_hold_placed_while_the_gdf_confirms_revokes_the_permission():
    port = Port()
    units = [box(1), box(2)]
    iot = _permitted_train(port, "T1", units)
    _read(port, "T1", port.wagons)  # type: ignore[attr-defined]
    assert port.state.trains["T1"].phase is rail.TrainPhase.CONFIRMING
    outputs = port.hold(iot[units[0]])
    permission = only(outputs, Channel.PERMISSIONS)
    assert permission["granted"] is False
    assert permission["reasons"] == ["HELD: position 1: held by CUSTOMS (PHYSICAL_INSPECTION)"]
    assert only(outputs, Channel.TRAINS)["phase"] == "REVOKED"


def test_exits_through_the_train_keep_its_permission_and_an_early_exit_is_a_deviation():
    port = Port()
    units = [box(1), box(2), box(3), box(4)]
    iot = _permitted_train(port, "T1", units)
    outputs = port.feed("iotrack.ExitConfirmed", iot_id=iot[units[0]], mode="RAIL",
                        gate_node_id="RAIL-GATE-1", confirmed_by="gdf")  # fmt: skip
    observed = [o.value["observed"] for o in outputs if o.channel is Channel.DEVIATIONS]
    assert any(text.startswith("EXIT_BEFORE_CONSIST") for text in observed)

    port = Port()
    iot = _permitted_train(port, "T2", units[:2])
    _read(port, "T2", port.wagons)  # type: ignore[attr-defined]
    port.feed("iotrack.ExitConfirmed", iot_id=iot[units[0]], mode="RAIL",
              gate_node_id="RAIL-GATE-1", confirmed_by="gdf")  # fmt: skip
    assert port.state.trains["T2"].phase is rail.TrainPhase.CONFIRMING, "still leaving"


def test_wagon_mrns_must_cover_the_unit_they_carry():
    port = Port()
    unit = box(1)
    port.release(port.bind(unit, 1), 1)
    wagons = manifest_wagons([[unit]], {unit: 77})
    outputs = port.feed("iotrack.TrainManifest", train_id="T1", version=1, operator="op",
                        wagons=wagons, supersedes_version=None)  # fmt: skip
    assert only(outputs, Channel.PERMISSIONS)["reasons"] == [
        f"MRN_NOT_BOUND: position 1: none of the wagon's MRNs ({declaration(77)}) is bound to "
        f"CONTAINER:{unit}"
    ]


def test_a_swap_body_read_as_on_the_manifest_and_an_ilu_with_a_misread_category_match():
    ilu_body = "TRLA000123"
    code = ilu_body + ilu.check_digit(ilu_body)
    wagons = [
        {"position": 1, "wagon_number": car(1), "transport_document": "CIM-1", "mrns": [],
         "itus": [{"kind": "SWAP_BODY", "value": "SB12345"}, {"kind": "ILU", "value": code}]},
    ]  # fmt: skip
    read = [{"position": 1, "wagon_number_read": car(1), "confidence": 0.9,
             "itus_read": ["SB 12345", code[:3] + "4" + code[4:]]}]  # fmt: skip
    found = rail.reconcile(typed(wagons), detected(read))
    assert found.matched, found.problems


def test_a_train_with_no_unit_departs_when_its_consist_matches():
    port = Port()
    wagons = [{"position": 1, "wagon_number": car(1), "itus": [], "mrns": [],
               "transport_document": None}]  # fmt: skip
    port.feed("iotrack.TrainManifest", train_id="EMPTY", version=1, operator="op",
              wagons=wagons, supersedes_version=None)  # fmt: skip
    _read(port, "EMPTY", wagons)
    assert port.state.trains["EMPTY"].phase is rail.TrainPhase.DEPARTED


def test_once_the_consist_matched_the_composition_is_final():
    port = Port()
    units = [box(1), box(2)]
    _permitted_train(port, "T1", units)
    _read(port, "T1", port.wagons)  # type: ignore[attr-defined]
    outputs = port.feed("iotrack.TrainManifest", train_id="T1", version=2, operator="op",
                        wagons=port.wagons, supersedes_version=1)  # type: ignore[attr-defined]  # fmt: skip
    assert only(outputs, Channel.REFUSALS)["reason"] == (
        "train T1: a train confirming cannot take MANIFESTED"
    )
    assert port.state.trains["T1"].phase is rail.TrainPhase.CONFIRMING
