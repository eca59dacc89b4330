"""The tracking core's changelog: Avro records against the pickles they replaced (no broker).

A core state is built by running the core over N units (a mission path of three nodes; each
unit bound with its MRN, read at the quay; 70 % released; a hold on 6 %, half of them lifted),
then, side by side in this process:

* bytes per tracked IOT_ID: the ``iot:`` record's value (Avro single-object encoded, 10-byte
  header included, against ``pickle.dumps`` of the same ``Tracked`` as the old worker wrote),
  and the whole changelog (every entry's key and value) divided by N;
* encode and decode time per ``iot:`` record: Avro is ``tracked_record`` + the codec's encode,
  and the codec's decode + ``tracked_from`` (its record has no logical type for ``plain`` to
  turn back, so the worker skips it); pickle is ``dumps`` and ``loads``;
* restore time of the whole state: the worker's ``restore`` over every entry's latest record
  (decode, convert, rebuild, check), against the old restore loop (``pickle.loads`` of each
  value into the state's dicts), reproduced here since it is gone from the worker.

Medians of ``--runs`` runs, with the built state frozen out of the garbage collector's passes
(``gc.freeze``) as a starting worker's heap would be; nothing is asserted. Pickle stays here, as
the baseline only: the project itself no longer imports it.

Run: ``.venv/bin/python -m bench.changelog [--units 10000,100000] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

from processors.binding import Ledger
from processors.core import CoreState, apply
from processors.core.authority import claimed_sender
from processors.core.snapshot import changed, tracking
from processors.identifiers import container, mrn
from processors.ids import deterministic_uuid7
from streams.workers.changelog import KeptInputs, Stored, restore
from topics.catalog import CORE_CHANGELOG
from topics.codec import SingleObjectCodec, plain

CODEC = SingleObjectCodec()
T0 = 1_795_600_000_000
NODES = [
    ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
    ("CUSTOMS-AREA-1", "CUSTOMS_AREA", "INTERMEDIATE"),
    ("PORT-GATE-1", "PORT_GATE", "DESTINATION"),
]
PATH = {
    "mission_path_id": "IMPORT-ROAD",
    "version": 1,
    "defined_by": "bench",
    "nodes": [
        {"node_id": n, "kind": k, "role": r, "customs_relevant": True, "name": None}
        for n, k, r in NODES
    ],
    "legs": [
        {"from_node": a[0], "to_node": b[0], "time_budget_ms": 3 * 86_400_000}
        for a, b in itertools.pairwise(NODES)
    ],
}


class Core:
    """The pure core fed one event at a time, as the worker would."""

    def __init__(self) -> None:
        self.state = CoreState()
        self.n = 0

    def feed(self, schema: str, **fields: Any) -> None:
        self.n += 1
        at = T0 + self.n
        event = {
            "event_id": deterministic_uuid7(at, "bench", str(self.n)),
            "source": "bench",
            "occurred_at": at,
            **fields,
        }
        self.state, _ = apply(self.state, schema, event, claimed_sender(schema, event))


def _unit(n: int) -> tuple[str, str]:
    body = f"BNCU{n:06d}"
    declaration = f"26IT{n:012d}R"
    return body + container.check_digit(body), declaration + mrn.check_digit(declaration)


def bind(core: Core, n: int) -> str:
    """Unit ``n`` bound (its container, its MRN) on the path; its IOT_ID."""
    code, declaration = _unit(n)
    core.feed(
        "iotrack.BindingRequested",
        request_id=f"R-{n}",
        mrns=[declaration],
        itus=[{"kind": "CONTAINER", "value": code}],
        mission_path_id="IMPORT-ROAD",
        requested_by="officer.rossi",
    )
    return core.state.ledger.requests[f"R-{n}"]


def history(core: Core, n: int, iot_id: str, *, held: bool, lifted: bool) -> None:
    """Unit ``n`` read at the quay, released 7 times in 10, and a hold placed on it when
    ``held`` (and lifted when ``lifted``)."""
    code, declaration = _unit(n)
    core.feed(
        "iotrack.Passage",
        read_point_id="QUAY-1-CRANE-2",
        node_id="TERMINAL-QUAY-1",
        lane="1",
        direction="IN",
        started_at=T0 + core.n,
        ended_at=T0 + core.n + 1500,
        identifiers=[{"kind": "CONTAINER", "value": code}],
        evidence=[],
        sensors_agree=True,
    )
    if n % 10 < 7:
        core.feed(
            "iotrack.CustomsRelease", iot_id=iot_id, mrn=declaration, released_by="officer.rossi"
        )
    if held:
        hold = {"iot_id": iot_id, "hold_id": f"H-{n}", "agency": "CUSTOMS"}
        core.feed(
            "iotrack.HoldPlaced",
            **hold,
            hold_type="SCANNING",
            reason_code="RISK-3",
            reason="x-ray",
            placed_by="customs.duty",
        )
        if lifted:
            core.feed(
                "iotrack.HoldLifted",
                **hold,
                hold_type="SCANNING",
                lifted_by="customs.duty",
                outcome="clean scan",
            )


def build(units: int) -> CoreState:
    """A state of ``units`` tracked IOT_IDs, made by the core: every unit bound, then every
    unit's history (a hold on 6 %, half of them lifted)."""
    core = Core()
    core.feed("iotrack.MissionPathDefined", **PATH)
    iot_ids = [bind(core, n) for n in range(units)]
    for n in range(units):
        held = n % 50 < 3  # 6 %
        history(core, n, iot_ids[n], held=held, lifted=held and n % 2 == 1)
    return core.state


