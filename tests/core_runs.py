"""Random golden-like runs of the tracking core, for property tests of what it keeps.

A run takes the input events of one to four golden scenarios (``tests/golden/*.in.jsonl``),
interleaves them at random (each scenario's own order kept, but for some inputs delivered a few
of its inputs late), drops some, delivers some twice, and picks the core's retirement,
redelivery and waiting horizons and the limits of the wait, short ones included, so that the
states it goes through have IOT_IDs at every phase, holds open and lifted, releases, exits,
retirements, trains in every phase, binding conflicts between scenarios that share units,
forgotten input ids, declarations, carriers, inputs waiting for what they refer to (and refused
when it does not come, or when the wait is full) and passages kept for a late binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

from processors.core import DAY_MS, CoreConfig, CoreState, Output, apply
from streams.replay.lines import InputEvent, read_events

GOLDEN = Path(__file__).resolve().parent / "golden"
MINUTE = 60_000
HOUR = 60 * MINUTE


@cache
def scenarios() -> dict[str, tuple[InputEvent, ...]]:
    """Each golden scenario's input events, by name."""
    return {
        path.name.removesuffix(".in.jsonl"): tuple(read_events(path.read_text().splitlines()))
        for path in sorted(GOLDEN.glob("*.in.jsonl"))
    }


@dataclass(frozen=True)
class Run:
    """Inputs for the core, in order, and the rules it runs with."""

    config: CoreConfig
    events: tuple[InputEvent, ...]

    def start(self) -> CoreState:
        """An empty state with the run's rules."""
        return CoreState(config=self.config)


def step(state: CoreState, event: InputEvent) -> tuple[CoreState, list[Output]]:
    """One input through the core, from the party its line names."""
    return apply(state, event.schema, event.value, event.sender)


@st.composite
def runs(draw: st.DrawFn) -> Run:
    """A random golden-like run."""
    found = scenarios()
    names = draw(st.lists(st.sampled_from(sorted(found)), min_size=1, max_size=4, unique=True))
    queues = [[(event, False) for event in found[name]] for name in names]
    events: list[InputEvent] = []
    while any(queues):
        queue = draw(st.sampled_from([q for q in queues if q]))
        event, delayed = queue.pop(0)
        fate = draw(st.integers(0, 19))
        if fate == 0:
            continue  # lost on the way
        if fate == 2 and queue and not delayed:
            # Late, once: after one to three of its scenario's later inputs, so what it refers
            # to may come after it, or an input that refers to it before it.
            queue.insert(draw(st.integers(1, min(3, len(queue)))), (event, True))
            continue
        events.append(event)
        if fate == 1:
            events.append(event)  # delivered twice
    config = CoreConfig(
        retire_after_ms=draw(st.sampled_from([MINUTE, 2 * HOUR, 7 * DAY_MS])),
        dedupe_horizon_ms=draw(st.sampled_from([10 * MINUTE, 3 * HOUR, 7 * DAY_MS])),
        park_wait_ms=draw(st.sampled_from([10 * MINUTE, 2 * HOUR, DAY_MS])),
        park_limit_per_key=draw(st.sampled_from([1, 2, 64])),
        park_limit=draw(st.sampled_from([3, 100_000])),
    )
    return Run(config, tuple(events))
