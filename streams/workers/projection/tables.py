"""The projected topics and tables, and the SQL that writes their rows."""

from __future__ import annotations

from collections.abc import Sequence

from topics import catalog

CONSUMER = "iotrack-projection"
TOPICS: tuple[catalog.Topic, ...] = (
    catalog.IOT_STATE,
    catalog.CLEARANCE_BY_ITU,
    catalog.DEVIATIONS,
    catalog.CLEARANCE_BY_IOT,
    catalog.BINDINGS,
    catalog.PASSAGES,
    catalog.HOLDS,
    catalog.RELEASES,
    catalog.EXITS,
    catalog.MISSION_PATHS,
    catalog.LOADING_LISTS,
    catalog.MANIFESTS,
    catalog.PERMISSIONS,
    catalog.TRAINS,
    catalog.DECLARATION_STATES,
)
PROJECTED_TABLES: tuple[str, ...] = (
    "iot_state",
    "clearance_by_itu",
    "deviations",
    "clearance_by_iot",
    "bindings",
    "binding_itus",
    "passages",
    "iot_transitions",
    "holds",
    "releases",
    "exits",
    "mission_paths",
    "train_loading_lists",
    "train_manifests",
    "train_permissions",
    "train_status",
    "declaration_states",
)
"""Every table the projection writes (``rebuild`` truncates them)."""


def _upsert(table: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    names = [*keys, *columns]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    values = ", ".join(["%s"] * len(names))
    # Table and column names are constants of this module, never input.
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def _insert_once(table: str, key: str, columns: Sequence[str]) -> str:
    names = [key, *columns]
    values = ", ".join(["%s"] * len(names))
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO NOTHING"
    )


IOT_STATE_SQL = _upsert(
    "iot_state",
    ["iot_id"],
    [
        "status",
        "mission_path_id",
        "current_node_id",
        "last_seen_at",
        "next_expected",
        "deadline",
        "definitive_at",
        "version",
        "updated_at",
    ],
)
TRANSITION_SQL = (
    "INSERT INTO iot_transitions (iot_id, version, occurred_at, status, mission_path_id, "
    "current_node_id, last_seen_at, next_expected, deadline, definitive_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (iot_id, version) DO NOTHING"
)
VERDICT_COLUMNS = ["verdict", "may_leave", "mrns_pending", "open_holds", "reasons", "as_of"]
BY_ITU_SQL = _upsert("clearance_by_itu", ["itu_key"], ["iot_id", *VERDICT_COLUMNS, "carried"])
DECLARATION_SQL = _upsert(
    "declaration_states",
    ["mrn"],
    ["state", "event_id", "occurred_at", "procedure", "declarant", "note", "source"],
)
BY_IOT_SQL = _upsert("clearance_by_iot", ["iot_id"], VERDICT_COLUMNS)
DEVIATION_SQL = _insert_once(
    "deviations",
    "event_id",
    [
        "occurred_at",
        "iot_id",
        "kind",
        "severity",
        "node_id",
        "read_point_id",
        "itu_key",
        "mission_path_id",
        "expected",
        "observed",
    ],
)
PASSAGE_SQL = (
    "INSERT INTO passages (event_id, occurred_at, read_point_id, node_id, lane, direction, "
    "ended_at, itu_keys, iot_ids, mrns, sensors_agree) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::text[], %s::uuid[], %s::text[], %s) "
    "ON CONFLICT (event_id) DO NOTHING"
)
BOUND_SQL = _upsert(
    "bindings",
    ["iot_id"],
    [
        "request_id",
        "mission_path_id",
        "mrns",
        "requested_by",
        "valid_from",
        "valid_to",
        "end_reason",
        "ended_by",
        "updated_at",
    ],
)
ITU_BOUND_SQL = (
    "INSERT INTO binding_itus (iot_id, itu_key, kind, value, country, valid_from) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (iot_id, itu_key, valid_from) DO NOTHING"
)
ITU_UNBOUND_SQL = (
    "UPDATE binding_itus SET valid_to = %s WHERE iot_id = %s AND itu_key = %s AND valid_to IS NULL"
)
HOLD_PLACED_SQL = (
    "INSERT INTO holds (iot_id, agency, hold_id, hold_type, reason_code, reason, placed_by, "
    "placed_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (iot_id, agency, hold_id) DO UPDATE SET hold_type = EXCLUDED.hold_type, "
    "reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason, "
    "placed_by = EXCLUDED.placed_by, placed_at = EXCLUDED.placed_at, lifted_by = NULL, "
    "lifted_at = NULL, outcome = NULL, updated_at = EXCLUDED.updated_at"
)
HOLD_LIFTED_SQL = (
    "INSERT INTO holds (iot_id, agency, hold_id, hold_type, lifted_by, lifted_at, outcome, "
    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (iot_id, agency, hold_id) DO UPDATE SET lifted_by = EXCLUDED.lifted_by, "
    "lifted_at = EXCLUDED.lifted_at, outcome = EXCLUDED.outcome, "
    "updated_at = EXCLUDED.updated_at"
)
RELEASE_SQL = _upsert(
    "releases",
    ["iot_id", "mrn"],
    ["event_id", "occurred_at", "released_by", "annulled", "reason"],
)
EXIT_SQL = _upsert(
    "exits",
    ["iot_id"],
    ["event_id", "occurred_at", "mode", "gate_node_id", "confirmed_by", "train_id", "plate"],
)
PATH_SQL = _upsert(
    "mission_paths",
    ["mission_path_id"],
    ["version", "nodes", "legs", "defined_by", "defined_at"],
)
LOADING_LIST_SQL = _insert_once(
    "train_loading_lists",
    "event_id",
    ["train_id", "operator", "occurred_at", "planned_departure", "answered", "items"],
)
MANIFEST_SQL = _upsert(
    "train_manifests",
    ["train_id", "version"],
    ["event_id", "occurred_at", "operator", "supersedes_version", "wagons", "itu_keys"],
)
TRAIN_STATUS_SQL = (
    "INSERT INTO train_status (train_id, event_id, occurred_at, operator, phase, "
    "manifest_version, manifest_versions, permission_granted, reasons, units, units_ready, "
    "iot_ids, exited) VALUES (%s, %s, %s, %s, %s, %s, %s::integer[], %s, %s::text[], %s, %s, "
    "%s::uuid[], %s) ON CONFLICT (train_id) DO UPDATE SET event_id = EXCLUDED.event_id, "
    "occurred_at = EXCLUDED.occurred_at, operator = EXCLUDED.operator, phase = EXCLUDED.phase, "
    "manifest_version = EXCLUDED.manifest_version, "
    "manifest_versions = EXCLUDED.manifest_versions, "
    "permission_granted = EXCLUDED.permission_granted, reasons = EXCLUDED.reasons, "
    "units = EXCLUDED.units, units_ready = EXCLUDED.units_ready, iot_ids = EXCLUDED.iot_ids, "
    "exited = EXCLUDED.exited"
)
PERMISSION_SQL = _insert_once(
    "train_permissions",
    "event_id",
    ["train_id", "manifest_version", "occurred_at", "granted", "reasons", "decided_by"],
)
