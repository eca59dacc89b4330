"""The deviations metric's ``node`` label stays a small closed set: a node of a known mission
path, ``none``, or ``other`` (an exit's gate comes unchecked from a command)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from processors.core import Channel, CoreState, Output, apply
from streams.ops.settings import CHECKOUT
from streams.replay.lines import read_events
from streams.workers import core as core_worker
from streams.workers.core import CoreWorker
from streams.workers.core_metrics import BatchMetrics, deviation_node_label


def _state() -> CoreState:
    state = CoreState()
    paths = (CHECKOUT / "deploy" / "mission-paths.jsonl").read_text().splitlines()
    for event in read_events(paths):
        state, _ = apply(state, event.schema, event.value, event.sender)
    assert state.paths
    return state


def test_the_label_is_a_known_node_none_or_other():
    paths = _state().paths
    known = next(iter(paths.values())).nodes[0].node_id
    assert deviation_node_label(paths, known) == known
    assert deviation_node_label(paths, None) == "none"
    assert deviation_node_label(paths, "") == "none"
    assert deviation_node_label(paths, "GATE-TYPED-BY-HAND-4711") == "other"
    assert deviation_node_label({}, known) == "other"


class _Codec:
    def encode(self, schema: str, value: dict[str, Any], topic: str) -> bytes:
        return json.dumps(value).encode()


def test_a_deviation_at_an_unknown_node_is_counted_as_other():
    worker = object.__new__(CoreWorker)
    sent: list[tuple[str, bytes | None]] = []
    worker.state = _state()
    worker.codec = _Codec()
    worker.producer = SimpleNamespace(produce=lambda topic, key, value: sent.append((topic, value)))
    worker._batch = BatchMetrics()
    worker.stats = core_worker.CoreStats()
    known = next(iter(worker.state.paths.values())).nodes[0].node_id
    for n, node in enumerate((known, "GATE-TYPED-BY-HAND-1", "GATE-TYPED-BY-HAND-2", None)):
        value = {
            "event_id": f"01a2121a-8e60-7de2-862e-86fce5ec259{n}",
            "iot_id": "01a2121a-8e60-768b-8a86-0d95e63c54d4",
            "read_point_id": None,
            "node_id": node,
            "kind": "EXIT_WHILE_HELD",
        }
        worker._publish(Output(Channel.DEVIATIONS, "k", "iotrack.Deviation", value), None)
    assert len(sent) == 4
    assert dict(worker._batch.deviations) == {
        ("EXIT_WHILE_HELD", known): 1,
        ("EXIT_WHILE_HELD", "other"): 2,
        ("EXIT_WHILE_HELD", "none"): 1,
    }
