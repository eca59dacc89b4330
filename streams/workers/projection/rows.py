"""One record of a projected topic -> the SQL statements (with parameters) that apply it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg2
import psycopg2.extensions

from processors.identifiers import itu as itu_keys
from streams.workers.projection.tables import (
    BOUND_SQL,
    BY_IOT_SQL,
    BY_ITU_SQL,
    DECLARATION_SQL,
    DEVIATION_SQL,
    EXIT_SQL,
    HOLD_LIFTED_SQL,
    HOLD_PLACED_SQL,
    IOT_STATE_SQL,
    ITU_BOUND_SQL,
    ITU_UNBOUND_SQL,
    LOADING_LIST_SQL,
    MANIFEST_SQL,
    PASSAGE_SQL,
    PATH_SQL,
    PERMISSION_SQL,
    RELEASE_SQL,
    TRAIN_STATUS_SQL,
    TRANSITION_SQL,
)
from topics import catalog

STATEMENTS_PER_ROUND_TRIP = 250

Statement = tuple[str, tuple[Any, ...]]


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def itu_key(itu: dict[str, Any] | None) -> str | None:
    """The ITU key (``KIND:value``, ``PLATE:country:value``) of an identifier, as the verdicts
    by ITU are keyed."""
    if not itu:
        return None
    return itu_keys.key_of_record(itu)


_itu_key = itu_key


def _verdict(value: dict[str, Any]) -> tuple[Any, ...]:
    return (
        value["verdict"],
        value["may_leave"],
        value["mrns_pending"],
        json.dumps(value["open_holds"]),
        value["reasons"],
        _when(value["as_of"]),
    )


def _iot_state(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return [("DELETE FROM iot_state WHERE iot_id = %s", (name,))]
    common = (
        value["status"],
        value["mission_path_id"],
        value["current_node_id"],
        _when(value["last_seen_at"]),
        value["next_expected_node_ids"],
        _when(value["deadline"]),
        _when(value["definitive_at"]),
    )
    return [
        (IOT_STATE_SQL, (value["iot_id"], *common, value["version"], _when(value["occurred_at"]))),
        (
            TRANSITION_SQL,
            (value["iot_id"], value["version"], _when(value["occurred_at"]), *common),
        ),
    ]


def _binding(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return []  # the ledger is kept forever: no tombstones expected
    iot = value["iot_id"]
    at = _when(value["occurred_at"])
    found: list[Statement] = []
    if schema == "iotrack.IotBound":
        start = _when(value["valid_from"])
        found.append(
            (
                BOUND_SQL,
                (
                    iot,
                    value["request_id"],
                    value["mission_path_id"],
                    value["mrns"],
                    value["requested_by"],
                    start,
                    None,
                    None,
                    None,
                    at,
                ),
            )
        )
        for itu in value["itus"]:
            found.append(
                (
                    ITU_BOUND_SQL,
                    (iot, itu_key(itu), itu["kind"], itu["value"], itu["country"], start),
                )
            )
    elif schema == "iotrack.BindingChanged":
        found.append(
            (
                "UPDATE bindings SET mrns = ARRAY(SELECT DISTINCT m FROM "
                "unnest(array_cat(mrns, %s::text[])) AS m WHERE NOT m = ANY(%s::text[]) "
                "ORDER BY m), updated_at = %s WHERE iot_id = %s",
                (value["mrns_added"], value["mrns_removed"], at, iot),
            )
        )
        for itu in value["itus_removed"]:
            found.append((ITU_UNBOUND_SQL, (at, iot, itu_key(itu))))
        for itu in value["itus_added"]:
            found.append(
                (ITU_BOUND_SQL, (iot, itu_key(itu), itu["kind"], itu["value"], itu["country"], at))
            )
    elif schema == "iotrack.BindingEnded":
        end = _when(value["valid_to"])
        found.append(
            (
                "UPDATE bindings SET valid_to = %s, end_reason = %s, ended_by = %s, "
                "updated_at = %s WHERE iot_id = %s",
                (end, value["reason"], value["ended_by"], at, iot),
            )
        )
        found.append(
            (
                "UPDATE binding_itus SET valid_to = %s WHERE iot_id = %s AND valid_to IS NULL",
                (end, iot),
            )
        )
    return found


def _hold(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        iot, agency, hold = name.split(catalog.KEY_SEPARATOR, 2)
        return [
            (
                "DELETE FROM holds WHERE iot_id = %s AND agency = %s AND hold_id = %s",
                (iot, agency, hold),
            )
        ]
    key = (value["iot_id"], value["agency"], value["hold_id"], value["hold_type"])
    at = _when(value["occurred_at"])
    if schema == "iotrack.HoldPlaced":
        return [
            (
                HOLD_PLACED_SQL,
                (*key, value["reason_code"], value["reason"], value["placed_by"], at, at),
            )
        ]
    return [(HOLD_LIFTED_SQL, (*key, value["lifted_by"], at, value["outcome"], at))]


def _train_tombstone(table: str, name: str) -> list[Statement]:
    return [(f"DELETE FROM {table} WHERE train_id = %s", (name,))]  # noqa: S608 - fixed names


def _loading_list(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return _train_tombstone("train_loading_lists", name)
    items = [{**i, "itu_key": itu_key(i["itu"])} for i in value["items"]]
    return [
        (
            LOADING_LIST_SQL,
            (
                value["event_id"],
                value["train_id"],
                value["operator"],
                _when(value["occurred_at"]),
                _when(value["planned_departure"]),
                value["answered"],
                json.dumps(items),
            ),
        )
    ]


def _manifest(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        train, _, version = name.rpartition(catalog.KEY_SEPARATOR)
        if train and version.isdigit():  # keyed train:version: that version retired
            return [
                (
                    "DELETE FROM train_manifests WHERE train_id = %s AND version = %s",
                    (train, int(version)),
                )
            ]
        return _train_tombstone("train_manifests", name)
    keys = sorted({k for w in value["wagons"] for i in w["itus"] if (k := itu_key(i))})
    return [
        (
            MANIFEST_SQL,
            (
                value["train_id"],
                value["version"],
                value["event_id"],
                _when(value["occurred_at"]),
                value["operator"],
                value["supersedes_version"],
                json.dumps(value["wagons"]),
                keys,
            ),
        )
    ]


def _permission(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return _train_tombstone("train_permissions", name)
    return [
        (
            PERMISSION_SQL,
            (
                value["event_id"],
                value["train_id"],
                value["manifest_version"],
                _when(value["occurred_at"]),
                value["granted"],
                value["reasons"],
                value["decided_by"],
            ),
        )
    ]


def _train_status(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return _train_tombstone("train_status", name)
    return [
        (
            TRAIN_STATUS_SQL,
            (
                value["train_id"],
                value["event_id"],
                _when(value["occurred_at"]),
                value["operator"],
                value["phase"],
                value["manifest_version"],
                value["manifest_versions"],
                value["permission_granted"],
                value["reasons"],
                value["units"],
                value["units_ready"],
                value["iot_ids"],
                value["exited"],
            ),
        )
    ]


def _by_itu(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return [("DELETE FROM clearance_by_itu WHERE itu_key = %s", (name,))]
    # A carried unit as its ITU key, as every answer names a unit.
    carried = json.dumps(
        [{**entry, "unit": itu_key(entry.get("unit"))} for entry in value.get("carried") or []]
    )
    return [(BY_ITU_SQL, (name, value["iot_id"], *_verdict(value), carried))]


def _declaration(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return [("DELETE FROM declaration_states WHERE mrn = %s", (name,))]
    return [
        (
            DECLARATION_SQL,
            (
                value["mrn"],
                value["state"],
                value["event_id"],
                _when(value["occurred_at"]),
                value["procedure"],
                value["declarant"],
                value["note"],
                value["source"],
            ),
        )
    ]


def _by_iot(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return [("DELETE FROM clearance_by_iot WHERE iot_id = %s", (name,))]
    return [(BY_IOT_SQL, (value["iot_id"], *_verdict(value)))]


def _deviation(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return []
    return [
        (
            DEVIATION_SQL,
            (
                value["event_id"],
                _when(value["occurred_at"]),
                value["iot_id"],
                value["kind"],
                value["severity"],
                value["node_id"],
                value["read_point_id"],
                itu_key(value["itu"]),
                value.get("mission_path_id"),
                value["expected"],
                value["observed"],
            ),
        )
    ]


def _passage(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return []
    return [
        (
            PASSAGE_SQL,
            (
                value["event_id"],
                _when(value["occurred_at"]),
                value["read_point_id"],
                value["node_id"],
                value["lane"],
                value["direction"],
                _when(value["ended_at"]),
                sorted({k for i in value["identifiers"] if (k := itu_key(i))}),
                value["iot_ids"],
                value["mrns"],
                value["sensors_agree"],
            ),
        )
    ]


def _release(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        iot, mrn = name.split(catalog.KEY_SEPARATOR, 1)
        return [("DELETE FROM releases WHERE iot_id = %s AND mrn = %s", (iot, mrn))]
    return [
        (
            RELEASE_SQL,
            (
                value["iot_id"],
                value["mrn"],
                value["event_id"],
                _when(value["occurred_at"]),
                value["released_by"],
                value["annulled"],
                value["reason"],
            ),
        )
    ]


def _exit(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return [("DELETE FROM exits WHERE iot_id = %s", (name,))]
    return [
        (
            EXIT_SQL,
            (
                value["iot_id"],
                value["event_id"],
                _when(value["occurred_at"]),
                value["mode"],
                value["gate_node_id"],
                value["confirmed_by"],
                value["train_id"],
                value["plate"],
            ),
        )
    ]


def _path(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return [("DELETE FROM mission_paths WHERE mission_path_id = %s", (name,))]
    return [
        (
            PATH_SQL,
            (
                value["mission_path_id"],
                value["version"],
                json.dumps(value["nodes"]),
                json.dumps(value["legs"]),
                value["defined_by"],
                _when(value["occurred_at"]),
            ),
        )
    ]


_APPLY: dict[str, Callable[[str, str, dict[str, Any] | None], list[Statement]]] = {
    catalog.IOT_STATE.name: _iot_state,
    catalog.CLEARANCE_BY_ITU.name: _by_itu,
    catalog.CLEARANCE_BY_IOT.name: _by_iot,
    catalog.DEVIATIONS.name: _deviation,
    catalog.PASSAGES.name: _passage,
    catalog.BINDINGS.name: _binding,
    catalog.HOLDS.name: _hold,
    catalog.RELEASES.name: _release,
    catalog.EXITS.name: _exit,
    catalog.MISSION_PATHS.name: _path,
    catalog.LOADING_LISTS.name: _loading_list,
    catalog.MANIFESTS.name: _manifest,
    catalog.PERMISSIONS.name: _permission,
    catalog.TRAINS.name: _train_status,
    catalog.DECLARATION_STATES.name: _declaration,
}


def statements(
    topic: str, key: bytes, value: dict[str, Any] | None, schema: str = ""
) -> list[Statement]:
    """The SQL statements (with parameters) that apply one record, or a tombstone, of a
    projected topic; ``schema`` is the record's full name (for topics with several)."""
    apply = _APPLY.get(topic)
    return [] if apply is None else apply(key.decode(), schema, value)


def apply_record(
    cursor: psycopg2.extensions.cursor,
    topic: str,
    key: bytes,
    value: dict[str, Any] | None,
    schema: str = "",
) -> None:
    """Write one record (or a tombstone) of a projected topic."""
    for sql, params in statements(topic, key, value, schema):
        cursor.execute(sql, params)


def execute_all(cursor: psycopg2.extensions.cursor, found: Sequence[Statement]) -> None:
    """Run statements in order, a few hundred per round trip (rendered client-side)."""
    for start in range(0, len(found), STATEMENTS_PER_ROUND_TRIP):
        chunk = found[start : start + STATEMENTS_PER_ROUND_TRIP]
        cursor.execute(b";".join(cursor.mogrify(sql, params) for sql, params in chunk))
