"""What the tracking core remembers: tracked IOT_IDs, trains, and the changes a worker persists.

Plain frozen values (and the one mutable ``CoreState`` that owns them); ``processors.core.snapshot``
turns them into the records of the worker's changelog and back.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from processors import clearance as clearing
from processors import mission, rail
from processors.binding import Ledger
from processors.events import (
    CoreInput,
    Input,
    Itu,
    LoadingListItem,
    Passage,
    WagonEntry,
    as_record,
    parse,
)

DAY_MS = 24 * 60 * 60 * 1000

UnitKeys = frozenset[str]
"""ITU keys of units whose status (binding or clearance) an input changed: what a handler
reports, so that the trains carrying those units re-decide."""
NO_UNITS: UnitKeys = frozenset()


@dataclass(frozen=True)
class CoreConfig:
    """Tunable rules of the core."""

    retire_after_ms: int = 7 * DAY_MS
    """How long a definitive or closed IOT_ID stays on the state topics before its tombstone."""
    dedupe_horizon_ms: int = 7 * DAY_MS
    """How long input event ids are remembered to recognise redeliveries."""
    rail_mission_path_id: str = "RAIL-EXPORT"
    """The mission path of the IOT_IDs Customs binds to a manifest's units that have none."""
    park_wait_ms: int = DAY_MS
    """How long an input waits for what it refers to (an IOT_ID, a mission path), in event time
    from its own, before it is refused."""
    park_limit_per_key: int = 64
    """How many inputs of one party may wait for one IOT_ID or path (and passages be kept for
    one unit)."""
    park_limit_per_party: int = 20_000
    """How many inputs of one party may wait in all: one party cannot fill the wait."""
    park_limit: int = 100_000
    """How many inputs may wait in all, Customs' aside (its own ``park_limit_per_party`` is
    kept for it, however many other parties wait); and how many passages may be kept."""


@dataclass(frozen=True)
class Tracked:
    """One IOT_ID: what it binds, where it is, and its clearance."""

    iot_id: str
    request_id: str
    mrns: tuple[str, ...]
    itus: tuple[Itu, ...]
    position: mission.Position
    clearance: clearing.Clearance
    retire_at: int | None = None

    @property
    def itu_keys(self) -> list[str]:
        return [i.key for i in self.itus]


@dataclass(frozen=True)
class UnitAnswer:
    """One loading list unit answered: ready, or every reason it is not."""

    itu: Itu
    mrn: str | None
    reasons: tuple[rail.Reason, ...]
    iot_id: str | None

    @property
    def ready(self) -> bool:
        return not self.reasons

    def record(self) -> dict[str, Any]:
        """The answered ``iotrack.LoadingListItem``."""
        return {
            "itu": self.itu.record(),
            "mrn": self.mrn,
            "ready": self.ready,
            "reasons": [str(r) for r in self.reasons],
            "iot_id": self.iot_id,
        }


@dataclass(frozen=True)
class ManifestVersion:
    """One version of a train's manifest as the core took it."""

    version: int
    supersedes_version: int | None
    wagons: tuple[WagonEntry, ...]
    received_at: int
    problems: tuple[rail.Reason, ...]
    """Its structural problems (``rail.manifest_problems``), found once when it came."""


class Permission(NamedTuple):
    """A permission to leave as decided: granted, and every reason when it is not."""

    granted: bool
    reasons: tuple[rail.Reason, ...]

    def published_reasons(self) -> list[str]:
        """The reasons as the permission and train status records give them: ``CODE: text``."""
        return [str(r) for r in self.reasons]


@dataclass(frozen=True)
class Train:
    """One train: its loading list, manifest versions, permission and exit."""

    train_id: str
    operator: str
    phase: rail.TrainPhase
    items: tuple[LoadingListItem, ...] = ()
    """The latest loading list's items as submitted."""
    answer: tuple[UnitAnswer, ...] = ()
    """The last answer published for them."""
    manifests: tuple[ManifestVersion, ...] = ()
    """Every manifest version, oldest first."""
    permission: Permission | None = None
    """The last permission decision published."""
    iot_ids: tuple[str, ...] = ()
    exited: frozenset[str] = frozenset()
    consist_keys: frozenset[str] = frozenset()
    """Keys of its consist checks on the consists topic (train:read point)."""
    retire_at: int | None = None
    """When a departed train's records get their tombstones."""
    listed_at: int = 0
    """When its first loading list came (its claim on units before a manifest)."""
    unit_keys: frozenset[str] = frozenset()
    """The train's units: the latest manifest's, or the loading list's before one (kept, not
    worked out: every hold or release anywhere asks it)."""

    @property
    def manifest(self) -> ManifestVersion | None:
        return self.manifests[-1] if self.manifests else None


