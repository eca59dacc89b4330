"""The tracked IOT_IDs as plain records and back: ITU identifiers, mission paths, positions,
clearance (declarations, holds, journal), binding intervals. One ``<type>_record`` /
``<type>_from`` pair per type, field by field (``processors.core.snapshot`` says why)."""

from __future__ import annotations

from typing import Any

from processors import clearance as clearing
from processors import mission
from processors.binding import Interval
from processors.core.snapshot.plain import Plain, Record
from processors.core.state import Tracked
from processors.events import Itu


def itu_record(itu: Itu) -> Record:
    return {
        "kind": itu.kind,
        "value": itu.value,
        "country": itu.country,
        "seal_class": itu.seal_class,
        "issuer": itu.issuer,
    }


def itu_from(record: Plain) -> Itu:
    return Itu(
        record["kind"], record["value"], record["country"], record["seal_class"], record["issuer"]
    )


class Shared:
    """What one restore shares among the records it rebuilds, as the live core shares it: one
    ``MissionPath`` for every position whose path record is the same (the live core binds each
    IOT_ID to the path it holds, while each ``iot:`` record carries a copy), and one ``str``
    for equal texts of the fields that repeat (IOT_IDs, MRNs, actors, agencies). The values
    rebuilt are equal to those rebuilt without it; only fewer objects hold them. Kept for one
    restore, then dropped."""

    def __init__(self) -> None:
        self._paths: dict[tuple[Any, Any], tuple[Plain, mission.MissionPath]] = {}
        self._texts: dict[str, str] = {}

    def path(self, record: Plain) -> mission.MissionPath:
        """The path of ``record``: the one rebuilt before from an equal record, if any."""
        key = (record["mission_path_id"], record["version"])
        found = self._paths.get(key)
        if found is not None and found[0] == record:
            return found[1]
        path = path_from(record)
        if found is None:
            self._paths[key] = (record, path)
        return path

    def text(self, text: str) -> str:
        """``text``, or an equal one met before in this restore."""
        return self._texts.setdefault(text, text)


def _text(shared: Shared | None, text: str) -> str:
    return text if shared is None else shared.text(text)


def _optional_text(shared: Shared | None, text: str | None) -> str | None:
    return text if shared is None or text is None else shared.text(text)


# -- mission paths and positions ------------------------------------------------------------


def path_record(path: mission.MissionPath) -> Record:
    return {
        "mission_path_id": path.mission_path_id,
        "version": path.version,
        "nodes": [
            {
                "node_id": n.node_id,
                "kind": n.kind,
                "role": n.role,
                "customs_relevant": n.customs_relevant,
                "name": None,
            }
            for n in path.nodes
        ],
        "legs": [
            {"from_node": start, "to_node": end, "time_budget_ms": budget}
            for (start, end), budget in path.budgets_ms.items()
        ],
    }


def path_from(record: Plain) -> mission.MissionPath:
    return mission.MissionPath(
        record["mission_path_id"],
        record["version"],
        tuple(
            mission.PathNode(n["node_id"], n["kind"], n["role"], n["customs_relevant"])
            for n in record["nodes"]
        ),
        {(leg["from_node"], leg["to_node"]): leg["time_budget_ms"] for leg in record["legs"]},
    )


def position_record(position: mission.Position) -> Record:
    return {
        "iot_id": position.iot_id,
        "path": path_record(position.path),
        "phase": position.phase.value,
        "index": position.index,
        "last_seen_at": position.last_seen_at,
        "deadline": position.deadline,
        "overdue_raised_for": position.overdue_raised_for,
        "definitive_at": position.definitive_at,
        "version": position.version,
    }


def position_from(record: Plain, shared: Shared | None = None) -> mission.Position:
    return mission.Position(
        iot_id=_text(shared, record["iot_id"]),
        path=path_from(record["path"]) if shared is None else shared.path(record["path"]),
        phase=mission.Phase(record["phase"]),
        index=record["index"],
        last_seen_at=record["last_seen_at"],
        deadline=record["deadline"],
        overdue_raised_for=record["overdue_raised_for"],
        definitive_at=record["definitive_at"],
        version=record["version"],
    )


