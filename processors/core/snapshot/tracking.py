"""The tracked IOT_IDs as plain records and back: ITU identifiers, mission paths, positions,
clearance (declarations, holds, journal), binding intervals. One ``<type>_record`` /
``<type>_from`` pair per type, field by field (``processors.core.snapshot`` says why)."""

from __future__ import annotations

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


def position_from(record: Plain) -> mission.Position:
    return mission.Position(
        iot_id=record["iot_id"],
        path=path_from(record["path"]),
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


def hold_from(record: Plain) -> clearing.Hold:
    return clearing.Hold(
        hold_id=record["hold_id"],
        agency=record["agency"],
        hold_type=record["hold_type"],
        placed_at=record["placed_at"],
        placed_by=record["placed_by"],
        state=clearing.HoldState(record["state"]),
        lifted_at=record["lifted_at"],
        lifted_by=record["lifted_by"],
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


def journal_from(record: Plain) -> clearing.JournalEntry:
    return clearing.JournalEntry(
        at=record["at"],
        event_id=record["event_id"],
        actor=record["actor"],
        action=record["action"],
        subject=record["subject"],
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


def clearance_from(record: Plain) -> clearing.Clearance:
    return clearing.Clearance(
        iot_id=record["iot_id"],
        mrns=tuple(record["mrns"]),
        released=frozenset(record["released"]),
        declared=dict(record["declared"]),
        holds={hold_id: hold_from(h) for hold_id, h in record["holds"].items()},
        exited_at=record["exited_at"],
        journal=tuple(journal_from(e) for e in record["journal"]),
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


def tracked_from(record: Plain) -> Tracked:
    return Tracked(
        iot_id=record["iot_id"],
        request_id=record["request_id"],
        mrns=tuple(record["mrns"]),
        itus=tuple(itu_from(i) for i in record["itus"]),
        position=position_from(record["position"]),
        clearance=clearance_from(record["clearance"]),
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


def interval_from(record: Plain) -> Interval:
    return Interval(
        record["iot_id"],
        record["mission_path_id"],
        record["valid_from"],
        record["valid_to"],
        record["seen_at"],
    )
