"""The golden scenarios' inputs, written as code so they stay readable and consistent.

``python -m tests.golden.scenarios`` rewrites ``tests/golden/<name>.in.jsonl`` (plain JSON form)
and, through ``iotrack replay``, ``<name>.out.jsonl``. The expected outputs are then read by a
person and committed; ``test_golden.py`` checks that replay reproduces them exactly and that
each scenario shows what it is about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from processors.identifiers import wagon
from processors.ids import deterministic_uuid7

HERE = Path(__file__).resolve().parent
T0 = 1_795_600_000_000  # 2026-11-25 09:46:40 UTC
MINUTE = 60_000
HOUR = 60 * MINUTE


class Scenario:
    """Builds one scenario's input events in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []

    def add(self, record: str, at: int, source: str, **fields: Any) -> None:
        event_id = deterministic_uuid7(at, self.name, str(len(self.events)))
        self.events.append(
            {
                "type": f"iotrack.{record}",
                "value": {"event_id": event_id, "source": source, "occurred_at": at, **fields},
            }
        )

    def path(
        self, at: int, path_id: str, nodes: list[tuple[str, str, str]], budgets: list[int]
    ) -> None:
        self.add(
            "MissionPathDefined",
            at,
            "customs",
            mission_path_id=path_id,
            version=1,
            nodes=[
                {"node_id": n, "kind": k, "role": r, "customs_relevant": True, "name": None}
                for n, k, r in nodes
            ],
            legs=[
                {"from_node": a[0], "to_node": b[0], "time_budget_ms": budget}
                for a, b, budget in zip(nodes, nodes[1:], budgets, strict=False)
            ],
            defined_by="ADM Livorno",
        )

    def bind(self, at: int, request_id: str, container: str, mrns: list[str], path_id: str) -> None:
        self.add(
            "BindingRequested",
            at,
            "customs",
            request_id=request_id,
            mrns=mrns,
            itus=[{"kind": "CONTAINER", "value": container}],
            mission_path_id=path_id,
            requested_by="officer.rossi",
        )

    def passage(
        self, at: int, node: str, read_point: str, containers: list[str], direction: str = "IN"
    ) -> None:
        self.add(
            "Passage",
            at,
            "iotrack-fusion",
            read_point_id=read_point,
            node_id=node,
            lane="1",
            direction=direction,
            started_at=at,
            ended_at=at + 1500,
            identifiers=[{"kind": "CONTAINER", "value": c} for c in containers],
            evidence=[],
            sensors_agree=True,
        )

    def release(self, at: int, iot_id: str, mrn: str) -> None:
        self.add(
            "CustomsRelease", at, "customs", iot_id=iot_id, mrn=mrn, released_by="officer.rossi"
        )

    def write(self, lines: list[str]) -> None:
        (HERE / f"{self.name}.in.jsonl").write_text(
            "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in self.events)
        )
        (HERE / f"{self.name}.out.jsonl").write_text("".join(line + "\n" for line in lines))


IMPORT_ROAD = [
    ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
    ("PORT-GATE-1", "PORT_GATE", "DESTINATION"),
]
UNITS = ["CSQU3054383", "TCNU7200794", "MSKU6011672", "TEXU3070079"]
MRNS = ["06DE586600006143E1", "26IT000000000001R4", "26IT000000000002R3", "26IT000000000003R2"]


def iot_of(scenario: Scenario, request_id: str) -> str:
    """The IOT_ID the core derives for a binding request (the first one made with that id)."""
    for event in scenario.events:
        value = event["value"]
        if event["type"] == "iotrack.BindingRequested" and value["request_id"] == request_id:
            return deterministic_uuid7(value["occurred_at"], "iot", request_id)
    raise KeyError(request_id)


