"""Mission paths, and where each IOT_ID is on its path: a transition table and one ``advance``.

A path is data: ordered nodes (one departure, intermediates Customs requires, one destination)
and legs with a time budget. A read of the IOT_ID at a node, an exit confirmation, or the
watermark passing a deadline is classified into a ``Signal``; ``TRANSITIONS`` says, for the
current ``Phase`` and that signal, the next phase and the deviation to raise, if any. Time is
event time only, so a replay raises the same deviations.

A destination that is an exit (port gate, quay gate, rail yard) becomes definitive when the
GdF confirms the exit; any other destination (a dry port, a terminal) on arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from processors.errors import ProcessorError
from processors.events import MissionPathDefined

EXIT_KINDS = frozenset({"PORT_GATE", "QUAY_GATE", "RAIL_YARD"})


@dataclass(frozen=True)
class PathNode:
    """A logistic node on a path."""

    node_id: str
    kind: str
    role: str
    customs_relevant: bool = True


@dataclass(frozen=True)
class MissionPath:
    """Ordered nodes and the time budget of each leg between consecutive nodes."""

    mission_path_id: str
    version: int
    nodes: tuple[PathNode, ...]
    budgets_ms: Mapping[tuple[str, str], int]

    @classmethod
    def from_event(cls, event: MissionPathDefined) -> MissionPath:
        """The path an ``iotrack.MissionPathDefined`` defines; PathError when inconsistent."""
        path = cls(
            event.mission_path_id,
            event.version,
            tuple(PathNode(n.node_id, n.kind, n.role, n.customs_relevant) for n in event.nodes),
            {(leg.from_node, leg.to_node): leg.time_budget_ms for leg in event.legs},
        )
        path.check()
        return path

    def check(self) -> None:
        """Refuse a path that cannot be followed: roles out of place, repeated nodes, bad legs."""
        ids = [n.node_id for n in self.nodes]
        where = f"mission path {self.mission_path_id} v{self.version}"
        if len(ids) < 2:
            raise PathError(f"{where}: needs a departure and a destination node")
        if len(set(ids)) != len(ids):
            raise PathError(f"{where}: a node appears twice")
        roles = [n.role for n in self.nodes]
        if (
            roles[0] != "DEPARTURE"
            or roles[-1] != "DESTINATION"
            or any(r != "INTERMEDIATE" for r in roles[1:-1])
        ):
            raise PathError(f"{where}: expected DEPARTURE, INTERMEDIATE..., DESTINATION in order")
        for (start, end), budget in self.budgets_ms.items():
            if start not in ids or end not in ids or ids.index(end) != ids.index(start) + 1:
                raise PathError(f"{where}: leg {start}->{end} does not join consecutive nodes")
            if budget <= 0:
                raise PathError(f"{where}: leg {start}->{end} has a budget of {budget} ms")

    def index(self, node_id: str) -> int | None:
        """Position of a node on the path, or None when it is not on it."""
        for n, node in enumerate(self.nodes):
            if node.node_id == node_id:
                return n
        return None

    def budget_after(self, position: int) -> int | None:
        """Time budget of the leg that leaves the node at ``position`` (None: no budget)."""
        if position + 1 >= len(self.nodes):
            return None
        leg = (self.nodes[position].node_id, self.nodes[position + 1].node_id)
        return self.budgets_ms.get(leg)

    @property
    def exit_at_destination(self) -> bool:
        """Whether the destination is an exit that the GdF confirms."""
        return self.nodes[-1].kind in EXIT_KINDS


class PathError(ProcessorError, ValueError):
    """A mission path definition that cannot be followed."""


class Phase(StrEnum):
    """Where an IOT_ID is (``iotrack.IotStatus`` adds CLOSED for an ended binding)."""

    BOUND = "BOUND"
    AT_NODE = "AT_NODE"
    AT_EXIT = "AT_EXIT"
    DEFINITIVE = "DEFINITIVE"
    CLOSED = "CLOSED"


class Signal(StrEnum):
    """What an input means for an IOT_ID, given where it is."""

    NEXT_NODE = "NEXT_NODE"
    """Read at the next node of the path."""
    LATER_NODE = "LATER_NODE"
    """Read at a node further on: the nodes in between were skipped."""
    SKIP_TO_EXIT = "SKIP_TO_EXIT"
    """Read at the destination exit gate with required nodes skipped on the way."""
    SKIP_TO_END = "SKIP_TO_END"
    """Read at a staying destination with required nodes skipped on the way."""
    SAME_NODE = "SAME_NODE"
    """Read again where it is."""
    EARLIER_NODE = "EARLIER_NODE"
    """Read at a node it has already passed: the path does not go backwards."""
    OFF_PATH = "OFF_PATH"
    """Read at a node that is not on its path."""
    ARRIVE_EXIT = "ARRIVE_EXIT"
    """Read at the destination, an exit gate."""
    ARRIVE_END = "ARRIVE_END"
    """Read at the destination, a node where it stays (a dry port)."""
    EXIT = "EXIT"
    """The GdF confirmed the exit."""
    AFTER_EXIT = "AFTER_EXIT"
    """Read anywhere after it has left through its exit destination."""
    DEADLINE = "DEADLINE"
    """The watermark passed the deadline for the next node."""
    END = "END"
    """The binding ended."""


@dataclass(frozen=True)
class Step:
    """What a (phase, signal) pair does: the next phase, a deviation, whether it moves."""

    phase: Phase
    deviation: str | None = None
    moves: bool = True


_ANY_NODE_SIGNALS = (
    Signal.NEXT_NODE,
    Signal.LATER_NODE,
    Signal.ARRIVE_EXIT,
    Signal.ARRIVE_END,
    Signal.SKIP_TO_EXIT,
    Signal.SKIP_TO_END,
)
EXIT_SIGNALS = frozenset({Signal.ARRIVE_EXIT, Signal.SKIP_TO_EXIT})


def _table() -> dict[tuple[Phase, Signal], Step]:
    table: dict[tuple[Phase, Signal], Step] = {}
    for phase in (Phase.BOUND, Phase.AT_NODE):
        table[(phase, Signal.NEXT_NODE)] = Step(Phase.AT_NODE)
        table[(phase, Signal.LATER_NODE)] = Step(Phase.AT_NODE, "SKIPPED_NODE")
        table[(phase, Signal.ARRIVE_EXIT)] = Step(Phase.AT_EXIT)
        table[(phase, Signal.ARRIVE_END)] = Step(Phase.DEFINITIVE)
        table[(phase, Signal.SKIP_TO_EXIT)] = Step(Phase.AT_EXIT, "SKIPPED_NODE")
        table[(phase, Signal.SKIP_TO_END)] = Step(Phase.DEFINITIVE, "SKIPPED_NODE")
        table[(phase, Signal.OFF_PATH)] = Step(phase, "UNEXPECTED_NODE", moves=False)
        table[(phase, Signal.EARLIER_NODE)] = Step(phase, "UNEXPECTED_NODE", moves=False)
        table[(phase, Signal.SAME_NODE)] = Step(phase, moves=False)
        table[(phase, Signal.DEADLINE)] = Step(phase, "OVERDUE", moves=False)
        # An exit confirmed before the unit reached its destination gate: it left all the same.
        table[(phase, Signal.EXIT)] = Step(Phase.DEFINITIVE, "SKIPPED_NODE")
    table[(Phase.AT_EXIT, Signal.SAME_NODE)] = Step(Phase.AT_EXIT, moves=False)
    table[(Phase.AT_EXIT, Signal.EXIT)] = Step(Phase.DEFINITIVE)
    table[(Phase.AT_EXIT, Signal.OFF_PATH)] = Step(Phase.AT_EXIT, "UNEXPECTED_NODE", moves=False)
    table[(Phase.AT_EXIT, Signal.EARLIER_NODE)] = Step(
        Phase.AT_EXIT, "UNEXPECTED_NODE", moves=False
    )
    table[(Phase.AT_EXIT, Signal.DEADLINE)] = Step(Phase.AT_EXIT, moves=False)
    for signal in (*_ANY_NODE_SIGNALS, Signal.EARLIER_NODE, Signal.OFF_PATH, Signal.AFTER_EXIT):
        table[(Phase.DEFINITIVE, signal)] = Step(
            Phase.DEFINITIVE, "READ_AFTER_DEFINITIVE", moves=False
        )
    for signal in (
        *_ANY_NODE_SIGNALS,
        Signal.SAME_NODE,
        Signal.EARLIER_NODE,
        Signal.OFF_PATH,
        Signal.AFTER_EXIT,
    ):
        table[(Phase.CLOSED, signal)] = Step(Phase.CLOSED, "READ_AFTER_DEFINITIVE", moves=False)
    # Arrived at a destination where it stays (a dry port): reads there are normal.
    table[(Phase.DEFINITIVE, Signal.SAME_NODE)] = Step(Phase.DEFINITIVE, moves=False)
    table[(Phase.DEFINITIVE, Signal.EXIT)] = Step(Phase.DEFINITIVE, "DUPLICATE_EXIT", moves=False)
    table[(Phase.CLOSED, Signal.EXIT)] = Step(Phase.CLOSED, "DUPLICATE_EXIT", moves=False)
    for phase in Phase:
        table[(phase, Signal.END)] = Step(Phase.CLOSED)
    table[(Phase.DEFINITIVE, Signal.DEADLINE)] = Step(Phase.DEFINITIVE, moves=False)
    table[(Phase.CLOSED, Signal.DEADLINE)] = Step(Phase.CLOSED, moves=False)
    return table


TRANSITIONS: Mapping[tuple[Phase, Signal], Step] = _table()


@dataclass(frozen=True)
class Position:
    """An IOT_ID on its path."""

    iot_id: str
    path: MissionPath
    phase: Phase = Phase.BOUND
    index: int = -1
    last_seen_at: int | None = None
    deadline: int | None = None
    overdue_raised_for: int | None = None
    definitive_at: int | None = None
    version: int = 0

    @property
    def node_id(self) -> str | None:
        return self.path.nodes[self.index].node_id if self.index >= 0 else None

    def expected_next(self) -> list[str]:
        """The node it should be read at next (empty once definitive or closed)."""
        if self.phase in (Phase.DEFINITIVE, Phase.CLOSED):
            return []
        if self.phase is Phase.AT_EXIT:
            return [self.path.nodes[-1].node_id]
        return (
            [self.path.nodes[self.index + 1].node_id]
            if self.index + 1 < len(self.path.nodes)
            else []
        )


@dataclass(frozen=True)
class Moved:
    """The result of one ``advance``: the new position and, if one was raised, a deviation."""

    position: Position
    deviation: str | None
    expected: str
    observed: str
    changed: bool


def _skipped(position: Position, target: int) -> list[str]:
    """Required nodes between where it is and ``target``. A unit is bound at its departure
    node, so a first read further on skips only the intermediate nodes."""
    start = max(position.index, 0) + 1
    return [n.node_id for n in position.path.nodes[start:target]]


def classify(position: Position, node_id: str) -> Signal:
    """What a read at ``node_id`` means for this position."""
    if position.phase is Phase.DEFINITIVE and position.path.exit_at_destination:
        return Signal.AFTER_EXIT
    index = position.path.index(node_id)
    if index is None:
        return Signal.OFF_PATH
    if position.phase is Phase.AT_EXIT and index == len(position.path.nodes) - 1:
        return Signal.SAME_NODE
    if index == position.index:
        return Signal.SAME_NODE
    if index < position.index:
        return Signal.EARLIER_NODE
    skipped = bool(_skipped(position, index))
    if index == len(position.path.nodes) - 1:
        if position.path.exit_at_destination:
            return Signal.SKIP_TO_EXIT if skipped else Signal.ARRIVE_EXIT
        return Signal.SKIP_TO_END if skipped else Signal.ARRIVE_END
    return Signal.LATER_NODE if skipped else Signal.NEXT_NODE


def _describe_expected(position: Position) -> str:
    expected = position.expected_next()
    if not expected:
        return f"no further read ({position.phase.lower()})"
    return f"next node {expected[0]}"


def advance(position: Position, signal: Signal, at: int, node_id: str | None = None) -> Moved:
    """Apply one signal at event time ``at``; the table decides, nothing else does."""
    step = TRANSITIONS[(position.phase, signal)]
    expected = _describe_expected(position)
    observed = f"read at {node_id}" if node_id else signal.lower().replace("_", " ")
    if signal is Signal.DEADLINE:
        if (
            position.deadline is None
            or at <= position.deadline
            or (position.overdue_raised_for == position.index)
        ):
            return Moved(position, None, expected, observed, changed=False)
        observed = f"no read by {iso(position.deadline)}; event time is now {iso(at)}"
        updated = replace(position, overdue_raised_for=position.index)
        return Moved(updated, step.deviation, expected, observed, changed=False)
    if signal is Signal.EXIT:
        observed = "exit confirmed"
    target = position.path.index(node_id) if node_id is not None else None
    if signal in (Signal.LATER_NODE, Signal.SKIP_TO_EXIT, Signal.SKIP_TO_END) and target:
        expected = f"next node {', then '.join(_skipped(position, target))}"
    if not step.moves:
        if signal is Signal.SAME_NODE and position.index >= 0:
            budget = position.path.budget_after(position.index)
            refreshed = replace(
                position,
                last_seen_at=max(position.last_seen_at or at, at),
                deadline=(max(position.last_seen_at or at, at) + budget)
                if budget
                else position.deadline,
            )
            return Moved(refreshed, step.deviation, expected, observed, changed=False)
        return Moved(position, step.deviation, expected, observed, changed=False)
    index = position.index
    if target is not None and signal in _ANY_NODE_SIGNALS:
        index = target
    if signal is Signal.EXIT:
        index = len(position.path.nodes) - 1
    budget = position.path.budget_after(index) if index >= 0 else None
    definitive = (
        at
        if step.phase is Phase.DEFINITIVE and position.definitive_at is None
        else (position.definitive_at)
    )
    updated = replace(
        position,
        phase=step.phase,
        index=index,
        last_seen_at=at if node_id is not None else position.last_seen_at,
        deadline=at + budget if budget and step.phase is Phase.AT_NODE else None,
        overdue_raised_for=None,
        definitive_at=definitive,
        version=position.version + 1,
    )
    return Moved(updated, step.deviation, expected, observed, changed=True)


def iso(unix_ms: int) -> str:
    """Event time for people: ISO 8601, UTC, seconds.

    >>> iso(1_795_600_000_000)
    '2026-11-25T09:46:40Z'
    """
    return datetime.fromtimestamp(unix_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start(iot_id: str, path: MissionPath) -> Position:
    """A freshly bound IOT_ID: not yet read anywhere."""
    return Position(iot_id, path)
