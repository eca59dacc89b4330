"""The Customs gauges per batch: kept from what a batch changed, against the scan they replaced.

A core state holds ``--kept`` passages of units with no IOT_ID (kept for a late binding, as
the core allows up to 100,000) and a fifth as many inputs waiting for their IOT_ID. Each
simulated batch changes ``--batch`` of those entries; side by side in this process:

* scan: the gauges worked out as the worker did before, every waiting input visited per batch
  (reproduced here since it is gone from the worker);
* kept: ``CustomsView.take_waiting`` of the batch's changed keys and ``export``.

Milliseconds per batch, medians of ``--runs``; nothing is asserted.

Run: ``.venv/bin/python -m bench.core_gauges [--kept 100000] [--batch 20] [--runs 50]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from processors.core import CoreState
from processors.core.state import Parked, UnresolvedRead
from streams.ops import metrics
from streams.workers.core_metrics import WAITING_KINDS, CustomsView


def _state(kept: int) -> CoreState:
    state = CoreState()
    for n in range(kept):
        state.unresolved[f"CONTAINER:U{n}"] = (UnresolvedRead("{}", 10**12 + n),)
    for n in range(kept // 5):
        parked = Parked("iotrack.HoldPlaced", "{}", "customs", str(n), n, n, "iot")
        state.parked[f"iot:{n}"] = (parked,)
    return state


def _scan(state: CoreState) -> None:
    times: dict[str, list[int]] = {kind: [] for kind in WAITING_KINDS}
    for key, waiting in state.parked.items():
        kind = "iot_id" if key.startswith("iot:") else "mission_path"
        times[kind] += [p.occurred_at for p in waiting]
    for reads in state.unresolved.values():
        times["late_binding"] += [r.expires_at - state.config.park_wait_ms for r in reads]
    for kind, found in times.items():
        metrics.WAITING_INPUTS.labels(kind).set(len(found))
        age = (state.watermark - min(found)) / 1000 if found else 0
        metrics.WAITING_OLDEST_AGE.labels(kind).set(max(0.0, age))


def _median_ms(call: Callable[[], None], runs: int) -> float:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        took.append(1000 * (time.perf_counter() - started))
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kept", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    state = _state(args.kept)
    view = CustomsView()
    view.rebuild(state)
    changed = [f"unres:CONTAINER:U{n}" for n in range(args.batch)]

    def kept() -> None:
        view.take_waiting(state, changed)
        view.export(state.watermark)

    scan_ms = _median_ms(lambda: _scan(state), args.runs)
    kept_ms = _median_ms(kept, args.runs)
    print(f"{args.kept:,} kept passages, {args.kept // 5:,} inputs waiting, {args.batch} changed:")
    print(f"  scan of every waiting input (before): {scan_ms:8.3f} ms per batch")
    print(f"  kept from the changed keys (now):     {kept_ms:8.3f} ms per batch")


if __name__ == "__main__":
    main()