def vessel_discharge() -> Scenario:
    s = Scenario("vessel-discharge-and-gate-out")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    for n, (unit, mrn) in enumerate(zip(UNITS, MRNS, strict=True)):
        s.bind(T0 + MINUTE + n, f"REQ-{n + 1}", unit, [mrn], "IMPORT-ROAD")
    for n, unit in enumerate(UNITS):
        s.passage(T0 + 10 * MINUTE + 2 * n * MINUTE, "TERMINAL-QUAY-1", "QUAY-1-CRANE-2", [unit])
    for n, mrn in enumerate(MRNS):
        s.release(T0 + 2 * HOUR + n * MINUTE, iot_of(s, f"REQ-{n + 1}"), mrn)
    for n, unit in enumerate(UNITS):
        at = T0 + 5 * HOUR + n * 5 * MINUTE
        s.passage(at, "PORT-GATE-1", "PORT-GATE-1-L2", [unit], "OUT")
        s.add(
            "ExitConfirmed",
            at + MINUTE,
            "gdf",
            iot_id=iot_of(s, f"REQ-{n + 1}"),
            mode="ROAD",
            gate_node_id="PORT-GATE-1",
            confirmed_by="gdf.bianchi",
            plate="AB123CD",
        )
    return s


def fast_corridor() -> Scenario:
    s = Scenario("fast-corridor-to-dry-port")
    s.path(
        T0,
        "CORRIDOR-DRYPORT",
        [
            ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
            ("PORT-GATE-1", "PORT_GATE", "INTERMEDIATE"),
            ("DRY-PORT-GUASTICCE", "DRY_PORT", "DESTINATION"),
        ],
        [24 * HOUR, 6 * HOUR],
    )
    s.bind(T0 + MINUTE, "FC-1", UNITS[0], [MRNS[0]], "CORRIDOR-DRYPORT")
    s.passage(T0 + 30 * MINUTE, "TERMINAL-QUAY-1", "QUAY-1-CRANE-1", [UNITS[0]])
    s.passage(T0 + 3 * HOUR, "PORT-GATE-1", "PORT-GATE-1-L4", [UNITS[0]], "OUT")
    s.passage(T0 + 4 * HOUR, "DRY-PORT-GUASTICCE", "DRY-PORT-GATE-IN", [UNITS[0]])
    s.passage(T0 + 4 * HOUR + 10 * MINUTE, "DRY-PORT-GUASTICCE", "DRY-PORT-YARD", [UNITS[0]])
    s.release(T0 + 5 * HOUR, iot_of(s, "FC-1"), MRNS[0])
    return s


def phyto_hold() -> Scenario:
    s = Scenario("exit-attempt-while-phytosanitary-hold")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    s.bind(T0 + MINUTE, "PH-1", UNITS[1], [MRNS[1]], "IMPORT-ROAD")
    iot = iot_of(s, "PH-1")
    s.passage(T0 + 10 * MINUTE, "TERMINAL-QUAY-1", "QUAY-1-CRANE-1", [UNITS[1]])
    s.release(T0 + HOUR, iot, MRNS[1])
    s.add(
        "HoldPlaced",
        T0 + HOUR + 5 * MINUTE,
        "phyto-service",
        iot_id=iot,
        hold_id="PHY-77",
        agency="PHYTOSANITARY",
        hold_type="PHYSICAL_INSPECTION",
        reason_code="EU2019/2072",
        reason="plant products, inspection at the border control post",
        placed_by="phyto.verdi",
    )
    s.passage(T0 + 2 * HOUR, "PORT-GATE-1", "PORT-GATE-1-L1", [UNITS[1]], "OUT")
    s.add(
        "HoldLifted",
        T0 + 2 * HOUR + 5 * MINUTE,
        "customs",
        iot_id=iot,
        hold_id="PHY-77",
        agency="CUSTOMS",
        hold_type="PHYSICAL_INSPECTION",
        lifted_by="officer.rossi",
    )
    s.add(
        "HoldLifted",
        T0 + 3 * HOUR,
        "phyto-service",
        iot_id=iot,
        hold_id="PHY-77",
        agency="PHYTOSANITARY",
        hold_type="PHYSICAL_INSPECTION",
        lifted_by="phyto.verdi",
        outcome="compliant",
    )
    s.passage(T0 + 3 * HOUR + 20 * MINUTE, "PORT-GATE-1", "PORT-GATE-1-L1", [UNITS[1]], "OUT")
    s.add(
        "ExitConfirmed",
        T0 + 3 * HOUR + 21 * MINUTE,
        "gdf",
        iot_id=iot,
        mode="ROAD",
        gate_node_id="PORT-GATE-1",
        confirmed_by="gdf.bianchi",
    )
    return s


