"""What one input costs the pure core as its state grows, against visiting the whole state.

Four inputs whose cost used to grow with the state, each timed on a state of ``--iots`` IOT_IDs
(or as many waiting inputs), side by side in this process with the same state visited whole,
as the core did before (each old visit reproduced here: ``every_*`` below, the same oracles as
the property tests use):

* dedupe: an input once a week of ids is remembered (each input moves the horizon past the
  oldest id): 5 ids per IOT_ID;
* deadline: an input passing a leg's deadline of a few IOT_IDs (``bench.changelog``'s state);
* wait: an input ending the wait of a few of ``--iots`` kept passages and a fifth as many
  waiting inputs;
* declaration: a declaration's status for one MRN.

Median milliseconds per input; nothing is asserted.

Run: ``.venv/bin/python -m bench.core_scale [--iots 20000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import types
import uuid
from collections.abc import Callable, Iterator
from unittest import mock

from bench.changelog import T0, build
from processors.core import CoreState, apply, event_time, waiting
from processors.core.authority import claimed_sender
from processors.core.outputs import Emitter
from processors.core.state import DAY_MS, Parked, UnresolvedRead
from processors.parties import Sender

CUSTOMS = Sender.of("customs")


def every_id(state: CoreState, horizon: int) -> None:
    """The dedupe horizon as it was: every remembered id visited once the oldest passed it."""
    if state.applied_oldest is not None and state.applied_oldest < horizon:
        state.changes.applied |= {k for k, v in state.applied.items() if v < horizon}
        state.applied = {k: v for k, v in state.applied.items() if v >= horizon}
        state.applied_oldest = min(state.applied.values(), default=None)


@contextlib.contextmanager
def visiting_everything(state: CoreState) -> Iterator[None]:
    state.iots_due = types.MethodType(lambda self, mark: sorted(self.iots), state)  # type: ignore[method-assign]
    state.bound_to = types.MethodType(  # type: ignore[method-assign]
        lambda self, m: [self.iots[i] for i in sorted(self.iots) if m in self.iots[i].mrns], state
    )
    with (
        mock.patch.object(waiting, "_expired", lambda heap, entries, mark: sorted(entries)),
        mock.patch.object(event_time, "forget_beyond_horizon", every_id),
    ):
        yield


def _median_ms(inputs: int, one: Callable[[int], None]) -> float:
    took = []
    for k in range(inputs):
        started = time.perf_counter()
        one(k)
        took.append(1000 * (time.perf_counter() - started))
    return statistics.median(took)


def _send(core: CoreState, schema: str, at: int, k: int, **fields: object) -> None:
    record = {"event_id": str(uuid.UUID(int=k + 1)), "source": "bench", "occurred_at": at}
    record.update(fields)
    apply(core, schema, record, claimed_sender(schema, record))


def dedupe(iots: int) -> tuple[CoreState, Callable[[int], None]]:
    state, ids = CoreState(), 5 * iots
    step = 7 * DAY_MS // ids
    for n in range(ids):
        event_time.remember(state, CUSTOMS, f"e{n}", n * step)
    state.watermark = 7 * DAY_MS

    def one(k: int) -> None:
        at = state.watermark + step
        event_time.remember(state, CUSTOMS, f"new{k}", at)
        event_time.advance_watermark(state, Emitter(f"new{k}", at, CUSTOMS))

    one(-1)  # the heap is made once, at the first input that needs it
    return state, one


def deadline(state: CoreState, iots: int) -> tuple[CoreState, Callable[[int], None]]:
    start = T0 + 3 * DAY_MS + iots + 2000  # the quay reads are at T0 + iots on, ~3 ms apart

    def one(k: int) -> None:
        path = {"node_id": "A", "kind": "TERMINAL", "role": "DEPARTURE", "customs_relevant": True}
        _send(
            state,
            "iotrack.MissionPathDefined",
            start + 100 * k,
            10**7 + k,
            mission_path_id="BENCH-CLOCK",
            version=k + 1,
            defined_by="bench",
            nodes=[
                {**path, "name": None},
                {**path, "node_id": "B", "role": "DESTINATION", "name": None},
            ],
            legs=[{"from_node": "A", "to_node": "B", "time_budget_ms": 1000}],
        )

    return state, one


def wait(iots: int) -> tuple[CoreState, Callable[[int], None]]:
    state, at = CoreState(), 10**12
    for n in range(iots):
        state.unresolved[f"CONTAINER:U{n}"] = (UnresolvedRead("{}", at + n * (DAY_MS // iots)),)
    for n in range(iots // 5):
        ends = at + n * (DAY_MS // (iots // 5))
        parked = Parked("iotrack.HoldPlaced", '{"event_id": "x"}', "customs", str(n), 0, ends, "x")
        state.parked[f"iot:{n}"] = (parked,)
    state.watermark = state.next_due = at

    def one(k: int) -> None:
        event_time.advance_watermark(state, Emitter(f"e{k}", at + (k + 1) * 5000, CUSTOMS))

    one(-1)
    return state, one


def declaration(state: CoreState) -> tuple[CoreState, Callable[[int], None]]:
    number = next(iter(state.iots.values())).mrns[0]

    def one(k: int) -> None:
        status = "UNDER_CONTROL" if k % 2 else "RELEASED"
        _send(
            state,
            "iotrack.DeclarationStatus",
            T0 + 10**9 + k,
            10**8 + k,
            mrn=number,
            state=status,
            declarant="d",
        )

    return state, one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iots", type=int, default=20_000)
    parser.add_argument("--inputs", type=int, default=100)
    args = parser.parse_args()
    scenarios: list[tuple[str, Callable[[], tuple[CoreState, Callable[[int], None]]]]] = [
        ("an input, a week of ids remembered", lambda: dedupe(args.iots)),
        ("an input passing deadlines", lambda: deadline(build(args.iots), args.iots)),
        ("an input ending waits", lambda: wait(args.iots)),
        ("a declaration", lambda: declaration(build(args.iots))),
    ]
    print(f"median ms per input, {args.iots:,} IOT_IDs (or kept passages):")
    print(f"  {'':36s} {'now':>9s} {'whole state visited':>20s}")
    for name, make in scenarios:
        _, one = make()
        now = _median_ms(args.inputs, one)
        state, one = make()
        with visiting_everything(state):
            before = _median_ms(args.inputs, one)
        print(f"  {name:36s} {now:9.3f} {before:20.3f}", flush=True)


if __name__ == "__main__":
    main()