def record_text(event: Input) -> str:
    """An input's record as the state keeps it (``Parked``, ``UnresolvedRead``): JSON text of its
    plain values, keys sorted, so the same input is always the same text."""
    return json.dumps(as_record(event), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Parked:
    """One input waiting for what it refers to."""

    record_type: str
    record_json: str
    """The input's record, as JSON text (plain values): data, never code."""
    sender: str
    """The principal of the party whose channel it came from."""
    event_id: str
    occurred_at: int
    expires_at: int
    waits_for: str
    """What it waits for, in words: ``IOT_ID ...``, ``mission path ...``."""

    def event(self) -> CoreInput:
        found = parse(self.record_type, json.loads(self.record_json))
        if not isinstance(found, CoreInput):  # only core inputs are parked
            raise TypeError(self.record_type)
        return found

    def record(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.record_json)
        return loaded


@dataclass(frozen=True)
class UnresolvedRead:
    """A passage that read a unit with no IOT_ID, kept for a binding that may come late."""

    passage_json: str
    expires_at: int

    def passage(self) -> Passage:
        found = parse("iotrack.Passage", json.loads(self.passage_json))
        if not isinstance(found, Passage):
            raise TypeError("iotrack.Passage")
        return found

    def record(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.passage_json)
        return loaded


@dataclass(frozen=True)
class Declared:
    """The latest state of one customs declaration."""

    state: str
    at: int
    event_id: str


@dataclass
class Changes:
    """Keys of the state that changed: IOT_IDs (stored or removed), ITU keys, binding requests,
    mission paths, and input event ids remembered or forgotten."""

    iots: set[str] = field(default_factory=set)
    itus: set[str] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    applied: set[str] = field(default_factory=set)
    trains: set[str] = field(default_factory=set)
    declarations: set[str] = field(default_factory=set)
    parked: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)


@dataclass
class WaitCounts:
    """How many inputs wait, in all and per party, and how many passages are kept: worked out
    from ``CoreState.parked`` and ``unresolved`` once, then kept up to date by
    ``processors.core.waiting``, so that keeping one more costs the same however many wait.
    Derived, never persisted."""

    parked: int
    by_sender: dict[str, int]
    unresolved: int

    @classmethod
    def of(cls, state: CoreState) -> WaitCounts:
        by_sender: dict[str, int] = {}
        for waiting in state.parked.values():
            for p in waiting:
                by_sender[p.sender] = by_sender.get(p.sender, 0) + 1
        return cls(
            sum(by_sender.values()), by_sender, sum(len(v) for v in state.unresolved.values())
        )


def _dues(iot: Tracked) -> tuple[int, ...]:
    """When an IOT_ID next needs the watermark: its leg's deadline (until it is overdue) and
    its retirement."""
    position = iot.position
    pending = position.deadline if position.overdue_raised_for != position.index else None
    return tuple(due for due in (pending, iot.retire_at) if due is not None)