def unknown_unit() -> Scenario:
    s = Scenario("unknown-unit-at-gate")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * 24 * HOUR])
    s.bind(T0 + MINUTE, "UU-1", UNITS[2], [MRNS[2]], "IMPORT-ROAD")
    s.passage(T0 + HOUR, "PORT-GATE-1", "PORT-GATE-1-L3", [UNITS[2], UNITS[3]], "OUT")
    return s


def overdue_leg() -> Scenario:
    s = Scenario("overdue-leg")
    s.path(T0, "QUAY-TO-GATE-2H", IMPORT_ROAD, [2 * HOUR])
    s.bind(T0 + MINUTE, "OD-1", UNITS[3], [MRNS[3]], "QUAY-TO-GATE-2H")
    s.bind(T0 + 2 * MINUTE, "OD-2", UNITS[0], [MRNS[0]], "QUAY-TO-GATE-2H")
    s.passage(T0 + 10 * MINUTE, "TERMINAL-QUAY-1", "QUAY-1-CRANE-3", [UNITS[3]])
    s.passage(T0 + 20 * MINUTE, "TERMINAL-QUAY-1", "QUAY-1-CRANE-3", [UNITS[0]])
    # Other traffic moves event time on: OD-1's gate read never comes.
    s.release(T0 + HOUR, iot_of(s, "OD-2"), MRNS[0])
    s.passage(T0 + HOUR + 30 * MINUTE, "PORT-GATE-1", "PORT-GATE-1-L1", [UNITS[0]], "OUT")
    s.release(T0 + 3 * HOUR, iot_of(s, "OD-2"), MRNS[0])  # resent: changes nothing
    s.passage(T0 + 4 * HOUR, "TERMINAL-QUAY-1", "QUAY-1-CRANE-3", [UNITS[2]])
    return s


RAIL_EXPORT = [
    ("RAIL-YARD-1", "RAIL_YARD", "DEPARTURE"),
    ("RAIL-GATE-1", "RAIL_YARD", "DESTINATION"),
]
WAGONS = [b + wagon.check_digit(b) for b in ("31834478341", "31834478342", "31834478343")]


def _wagons(layout: list[list[int]]) -> list[dict[str, Any]]:
    return [
        {
            "position": position,
            "wagon_number": WAGONS[position - 1],
            "itus": [{"kind": "CONTAINER", "value": UNITS[u]} for u in units],
            "mrns": [MRNS[u] for u in units],
            "transport_document": None,
        }
        for position, units in enumerate(layout, start=1)
    ]


def _consist(s: Scenario, at: int, layout: list[dict[str, Any]], misreads: dict[str, str]) -> None:
    s.add(
        "DetectedConsist",
        at,
        "rail-portal",
        train_id="IT-TR-4711",
        gate_node_id="RAIL-GATE-1",
        read_point_id="RAIL-GATE-1-OCR",
        wagons=[
            {
                "position": n,
                "wagon_number_read": misreads.get(w["wagon_number"], w["wagon_number"]),
                "itus_read": [misreads.get(i["value"], i["value"]) for i in w["itus"]],
                "confidence": 0.93,
            }
            for n, w in enumerate(layout, start=1)
        ],
    )


