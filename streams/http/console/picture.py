"""An IOT_ID's mission path as a picture: where each node, leg and deviation goes (pure; the
SVG itself is the template ``_path.svg``).

The nodes of the path stand left to right, departure to destination, joined by their legs
with each leg's time budget; a node crossed is filled and shows when it was first and last
seen, the node the IOT_ID is at now is ringed, the node(s) expected next are dashed with their
deadline; the deviations raised at a node hang below it, and nodes crossed off the path stand
in a second row. What the picture shows is what the timeline it is drawn from shows: a
terminal's timeline has no deviations, so its picture has none either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STEP = 200
"""Horizontal distance between two nodes."""
MARGIN = 100
ROW = 80
"""Where the path's row stands."""
OFF_ROW = 300
"""Where nodes off the path stand."""


def short_time(when: str | datetime | int | None) -> str:
    """A time (ISO text, a datetime, Unix milliseconds) as a person reads it on a gate:
    ``25 Nov 06:07`` (UTC), or ``-``.

    >>> short_time("2026-11-25T06:07:23.655000Z"), short_time(None), short_time(0)
    ('25 Nov 06:07', '-', '01 Jan 00:00')
    """
    if when is None or when == "":
        return "-"
    if isinstance(when, int):
        at = datetime.fromtimestamp(when / 1000, tz=UTC)
    elif isinstance(when, datetime):
        at = when.astimezone(UTC)
    else:
        try:
            at = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return when
    return at.strftime("%d %b %H:%M")


def budget(ms: int | None) -> str:
    """A leg's time budget in hours and minutes.

    >>> budget(9_000_000), budget(3_600_000), budget(600_000), budget(None)
    ('2 h 30 min', '1 h', '10 min', '')
    """
    if ms is None:
        return ""
    minutes = round(ms / 60_000)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


@dataclass(frozen=True)
class NodeMark:
    x: int
    y: int
    node_id: str
    label: str
    kind: str
    crossed: bool
    current: bool
    expected_next: bool
    first_seen: str
    last_seen: str
    deadline: str
    deviations: tuple[str, ...] = ()


@dataclass(frozen=True)
class LegMark:
    x1: int
    x2: int
    y: int
    budget: str
    travelled: bool


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    title: str
    nodes: tuple[NodeMark, ...]
    legs: tuple[LegMark, ...]
    off_path: tuple[NodeMark, ...] = ()
    summary: list[str] = field(default_factory=list)
    """The same facts in words (the SVG's description, for screen readers)."""


def _deviations_by_node(timeline: Mapping[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for deviation in timeline.get("deviations") or ():
        found.setdefault(deviation.get("node_id") or "", []).append(str(deviation["kind"]))
    return found


def mission_picture(timeline: Mapping[str, Any]) -> Picture:
    """Where everything of ``timeline`` (as its reader may see it) goes in the picture."""
    deviations = _deviations_by_node(timeline)
    current = timeline.get("current_node_id")
    nodes: list[NodeMark] = []
    legs: list[LegMark] = []
    summary: list[str] = []
    for n, node in enumerate(timeline.get("nodes") or ()):
        x = MARGIN + n * STEP
        node_id = str(node["node_id"])
        mark = NodeMark(
            x=x,
            y=ROW,
            node_id=node_id,
            label=str(node.get("name") or node_id),
            kind=f"{node.get('role', '')} {node.get('kind', '')}".strip().lower(),
            crossed=bool(node.get("crossed")),
            current=node_id == current,
            expected_next=bool(node.get("expected_next")),
            first_seen=short_time(node.get("first_seen_at")),
            last_seen=short_time(node.get("last_seen_at")),
            deadline=short_time(node.get("deadline")) if node.get("deadline") else "",
            deviations=tuple(deviations.pop(node_id, [])),
        )
        if n:
            legs.append(
                LegMark(
                    x1=x - STEP + 22,
                    x2=x - 22,
                    y=ROW,
                    budget=budget(node.get("time_budget_ms")),
                    travelled=mark.crossed,
                )
            )
        nodes.append(mark)
        state = "crossed" if mark.crossed else "expected next" if mark.expected_next else "ahead"
        words = f"{mark.label}: {state}"
        if mark.crossed:
            words += f", first seen {mark.first_seen}"
        if mark.current:
            words += ", here now"
        if mark.deviations:
            words += f", deviations {', '.join(mark.deviations)}"
        summary.append(words)
    off: list[NodeMark] = []
    for n, node in enumerate(timeline.get("off_path") or ()):
        node_id = str(node["node_id"])
        off.append(
            NodeMark(
                x=MARGIN + n * STEP,
                y=OFF_ROW,
                node_id=node_id,
                label=node_id,
                kind="off the path",
                crossed=True,
                current=node_id == current,
                expected_next=False,
                first_seen=short_time(node.get("first_seen_at")),
                last_seen=short_time(node.get("last_seen_at")),
                deadline="",
                deviations=tuple(deviations.pop(node_id, [])),
            )
        )
        summary.append(f"{node_id}: off the path, seen {short_time(node.get('first_seen_at'))}")
    if deviations:  # raised at no node of the path nor off it (an overdue leg, a binding)
        elsewhere = [kind for kinds in deviations.values() for kind in kinds]
        off.append(
            NodeMark(
                x=MARGIN + len(off) * STEP,
                y=OFF_ROW,
                node_id="",
                label="not at a node",
                kind="",
                crossed=False,
                current=False,
                expected_next=False,
                first_seen="-",
                last_seen="-",
                deadline="",
                deviations=tuple(elsewhere),
            )
        )
        summary.append(f"deviations not at a node: {', '.join(elsewhere)}")
    columns = max(len(nodes), len(off), 1)
    height = OFF_ROW + 110 if off else ROW + 150
    title = f"Mission path {timeline.get('mission_path_id') or '?'}"
    return Picture(
        width=MARGIN * 2 + (columns - 1) * STEP,
        height=height,
        title=title,
        nodes=tuple(nodes),
        legs=tuple(legs),
        off_path=tuple(off),
        summary=summary,
    )