@dataclass
class CoreState:
    """Everything the core remembers. Owned by one caller; ``apply`` updates it in place."""

    paths: dict[str, mission.MissionPath] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger.empty)
    iots: dict[str, Tracked] = field(default_factory=dict)
    trains: dict[str, Train] = field(default_factory=dict)
    declarations: dict[str, Declared] = field(default_factory=dict)
    """Where each MRN's declaration stands, as the declaration system last said (kept for IOT_IDs
    bound to it later)."""
    parked: dict[str, tuple[Parked, ...]] = field(default_factory=dict)
    """Inputs waiting for what they refer to, by ``iot:<IOT_ID>`` or ``path:<id>``."""
    unresolved: dict[str, tuple[UnresolvedRead, ...]] = field(default_factory=dict)
    """Passages of units with no IOT_ID, by unit key, kept for a binding that comes late."""
    applied: dict[str, int] = field(default_factory=dict)
    """The inputs applied, as ``principal:event_id`` (``event_time.applied_key``: per party),
    with their event time, to recognise redeliveries within ``CoreConfig.dedupe_horizon_ms``."""
    watermark: int = 0
    config: CoreConfig = field(default_factory=CoreConfig)
    next_due: int | None = None
    """The earliest deadline or retirement of any IOT_ID: no scan is needed before it."""
    applied_oldest: int | None = None
    """The time of the oldest remembered input id: no pruning is needed before the horizon
    passes it."""
    applied_by_time: list[tuple[int, str]] | None = field(default=None, repr=False, compare=False)
    """The remembered ids as a heap by time, (time, id), to forget them oldest first; it may
    hold ids forgotten or remembered again since (each checked against ``applied``). Derived
    from ``applied`` when first needed, never persisted."""
    iots_by_due: list[tuple[int, str]] | None = field(default=None, repr=False, compare=False)
    """The IOT_IDs' deadlines and retirements as a heap, (due, IOT_ID), so the watermark visits
    only those due; it may hold dues since moved (each checked against the IOT_ID), and is
    made again from ``iots`` once it holds four entries per IOT_ID (each input storing an
    IOT_ID pushes its dues again). Derived from ``iots`` when first needed, never persisted."""
    iots_by_mrn: dict[str, set[str]] | None = field(default=None, repr=False, compare=False)
    """The IOT_IDs that bind each MRN. Derived from ``iots`` when first needed, never
    persisted."""
    parked_by_expiry: list[tuple[int, str]] | None = field(default=None, repr=False, compare=False)
    """When each waiting input's wait ends, as a heap, (expires at, key of ``parked``), so the
    watermark visits only the keys with a wait over; it may hold entries since taken (each
    checked against ``parked``). Derived when first needed, never persisted."""
    unresolved_by_expiry: list[tuple[int, str]] | None = field(
        default=None, repr=False, compare=False
    )
    """The same for the kept passages (``unresolved``)."""
    changes: Changes = field(default_factory=Changes)
    """What changed since the last ``take_changes``: what a worker must persist."""
    released: list[str] = field(default_factory=list, repr=False, compare=False)
    """Keys of waiting inputs whose IOT_ID or path has just appeared (within one ``apply``)."""
    counts: WaitCounts | None = field(default=None, repr=False, compare=False)
    """What waits, counted (derived from ``parked`` and ``unresolved`` when first needed)."""

    def waiting(self) -> WaitCounts:
        """What waits, counted."""
        if self.counts is None:
            self.counts = WaitCounts.of(self)
        return self.counts

    def note_due(self, at: int | None) -> None:
        """Note that something falls due at ``at`` (a deadline, a retirement, a wait's end)."""
        if at is not None and (self.next_due is None or at < self.next_due):
            self.next_due = at

    def take_changes(self) -> Changes:
        """Hand over the changes collected so far and start a new collection."""
        taken, self.changes = self.changes, Changes()
        taken.itus |= self.ledger.take_dirty()
        return taken

    def store(self, iot: Tracked) -> None:
        """Keep an IOT_ID's new state and note when it next needs the watermark's attention."""
        old = self.iots.get(iot.iot_id)
        self.iots[iot.iot_id] = iot
        self.changes.iots.add(iot.iot_id)
        if self.iots_by_mrn is not None and (old is None or old.mrns != iot.mrns):
            self._unindex(old)
            for mrn in iot.mrns:
                self.iots_by_mrn.setdefault(mrn, set()).add(iot.iot_id)
        for due in _dues(iot):
            self.note_due(due)
            if self.iots_by_due is not None:
                heapq.heappush(self.iots_by_due, (due, iot.iot_id))
        if self.iots_by_due is not None and len(self.iots_by_due) > 4 * len(self.iots) + 64:
            self.iots_by_due = None  # mostly entries since moved: made again from the IOT_IDs
            self._by_due()

    def iots_due(self, mark: int) -> list[str]:
        """The IOT_IDs, in order, with a deadline or retirement noted at or before ``mark``
        (taken from ``iots_by_due``: each is stored again or retired by the caller, which notes
        what remains); then the earliest due left is noted."""
        by_due, due = self._by_due(), set()
        while by_due and by_due[0][0] <= mark:
            due.add(heapq.heappop(by_due)[1])
        return sorted(i for i in due if i in self.iots)

    def _by_due(self) -> list[tuple[int, str]]:
        if self.iots_by_due is None:
            self.iots_by_due = [(due, i) for i, iot in self.iots.items() for due in _dues(iot)]
            heapq.heapify(self.iots_by_due)
        return self.iots_by_due

    def note_earliest_due(self) -> None:
        """Note the earliest deadline or retirement still to come of any IOT_ID (dropping
        entries of ``iots_by_due`` that no longer hold)."""
        by_due = self._by_due()
        while by_due:
            at, iot_id = by_due[0]
            iot = self.iots.get(iot_id)
            if iot is not None and at in _dues(iot):
                self.note_due(at)
                return
            heapq.heappop(by_due)

    def declared(self, mrns: Iterable[str]) -> dict[str, str]:
        """Where the declarations of ``mrns`` stand, for those the core has heard of."""
        return {m: self.declarations[m].state for m in mrns if m in self.declarations}

    def retire(self, iot_id: str) -> None:
        """Forget a retired IOT_ID."""
        self._unindex(self.iots.pop(iot_id))
        self.changes.iots.add(iot_id)

    def bound_to(self, mrn: str) -> list[Tracked]:
        """The IOT_IDs that bind ``mrn`` and are still tracked, in IOT_ID order (from
        ``iots_by_mrn``: sorting and visiting every IOT_ID for each declaration took 30 ms at
        100,000)."""
        if self.iots_by_mrn is None:
            self.iots_by_mrn = {}
            for iot_id, iot in self.iots.items():
                for m in iot.mrns:
                    self.iots_by_mrn.setdefault(m, set()).add(iot_id)
        return [self.iots[i] for i in sorted(self.iots_by_mrn.get(mrn, ()))]

    def _unindex(self, iot: Tracked | None) -> None:
        if iot is None or self.iots_by_mrn is None:
            return
        for mrn in iot.mrns:
            bound = self.iots_by_mrn.get(mrn)
            if bound is not None:
                bound.discard(iot.iot_id)
                if not bound:
                    del self.iots_by_mrn[mrn]

    def customs_relevant(self, node_id: str) -> bool:
        """Whether any known path names this node as customs relevant."""
        return any(
            n.node_id == node_id and n.customs_relevant
            for p in self.paths.values()
            for n in p.nodes
        )