def _train_ready(s: Scenario) -> list[str]:
    """Four containers bound on the rail path and released; the fourth held by Customs."""
    s.path(T0, "RAIL-EXPORT", RAIL_EXPORT, [2 * 24 * HOUR])
    iots = []
    for n in range(4):
        s.bind(T0 + (n + 1) * MINUTE, f"TR-{n}", UNITS[n], [MRNS[n]], "RAIL-EXPORT")
        iots.append(iot_of(s, f"TR-{n}"))
    for n in range(4):
        s.release(T0 + 10 * MINUTE + n, iots[n], MRNS[n])
    s.add(
        "HoldPlaced",
        T0 + 20 * MINUTE,
        "customs",
        iot_id=iots[3],
        hold_id="H-9",
        agency="CUSTOMS",
        hold_type="DOCUMENT_CHECK",
        reason_code="RISK-12",
        reason="origin to verify",
        placed_by="officer.rossi",
    )
    s.add(
        "TrainLoadingList",
        T0 + 30 * MINUTE,
        "mto.tuscan-rail",
        train_id="IT-TR-4711",
        operator="tuscan-rail",
        planned_departure=T0 + 6 * HOUR,
        items=[{"itu": {"kind": "CONTAINER", "value": UNITS[n]}, "mrn": MRNS[n]} for n in range(4)],
        answered=False,
    )
    return iots


def _manifest(s: Scenario, at: int, version: int, layout: list[dict[str, Any]]) -> None:
    s.add(
        "TrainManifest",
        at,
        "mto.tuscan-rail",
        train_id="IT-TR-4711",
        version=version,
        operator="tuscan-rail",
        wagons=layout,
        supersedes_version=version - 1 if version > 1 else None,
    )


def rail_departure() -> Scenario:
    s = Scenario("rail-held-unit-amended-then-departs")
    iots = _train_ready(s)
    _manifest(s, T0 + HOUR, 1, _wagons([[0, 1], [2, 3]]))
    amended = _wagons([[0, 1], [2]])
    _manifest(s, T0 + 2 * HOUR, 2, amended)
    # The portal misreads one digit of the first wagon and an O for a 0 in a container code:
    # both are repaired against the manifest.
    misreads = {WAGONS[0]: WAGONS[0][:-2] + "7" + WAGONS[0][-1], UNITS[2]: "MSKU6O11672"}
    _consist(s, T0 + 5 * HOUR, amended, misreads)
    for n in range(3):
        s.add(
            "ExitConfirmed",
            T0 + 5 * HOUR + (n + 1) * MINUTE,
            "gdf",
            iot_id=iots[n],
            mode="RAIL",
            gate_node_id="RAIL-GATE-1",
            confirmed_by="gdf.bianchi",
        )
    return s


def rail_swapped_wagon() -> Scenario:
    s = Scenario("rail-swapped-wagon-caught-at-exit")
    iots = _train_ready(s)
    s.add(
        "HoldLifted",
        T0 + 40 * MINUTE,
        "customs",
        iot_id=iots[3],
        hold_id="H-9",
        agency="CUSTOMS",
        hold_type="DOCUMENT_CHECK",
        lifted_by="officer.rossi",
        outcome="origin confirmed",
    )
    layout = _wagons([[0, 1], [2, 3]])
    _manifest(s, T0 + HOUR, 1, layout)
    _consist(s, T0 + 5 * HOUR, [layout[1], layout[0]], {})
    return s


SCENARIOS = (
    vessel_discharge,
    fast_corridor,
    phyto_hold,
    unknown_unit,
    overdue_leg,
    rail_departure,
    rail_swapped_wagon,
)


def main() -> None:
    from streams.replay.run import replay
    from tests.golden.domain import DOMAIN_SCENARIOS

    for build in (*SCENARIOS, *DOMAIN_SCENARIOS):
        scenario = build()
        lines = [json.dumps(e, separators=(",", ":")) for e in scenario.events]
        scenario.write(list(replay(lines)))
        print(f"{scenario.name}: {len(scenario.events)} events")


if __name__ == "__main__":
    main()