def pickled_entries(state: CoreState) -> dict[bytes, bytes]:
    """Every entry as the old worker wrote it: ``pickle.dumps`` of the state's own values."""
    entries: dict[bytes, Any] = {}
    entries.update({f"iot:{k}".encode(): v for k, v in state.iots.items()})
    entries.update({f"itu:{k}".encode(): v for k, v in state.ledger.intervals.items()})
    entries.update({f"req:{k}".encode(): v for k, v in state.ledger.requests.items()})
    entries.update({f"path:{k}".encode(): v for k, v in state.paths.items()})
    entries.update({f"seen:{k}".encode(): v for k, v in state.applied.items()})
    entries.update({f"train:{k}".encode(): v for k, v in state.trains.items()})
    entries.update({f"decl:{k}".encode(): v for k, v in state.declarations.items()})
    entries.update({f"park:{k}".encode(): v for k, v in state.parked.items()})
    entries.update({f"unres:{k}".encode(): v for k, v in state.unresolved.items()})
    entries[b"meta"] = {
        "watermark": state.watermark,
        "next_due": state.next_due,
        "applied_oldest": state.applied_oldest,
    }
    return {key: pickle.dumps(value) for key, value in entries.items()}


def pickle_restore(records: dict[bytes, bytes]) -> CoreState:
    """The old worker's restore, as it was."""
    state = CoreState(ledger=Ledger.empty())
    for raw_key, raw_value in records.items():
        value = pickle.loads(raw_value)  # noqa: S301 - the baseline, over bytes made above
        kind, _, name = raw_key.decode().partition(":")
        if kind == "iot":
            state.iots[name] = value
        elif kind == "itu":
            state.ledger.intervals[name] = value
        elif kind == "req":
            state.ledger.requests[name] = value
        elif kind == "path":
            state.paths[name] = value
        elif kind == "seen":
            state.applied[name] = value
        elif kind == "train":
            state.trains[name] = value
        elif kind == "decl":
            state.declarations[name] = value
        elif kind == "park":
            state.parked[name] = value
        elif kind == "unres":
            state.unresolved[name] = value
        elif kind == "meta":
            state.watermark = value["watermark"]
            state.next_due = value["next_due"]
            state.applied_oldest = value.get("applied_oldest")
    state.take_changes()
    return state


def avro_entries(state: CoreState) -> list[Stored]:
    """Every entry as the worker writes it now, at increasing offsets."""
    topic = CORE_CHANGELOG.name
    return [
        Stored(e.key.encode(), CODEC.encode(e.record_type, e.record, topic=topic), 0, n)
        for n, e in enumerate(changed(state, KeptInputs(CODEC)))
        if e.record is not None
    ]


def _median_seconds(runs: int, work: Callable[[], object]) -> float:
    taken = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        taken.append(time.perf_counter() - started)
    return statistics.median(taken)


