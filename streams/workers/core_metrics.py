"""What the core worker counts into Prometheus: each batch's inputs, outputs, deviations and
latencies once its transaction committed, and the Customs gauges (IOT_IDs by status, open
holds, inputs waiting) kept from those batches instead of scanning the whole state."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from processors.core import CoreState, state_value
from processors.mission import MissionPath
from streams.ops import metrics


def deviation_node_label(paths: Mapping[str, MissionPath], node_id: object) -> str:
    """The ``node`` label of a deviation: its node when it is a node of a known mission path,
    ``none`` when it has none, and ``other`` otherwise (an exit's gate node comes unchecked
    from a command, so the label's values would grow without bound)."""
    if not node_id:
        return "none"
    node = str(node_id)
    if any(n.node_id == node for path in paths.values() for n in path.nodes):
        return node
    return "other"


@dataclass
class BatchMetrics:
    """What one batch did, counted into Prometheus only once its transaction committed."""

    inputs: Counter[str] = field(default_factory=Counter)
    outputs: Counter[str] = field(default_factory=Counter)
    deviations: Counter[tuple[str, str]] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    passage_times: list[float] = field(default_factory=list)
    statuses: dict[str, str | None] = field(default_factory=dict)
    """IOT_ID -> its new status (None: retired), from the IOT state outputs."""
    holds: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    """IOT_ID -> its open holds (agency, placed at), from the verdict-by-IOT outputs."""

    def publish(self, transaction_seconds: float) -> None:
        now = time.time()
        for record_type, count in self.inputs.items():
            metrics.EVENTS_IN.labels("core", record_type).inc(count)
        for topic, count in self.outputs.items():
            metrics.EVENTS_OUT.labels("core", topic).inc(count)
        for (kind, node), count in self.deviations.items():
            metrics.DEVIATIONS.labels(kind, node).inc(count)
        for reason, count in self.dead_letters.items():
            metrics.DEAD_LETTERS.labels("core", reason).inc(count)
        for produced in self.passage_times:
            metrics.END_TO_END.observe(max(0.0, now - produced))
        metrics.TRANSACTION.observe(transaction_seconds)


class CustomsView:
    """IOT_IDs by status and the open holds, as the core last committed them: the Customs
    gauges, updated from each batch's outputs (no scan of the whole state per batch)."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.by_status: Counter[str] = Counter()
        self.holds: dict[str, tuple[tuple[str, int], ...]] = {}
        self.agencies: set[str] = set()

    def rebuild(self, state: CoreState) -> None:
        """Start from a restored state."""
        self.status = {i: str(state_value(t)["status"]) for i, t in state.iots.items()}
        self.by_status = Counter(self.status.values())
        self.holds = {}
        for iot_id, tracked in state.iots.items():
            held = tuple((h.agency, h.placed_at) for h in tracked.clearance.open_holds())
            if held:
                self.holds[iot_id] = held

    def update(self, batch: BatchMetrics) -> None:
        """Take a committed batch's changes."""
        for iot_id, status in batch.statuses.items():
            old = self.status.pop(iot_id, None)
            if old is not None:
                self.by_status[old] -= 1
            if status is not None:
                self.status[iot_id] = status
                self.by_status[status] += 1
        for iot_id, held in batch.holds.items():
            if held:
                self.holds[iot_id] = held
            else:
                self.holds.pop(iot_id, None)

    @staticmethod
    def export_waiting(state: CoreState) -> None:
        """How many inputs wait, for what, and the oldest's age in event time."""
        kinds: dict[str, list[int]] = {"iot_id": [], "mission_path": [], "late_binding": []}
        for key, waiting in state.parked.items():
            kind = "iot_id" if key.startswith("iot:") else "mission_path"
            kinds[kind] += [p.occurred_at for p in waiting]
        for reads in state.unresolved.values():
            kinds["late_binding"] += [r.expires_at - state.config.park_wait_ms for r in reads]
        for kind, times in kinds.items():
            metrics.WAITING_INPUTS.labels(kind).set(len(times))
            age = (state.watermark - min(times)) / 1000 if times else 0
            metrics.WAITING_OLDEST_AGE.labels(kind).set(max(0.0, age))

    def export(self, watermark_ms: int) -> None:
        """Set the gauges; hold ages in event time, against the core's watermark."""
        for status, count in self.by_status.items():
            metrics.IOT_IDS.labels(status).set(count)
        opened: Counter[str] = Counter()
        oldest: dict[str, int] = {}
        for held in self.holds.values():
            for agency, placed_at in held:
                opened[agency] += 1
                oldest[agency] = min(oldest.get(agency, placed_at), placed_at)
        self.agencies |= set(opened)
        for agency in self.agencies:
            metrics.HOLDS_OPEN.labels(agency).set(opened[agency])
            age = max(0, watermark_ms - oldest[agency]) / 1000 if agency in oldest else 0
            metrics.HOLD_OLDEST_AGE.labels(agency).set(age)
