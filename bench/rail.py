"""What rail costs the tracking core (pure; no broker needed).

Two questions. What one operator request costs: a loading list of 30 units, a manifest of 15
wagons (30 units), a consist of 15 wagons read at the exit. And what open trains cost every
other event: a hold placed and lifted makes the core re-decide each open train holding that
unit, so the same hold/lift pair is timed with no train open (the baseline, side by side) and
with N open trains of 30 units each, one of which carries the unit.

Run: ``.venv/bin/python -m bench.rail [--trains N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from processors.core import CoreState, apply
from processors.core.authority import claimed_sender
from processors.identifiers import container, mrn, wagon
from processors.ids import deterministic_uuid7

T0 = 1_795_600_000_000
PATH = {
    "mission_path_id": "RAIL-EXPORT",
    "version": 1,
    "defined_by": "bench",
    "nodes": [
        {"node_id": "RAIL-YARD-1", "kind": "RAIL_YARD", "role": "DEPARTURE",
         "customs_relevant": True, "name": None},
        {"node_id": "RAIL-GATE-1", "kind": "RAIL_YARD", "role": "DESTINATION",
         "customs_relevant": True, "name": None},
    ],
    "legs": [{"from_node": "RAIL-YARD-1", "to_node": "RAIL-GATE-1", "time_budget_ms": 10**9}],
}  # fmt: skip


class Core:
    def __init__(self) -> None:
        self.state = CoreState()
        self.n = 0
        self.feed("iotrack.MissionPathDefined", **PATH)

    def feed(self, schema: str, **fields: Any) -> list[Any]:
        self.n += 1
        at = T0 + self.n
        event = {"event_id": deterministic_uuid7(at, "b", str(self.n)), "source": "bench",
                 "occurred_at": at, **fields}  # fmt: skip
        self.state, outputs = apply(self.state, schema, event, claimed_sender(schema, event))
        return outputs


def _unit(n: int) -> tuple[str, str]:
    body = f"BNCU{n:06d}"
    declaration = f"26IT{n:012d}R"
    return body + container.check_digit(body), declaration + mrn.check_digit(declaration)


def _itu(code: str) -> dict[str, Any]:
    return {"kind": "CONTAINER", "value": code, "country": None, "seal_class": None, "issuer": None}


def _bound(core: Core, first: int, count: int) -> list[tuple[str, str, str]]:
    units = []
    for n in range(first, first + count):
        code, declaration = _unit(n)
        [bound] = [
            o
            for o in core.feed(
                "iotrack.BindingRequested",
                request_id=f"R{n}",
                mrns=[declaration],
                itus=[_itu(code)],
                mission_path_id="RAIL-EXPORT",
                requested_by="bench",
            )
            if o.schema == "iotrack.IotBound"
        ]
        iot_id = bound.value["iot_id"]
        core.feed("iotrack.CustomsRelease", iot_id=iot_id, mrn=declaration, released_by="b")
        units.append((code, declaration, iot_id))
    return units


def _wagons(units: list[tuple[str, str, str]], first_wagon: int) -> list[dict[str, Any]]:
    wagons = []
    for p in range(len(units) // 2):
        body = f"3180{first_wagon + p:07d}"
        pair = units[2 * p : 2 * p + 2]
        wagons.append({"position": p + 1, "wagon_number": body + wagon.check_digit(body),
                       "itus": [_itu(c) for c, _, _ in pair], "mrns": [d for _, d, _ in pair],
                       "transport_document": None})  # fmt: skip
    return wagons


def _timed(action: Any, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def one_train(rounds: int) -> dict[str, float]:
    """Median seconds of each operator request on a fresh core with 30 released units."""
    found: dict[str, list[float]] = {"loading list": [], "manifest": [], "consist": []}
    for r in range(rounds):
        core = Core()
        units = _bound(core, 0, 30)
        wagons = _wagons(units, 0)
        train = f"T{r}"
        for name, schema, fields in (
            ("loading list", "iotrack.TrainLoadingList",
             {"operator": "op", "planned_departure": None, "answered": False,
              "items": [{"itu": _itu(c), "mrn": d} for c, d, _ in units]}),
            ("manifest", "iotrack.TrainManifest",
             {"version": 1, "operator": "op", "wagons": wagons, "supersedes_version": None}),
            ("consist", "iotrack.DetectedConsist",
             {"gate_node_id": "RAIL-GATE-1", "read_point_id": "P",
              "wagons": [{"position": w["position"], "wagon_number_read": w["wagon_number"],
                          "itus_read": [i["value"] for i in w["itus"]], "confidence": 0.9}
                         for w in wagons]}),
        ):  # fmt: skip
            started = time.perf_counter()
            core.feed(schema, train_id=train, **fields)
            found[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in found.items()}


def hold_cost(trains: int, rounds: int) -> tuple[float, float]:
    """Median seconds of a hold placed and lifted: no train open, then ``trains`` open (each
    placement and lift changes the verdict, so the train holding the unit is re-decided)."""
    results = []
    for open_trains in (0, trains):
        core = Core()
        units = _bound(core, 0, 30 * max(open_trains, 1))
        for t in range(open_trains):
            mine = units[30 * t : 30 * t + 30]
            core.feed("iotrack.TrainManifest", train_id=f"T{t}", version=1, operator="op",
                      wagons=_wagons(mine, 100 * t), supersedes_version=None)  # fmt: skip
        iot_id = units[0][2]

        def hold_and_lift(core: Core = core, iot_id: str = iot_id) -> None:
            hold = f"H{core.n}"  # a new hold each time: a lifted one cannot be placed again
            common = {"iot_id": iot_id, "hold_id": hold, "agency": "CUSTOMS", "hold_type": "X"}
            core.feed("iotrack.HoldPlaced", **common, reason_code=None, reason=None,
                      placed_by="b")  # fmt: skip
            core.feed("iotrack.HoldLifted", **common, lifted_by="b", outcome=None)

        results.append(_timed(hold_and_lift, rounds))
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trains", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    for name, seconds in one_train(max(5, args.rounds // 10)).items():
        print(f"{name:<13} (30 units): median {seconds * 1e3:7.2f} ms")
    bare, loaded = hold_cost(args.trains, args.rounds)
    print(
        f"hold placed + lifted: median {bare * 1e6:7.1f} us with no train open (baseline), "
        f"{loaded * 1e6:7.1f} us with {args.trains} open trains of 30 units "
        f"({loaded / bare:.1f}x)"
    )


if __name__ == "__main__":
    main()