def measure(units: int, runs: int) -> dict[str, float]:
    started = time.perf_counter()
    state = build(units)
    built = time.perf_counter() - started
    # The worker restores into a nearly empty heap: the built state (and everything made before
    # it) is kept out of the garbage collector's way, so its passes in the timings below walk
    # only what each run makes, as in a core starting up.
    gc.collect()
    gc.freeze()
    tracked = list(state.iots.values())
    kinds = {
        "iot": len(state.iots),
        "itu": len(state.ledger.intervals),
        "req": len(state.ledger.requests),
        "seen": len(state.applied),
        "path": len(state.paths),
    }
    print(
        f"\n{units:,} tracked IOT_IDs, built by the core in {built:.1f} s; entries: "
        + ", ".join(f"{k} {v:,}" for k, v in kinds.items())
    )
    # per tracked IOT_ID
    avro_iot = [
        CODEC.encode("iotrack.state.TrackedIot", tracking.tracked_record(t)) for t in tracked
    ]
    pickle_iot = [pickle.dumps(t) for t in tracked]
    avro_encode = _median_seconds(
        runs,
        lambda: [
            CODEC.encode("iotrack.state.TrackedIot", tracking.tracked_record(t)) for t in tracked
        ],
    )
    pickle_encode = _median_seconds(runs, lambda: [pickle.dumps(t) for t in tracked])
    avro_decode = _median_seconds(  # as the worker does: no plain() for it (no logical types)
        runs, lambda: [tracking.tracked_from(CODEC.decode(b).value) for b in avro_iot]
    )
    pickle_decode = _median_seconds(
        runs,
        lambda: [pickle.loads(b) for b in pickle_iot],  # noqa: S301 - the baseline's own bytes
    )
    assert tracking.tracked_from(plain(CODEC.decode(avro_iot[0]).value)) == tracked[0]
    # the whole state
    stored = avro_entries(state)
    pickled = pickled_entries(state)
    avro_bytes = sum(len(s.key) + len(s.value) for s in stored)
    pickle_bytes = sum(len(k) + len(v) for k, v in pickled.items())
    avro_write = _median_seconds(runs, lambda: avro_entries(_fresh(state)))
    pickle_write = _median_seconds(runs, lambda: pickled_entries(state))
    avro_restore = _median_seconds(runs, lambda: restore(stored, CODEC))
    pickle_restore_s = _median_seconds(runs, lambda: pickle_restore(pickled))
    restored = restore(stored, CODEC)
    state.take_changes()
    assert restored == state, "the restored state differs"
    figures = {
        "units": units,
        "avro_iot_bytes": statistics.mean(len(b) for b in avro_iot),
        "pickle_iot_bytes": statistics.mean(len(b) for b in pickle_iot),
        "avro_bytes_per_iot": avro_bytes / units,
        "pickle_bytes_per_iot": pickle_bytes / units,
        "avro_encode_us": 1e6 * avro_encode / units,
        "pickle_encode_us": 1e6 * pickle_encode / units,
        "avro_decode_us": 1e6 * avro_decode / units,
        "pickle_decode_us": 1e6 * pickle_decode / units,
        "avro_write_s": avro_write,
        "pickle_write_s": pickle_write,
        "avro_restore_s": avro_restore,
        "pickle_restore_s": pickle_restore_s,
        "records": len(stored),
    }
    _report(figures)
    return figures


def _fresh(state: CoreState) -> CoreState:
    """The state with every entry marked changed again, so ``changed`` gives all of them."""
    state.changes.iots |= set(state.iots)
    state.changes.itus |= set(state.ledger.intervals)
    state.changes.requests |= set(state.ledger.requests)
    state.changes.paths |= set(state.paths)
    state.changes.applied |= set(state.applied)
    state.changes.trains |= set(state.trains)
    state.changes.declarations |= set(state.declarations)
    state.changes.parked |= set(state.parked)
    state.changes.unresolved |= set(state.unresolved)
    return state


def _report(f: dict[str, float]) -> None:
    rows = [
        ("bytes per iot: record (mean)", "avro_iot_bytes", "pickle_iot_bytes", "{:,.0f} B"),
        ("bytes per iot: whole changelog / N", "avro_bytes_per_iot", "pickle_bytes_per_iot",
         "{:,.0f} B"),
        ("encode one iot: record", "avro_encode_us", "pickle_encode_us", "{:,.1f} us"),
        ("decode one iot: record", "avro_decode_us", "pickle_decode_us", "{:,.1f} us"),
        (f"write all {f['records']:,} records", "avro_write_s", "pickle_write_s", "{:,.2f} s"),
        (f"restore from all {f['records']:,} records", "avro_restore_s", "pickle_restore_s",
         "{:,.2f} s"),
    ]  # fmt: skip
    print(f"  {'':42} {'avro':>12} {'pickle':>12} {'avro/pickle':>12}")
    for label, avro, baseline, unit in rows:
        print(
            f"  {label:42} {unit.format(f[avro]):>12} {unit.format(f[baseline]):>12} "
            f"{f[avro] / f[baseline]:>11.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for units in (int(u) for u in args.units.split(",")):
        measure(units, args.runs)


if __name__ == "__main__":
    main()
