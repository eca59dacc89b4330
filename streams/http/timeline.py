"""An IOT_ID's timeline: its mission path's nodes, passages, state, clearance, deviations and
the states of its declarations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from streams.http.errors import NotFound
from streams.http.values import iso, verdict_json

TIMELINE_PASSAGES = 1000
"""The most passages a timeline lists (``passages_truncated`` says when there were more)."""


def timeline(
    cursor: psycopg.Cursor[tuple[Any, ...]], iot_id: str, passages_limit: int
) -> dict[str, Any]:
    """The timeline document of ``iot_id``; NotFound when the projection has nothing of it."""
    cursor.execute(
        "SELECT status, mission_path_id, current_node_id, last_seen_at, next_expected, "
        "deadline, definitive_at, version, updated_at FROM iot_state WHERE iot_id = %s",
        (iot_id,),
    )
    state = cursor.fetchone()
    cursor.execute(BINDING_OF_IOT, (iot_id,))
    binding = cursor.fetchone()
    cursor.execute(ITUS_OF_IOT, (iot_id,))
    itus = cursor.fetchall()
    cursor.execute(
        "SELECT version, occurred_at, status, current_node_id, last_seen_at, deadline "
        "FROM iot_transitions WHERE iot_id = %s ORDER BY version",
        (iot_id,),
    )
    transitions = cursor.fetchall()
    if state is None and binding is None and not transitions:
        raise NotFound(f"no IOT_ID {iot_id} in the projection")
    path_id = state[1] if state else binding[1] if binding else None
    path = None
    if path_id:
        cursor.execute(
            "SELECT version, nodes, legs FROM mission_paths WHERE mission_path_id = %s",
            (path_id,),
        )
        path = cursor.fetchone()
    keys = sorted({row[0] for row in itus})
    start, end = _window(binding, itus)
    # Bounded by the binding's validity (a unit read before or after it is someone
    # else's) and by a LIMIT: a unit that circulates for years stays one page.
    cursor.execute(
        "SELECT event_id, occurred_at, node_id, read_point_id, direction, lane, "
        "itu_keys, iot_ids FROM passages WHERE (itu_keys && %s::text[] "
        "OR iot_ids @> ARRAY[%s::uuid]) AND (%s::timestamptz IS NULL OR "
        "occurred_at >= %s) AND (%s::timestamptz IS NULL OR occurred_at <= %s) "
        "ORDER BY occurred_at, event_id LIMIT %s",
        (keys, iot_id, start, start, end, end, passages_limit + 1),
    )
    found = cursor.fetchall()
    truncated = len(found) > passages_limit
    passages = [p for p in found[:passages_limit] if _within(p, iot_id, itus)]
    cursor.execute(
        "SELECT verdict, may_leave, mrns_pending, open_holds, reasons, as_of "
        "FROM clearance_by_iot WHERE iot_id = %s",
        (iot_id,),
    )
    verdict = cursor.fetchone()
    cursor.execute(
        "SELECT agency, hold_id, hold_type, placed_at, placed_by, lifted_at, lifted_by, "
        "reason_code, reason, outcome FROM holds WHERE iot_id = %s "
        "ORDER BY placed_at NULLS LAST, agency, hold_id",
        (iot_id,),
    )
    holds = cursor.fetchall()
    cursor.execute(
        "SELECT mrn, occurred_at, released_by, annulled FROM releases "
        "WHERE iot_id = %s ORDER BY occurred_at, mrn",
        (iot_id,),
    )
    releases = cursor.fetchall()
    cursor.execute(
        "SELECT occurred_at, mode, gate_node_id, confirmed_by, train_id FROM exits "
        "WHERE iot_id = %s",
        (iot_id,),
    )
    exited = cursor.fetchone()
    cursor.execute(
        "SELECT event_id, occurred_at, kind, severity, node_id, read_point_id, "
        "expected, observed FROM deviations WHERE iot_id = %s "
        "ORDER BY occurred_at, event_id",
        (iot_id,),
    )
    deviations = cursor.fetchall()
    cursor.execute(
        "SELECT mrn, state, occurred_at, source, procedure, declarant, note "
        "FROM declaration_states WHERE mrn = ANY(%s) ORDER BY mrn",
        (list(binding[2]) if binding else [],),
    )
    declarations = cursor.fetchall()
    document = _timeline(
        iot_id,
        state=state,
        binding=binding,
        itus=itus,
        transitions=transitions,
        path=path,
        passages=passages,
        verdict=verdict,
        holds=holds,
        releases=releases,
        exited=exited,
        deviations=deviations,
        declarations=declarations,
    )
    document["passages_truncated"] = truncated
    return document


BINDING_OF_IOT = (
    "SELECT request_id, mission_path_id, mrns, requested_by, valid_from, valid_to, end_reason, "
    "ended_by FROM bindings WHERE iot_id = %s"
)
BINDING_OF_REQUEST = (
    "SELECT iot_id, request_id, mission_path_id, mrns, requested_by, valid_from, valid_to, "
    "end_reason, ended_by FROM bindings WHERE request_id = %s"
)
ITUS_OF_IOT = (
    "SELECT itu_key, kind, value, country, valid_from, valid_to FROM binding_itus "
    "WHERE iot_id = %s ORDER BY valid_from, itu_key"
)


def binding_document(binding: tuple[Any, ...], itus: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A binding row (``BINDING_OF_IOT``) and its units' rows (``ITUS_OF_IOT``) as a document."""
    request_id, _path, mrns, _by, valid_from, valid_to, end_reason, _ended_by = binding
    return {
        "request_id": request_id,
        "mrns": list(mrns),
        "valid_from": iso(valid_from),
        "valid_to": iso(valid_to),
        "end_reason": end_reason,
        "itus": [
            {
                "itu": key,
                "kind": kind,
                "value": value,
                "country": country,
                "valid_from": iso(start),
                "valid_to": iso(end),
            }
            for key, kind, value, country, start, end in itus
        ],
    }