# -- clearance ---------------------------------------------------------------------------------


def hold_record(hold: clearing.Hold) -> Record:
    return {
        "hold_id": hold.hold_id,
        "agency": hold.agency,
        "hold_type": hold.hold_type,
        "placed_at": hold.placed_at,
        "placed_by": hold.placed_by,
        "state": hold.state.value,
        "lifted_at": hold.lifted_at,
        "lifted_by": hold.lifted_by,
    }


def hold_from(record: Plain, shared: Shared | None = None) -> clearing.Hold:
    return clearing.Hold(
        hold_id=record["hold_id"],
        agency=_text(shared, record["agency"]),
        hold_type=_text(shared, record["hold_type"]),
        placed_at=record["placed_at"],
        placed_by=_text(shared, record["placed_by"]),
        state=clearing.HoldState(record["state"]),
        lifted_at=record["lifted_at"],
        lifted_by=_optional_text(shared, record["lifted_by"]),
    )


def journal_record(entry: clearing.JournalEntry) -> Record:
    return {
        "at": entry.at,
        "event_id": entry.event_id,
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "accepted": entry.accepted,
        "reason": entry.reason,
    }


def journal_from(record: Plain, shared: Shared | None = None) -> clearing.JournalEntry:
    return clearing.JournalEntry(
        at=record["at"],
        event_id=record["event_id"],
        actor=_text(shared, record["actor"]),
        action=_text(shared, record["action"]),
        subject=_text(shared, record["subject"]),
        accepted=record["accepted"],
        reason=record["reason"],
    )


def clearance_record(clearance: clearing.Clearance) -> Record:
    return {
        "iot_id": clearance.iot_id,
        "mrns": list(clearance.mrns),
        "released": sorted(clearance.released),
        "declared": dict(clearance.declared),
        "holds": {hold_id: hold_record(h) for hold_id, h in clearance.holds.items()},
        "exited_at": clearance.exited_at,
        "journal": [journal_record(e) for e in clearance.journal],
        "claimed": clearance.claimed,
    }


def clearance_from(record: Plain, shared: Shared | None = None) -> clearing.Clearance:
    return clearing.Clearance(
        iot_id=_text(shared, record["iot_id"]),
        mrns=tuple(_text(shared, m) for m in record["mrns"]),
        released=frozenset(_text(shared, m) for m in record["released"]),
        declared={_text(shared, m): _text(shared, d) for m, d in record["declared"].items()},
        holds={hold_id: hold_from(h, shared) for hold_id, h in record["holds"].items()},
        exited_at=record["exited_at"],
        journal=tuple(journal_from(e, shared) for e in record["journal"]),
        claimed=record["claimed"],
    )


def tracked_record(tracked: Tracked) -> Record:
    return {
        "iot_id": tracked.iot_id,
        "request_id": tracked.request_id,
        "mrns": list(tracked.mrns),
        "itus": [itu_record(i) for i in tracked.itus],
        "position": position_record(tracked.position),
        "clearance": clearance_record(tracked.clearance),
        "retire_at": tracked.retire_at,
    }


def tracked_from(record: Plain, shared: Shared | None = None) -> Tracked:
    return Tracked(
        iot_id=_text(shared, record["iot_id"]),
        request_id=_text(shared, record["request_id"]),
        mrns=tuple(_text(shared, m) for m in record["mrns"]),
        itus=tuple(itu_from(i) for i in record["itus"]),
        position=position_from(record["position"], shared),
        clearance=clearance_from(record["clearance"], shared),
        retire_at=record["retire_at"],
    )


def interval_record(interval: Interval) -> Record:
    return {
        "iot_id": interval.iot_id,
        "mission_path_id": interval.mission_path_id,
        "valid_from": interval.valid_from,
        "valid_to": interval.valid_to,
        "seen_at": interval.seen_at,
    }


def interval_from(record: Plain, shared: Shared | None = None) -> Interval:
    return Interval(
        _text(shared, record["iot_id"]),
        _text(shared, record["mission_path_id"]),
        record["valid_from"],
        record["valid_to"],
        record["seen_at"],
    )
