"""The core worker's changelog: a restart at any point between batches resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.core import CoreState, Output, apply
from streams.replay.lines import read_events
from streams.workers.core import _changelog_records, restore

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def _run(state: CoreState, events: list) -> list[Output]:
    outputs: list[Output] = []
    for event in events:
        state, produced = apply(state, event.schema, event.value, event.sender)
        outputs += produced
    return outputs


@pytest.mark.parametrize(
    "name", ["rail-held-unit-amended-then-departs", "exit-attempt-while-phytosanitary-hold"]
)
def test_a_restart_from_the_changelog_after_any_event_gives_the_same_outputs(name):
    events = list(read_events((GOLDEN / f"{name}.in.jsonl").read_text().splitlines()))
    for cut in range(len(events) + 1):
        state = CoreState()
        changelog: dict[bytes, bytes] = {}
        for event in events[:cut]:
            state, _ = apply(state, event.schema, event.value, event.sender)
            for key, value in _changelog_records(state):  # one batch per event
                if value is None:
                    changelog.pop(key, None)
                else:
                    changelog[key] = value
        expected = state
        restarted = restore(changelog)
        assert restarted.trains == expected.trains, f"trains after {cut} events"
        assert restarted.iots == expected.iots, f"IOT_IDs after {cut} events"
        rest = events[cut:]
        assert _run(restarted, rest) == _run(_replayed(events[:cut]), rest)


def _replayed(events: list) -> CoreState:
    state = CoreState()
    for event in events:
        state, _ = apply(state, event.schema, event.value, event.sender)
    return state