def _window(
    binding: tuple[Any, ...] | None, itus: list[tuple[Any, ...]]
) -> tuple[datetime | None, datetime | None]:
    """When the IOT_ID was bound: from its first unit's binding to its end (None: open)."""
    starts = [row[4] for row in itus if row[4] is not None]
    if binding is not None and binding[4] is not None:
        starts.append(binding[4])
    if binding is not None:
        end = binding[5]
    elif itus and all(row[5] is not None for row in itus):
        end = max(row[5] for row in itus)
    else:
        end = None
    return (min(starts) if starts else None), end


def _within(passage: tuple[Any, ...], iot_id: str, itus: list[tuple[Any, ...]]) -> bool:
    """Whether a passage is this IOT_ID's: its barcode was read, or one of its units was read
    while bound to it."""
    at, keys, barcodes = passage[1], set(passage[6]), {str(i) for i in passage[7]}
    if iot_id in barcodes:
        return True
    return any(
        key in keys and start <= at and (end is None or at < end)
        for key, _kind, _value, _country, start, end in itus
    )


def _timeline(
    iot_id: str,
    *,
    state: tuple[Any, ...] | None,
    binding: tuple[Any, ...] | None,
    itus: list[tuple[Any, ...]],
    transitions: list[tuple[Any, ...]],
    path: tuple[Any, ...] | None,
    passages: list[tuple[Any, ...]],
    verdict: tuple[Any, ...] | None,
    holds: list[tuple[Any, ...]],
    releases: list[tuple[Any, ...]],
    exited: tuple[Any, ...] | None,
    deviations: list[tuple[Any, ...]],
    declarations: list[tuple[Any, ...]],
) -> dict[str, Any]:
    """The timeline document, from the rows (pure)."""
    seen: dict[str, list[datetime]] = {}
    for _id, at, node, *_rest in passages:
        seen.setdefault(node, []).append(at)
    for _version, _at, _status, node, last_seen, _deadline in transitions:
        if node and last_seen is not None:
            seen.setdefault(node, []).append(last_seen)
    nodes = []
    on_path: set[str] = set()
    if path is not None:
        _version, path_nodes, legs = path
        budgets = {leg["to_node"]: leg["time_budget_ms"] for leg in legs}
        deadline = state[5] if state else None
        expected_next = set(state[4]) if state else set()
        for node in path_nodes:
            node_id = node["node_id"]
            on_path.add(node_id)
            times = sorted(seen.get(node_id, []))
            nodes.append(
                {
                    "node_id": node_id,
                    "name": node.get("name"),
                    "kind": node["kind"],
                    "role": node["role"],
                    "customs_relevant": node["customs_relevant"],
                    "time_budget_ms": budgets.get(node_id),
                    "crossed": bool(times),
                    "first_seen_at": iso(times[0]) if times else None,
                    "last_seen_at": iso(times[-1]) if times else None,
                    "expected_next": node_id in expected_next,
                    "deadline": iso(deadline) if node_id in expected_next else None,
                }
            )
    off_path = [
        {
            "node_id": node_id,
            "first_seen_at": iso(min(times)),
            "last_seen_at": iso(max(times)),
        }
        for node_id, times in sorted(seen.items())
        if node_id not in on_path
    ]
    return {
        "iot_id": iot_id,
        "status": state[0] if state else None,
        "mission_path_id": state[1] if state else binding[1] if binding else None,
        "mission_path_version": path[0] if path else None,
        "current_node_id": state[2] if state else None,
        "definitive_at": iso(state[6]) if state else None,
        "binding": None if binding is None else binding_document(binding, itus),
        "nodes": nodes,
        "off_path": off_path,
        "passages": [
            {
                "event_id": str(event_id),
                "at": iso(at),
                "node_id": node,
                "read_point_id": read_point,
                "direction": direction,
                "lane": lane,
            }
            for event_id, at, node, read_point, direction, lane, _keys, _iots in passages
        ],
        "transitions": [
            {
                "version": version,
                "at": iso(at),
                "status": status,
                "node_id": node,
            }
            for version, at, status, node, _seen, _deadline in transitions
        ],
        "verdict": None if verdict is None else verdict_json(verdict),
        "holds": [
            {
                "agency": agency,
                "hold_id": hold_id,
                "hold_type": hold_type,
                "placed_at": iso(placed_at),
                "placed_by": placed_by,
                "lifted_at": iso(lifted_at),
                "lifted_by": lifted_by,
                "open": lifted_at is None,
                "reason_code": reason_code,
                "reason": reason,
                "outcome": outcome,
            }
            for (
                agency,
                hold_id,
                hold_type,
                placed_at,
                placed_by,
                lifted_at,
                lifted_by,
                reason_code,
                reason,
                outcome,
            ) in holds
        ],
        "releases": [
            {"mrn": mrn, "at": iso(at), "released_by": by, "annulled": annulled}
            for mrn, at, by, annulled in releases
        ],
        "exit": None
        if exited is None
        else {
            "at": iso(exited[0]),
            "mode": exited[1],
            "gate_node_id": exited[2],
            "confirmed_by": exited[3],
            "train_id": exited[4],
        },
        "deviations": [
            {
                "event_id": str(event_id),
                "occurred_at": iso(at),
                "kind": kind,
                "severity": severity,
                "node_id": node,
                "read_point_id": read_point,
                "expected": expected,
                "observed": observed,
            }
            for event_id, at, kind, severity, node, read_point, expected, observed in deviations
        ],
        "declarations": [
            {
                "mrn": mrn,
                "state": declared,
                "at": iso(at),
                "source": source,
                "procedure": procedure,
                "declarant": declarant,
                "note": note,
            }
            for mrn, declared, at, source, procedure, declarant, note in declarations
        ],
    }
