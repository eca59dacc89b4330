"""What the core worker counts into Prometheus: each batch's inputs, outputs, deviations and
latencies once its transaction committed, and the Customs gauges (IOT_IDs by status, open
holds, inputs waiting) kept from what those batches changed instead of scanning the state."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from processors.core import CoreState, state_value
from processors.mission import MissionPath
from streams.ops import metrics
from streams.workers.oldest import Entry, OldestByGroup


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


WAITING_KINDS = ("iot_id", "mission_path", "late_binding")
"""The ``waiting_for`` label's values."""


class CustomsView:
    """IOT_IDs by status, the open holds and the inputs waiting, as the core last committed
    them: the Customs gauges, updated from what each batch changed (its outputs, its changelog
    keys), never by a scan of the whole state or of every waiting input per batch."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.by_status: Counter[str] = Counter()
        self.holds: dict[str, tuple[tuple[str, int], ...]] = {}
        """IOT_ID -> its open holds (agency, placed at)."""
        self.held = OldestByGroup()
        """Open holds by agency, keyed by IOT_ID and agency."""
        self.waiting = OldestByGroup()
        """Waiting inputs by what they wait for, keyed by the changelog key of their entry."""
        self.exported: dict[str, set[str]] = {"status": set(), "agency": set()}
        """Every status and agency a gauge was ever set for: set to 0 when none is left, also
        after a rebuild from a state that has none."""

    def rebuild(self, state: CoreState) -> None:
        """Start from a restored state."""
        self.status = {i: str(state_value(t)["status"]) for i, t in state.iots.items()}
        self.by_status = Counter(self.status.values())
        self.holds, self.held, self.waiting = {}, OldestByGroup(), OldestByGroup()
        for iot_id, tracked in state.iots.items():
            self._hold(
                iot_id, tuple((h.agency, h.placed_at) for h in tracked.clearance.open_holds())
            )
        self.take_waiting(
            state,
            [
                *(f"park:{key}" for key in state.parked),
                *(f"unres:{key}" for key in state.unresolved),
            ],
        )

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
            self._hold(iot_id, held)

    def _hold(self, iot_id: str, held: tuple[tuple[str, int], ...]) -> None:
        for agency in {agency for agency, _ in self.holds.pop(iot_id, ())}:
            self.held.drop(f"{iot_id} {agency}")
        if not held:
            return
        self.holds[iot_id] = held
        placed: dict[str, list[int]] = {}
        for agency, placed_at in held:
            placed.setdefault(agency, []).append(placed_at)
        for agency, times in placed.items():
            self.held.put(f"{iot_id} {agency}", Entry(agency, len(times), min(times)))

    def take_waiting(self, state: CoreState, keys: Iterable[str]) -> None:
        """Take the waiting entries a committed batch changed, by their changelog keys
        (``park:``, ``unres:``; any other key is not a waiting entry)."""
        for key in keys:
            kind, _, name = key.partition(":")
            if kind == "park":
                inputs = state.parked.get(name, ())
                group = "iot_id" if name.startswith("iot:") else "mission_path"
                times = [p.occurred_at for p in inputs]
            elif kind == "unres":
                reads = state.unresolved.get(name, ())
                group = "late_binding"
                times = [r.expires_at - state.config.park_wait_ms for r in reads]
            else:
                continue
            if times:
                self.waiting.put(key, Entry(group, len(times), min(times)))
            else:
                self.waiting.drop(key)

    def export(self, watermark_ms: int) -> None:
        """Set the gauges; ages in event time, against the core's watermark."""
        self.exported["status"] |= set(self.by_status)
        for status in self.exported["status"]:
            metrics.IOT_IDS.labels(status).set(self.by_status[status])
        self.exported["agency"] |= self.held.groups()
        for agency in self.exported["agency"]:
            metrics.HOLDS_OPEN.labels(agency).set(self.held.count(agency))
            metrics.HOLD_OLDEST_AGE.labels(agency).set(_age(watermark_ms, self.held.oldest(agency)))
        for kind in WAITING_KINDS:
            metrics.WAITING_INPUTS.labels(kind).set(self.waiting.count(kind))
            age = _age(watermark_ms, self.waiting.oldest(kind))
            metrics.WAITING_OLDEST_AGE.labels(kind).set(age)


def _age(watermark_ms: int, oldest: int | None) -> float:
    return 0.0 if oldest is None else max(0, watermark_ms - oldest) / 1000
