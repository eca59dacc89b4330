"""The Postgres projection: public topics -> tables, exactly once, paused by a database outage.

The projection keeps its position per partition in ``consumer_positions`` and writes it in the
same database transaction as the rows a batch changes; on start it seeks every partition to
that position. Kafka offsets are never committed, so a kill at any moment leaves the tables
and the position consistent, and a restart applies each record once. A tombstone deletes its
row. The outputs are read ``read_committed``: the tracking core writes them in transactions.

Writes are batched: a batch's statements (in record order) are rendered client-side and sent
to the server a few hundred at a time, so a batch of 500 records costs a handful of round
trips. When the database goes away (``OperationalError``/``InterfaceError``), the batch in
flight is dropped with its transaction, one line is logged, and the projection reconnects with
backoff and seeks back to the positions stored with the last committed batch: nothing is lost
or applied twice. ``rebuild`` truncates the projected tables and the positions in one
transaction and projects the topics again from their beginning up to their current end.

Each table is a function of one topic's records for one key, applied in that key's partition
order, so the tables do not depend on how partitions interleave: a restart and a rebuild give
the same content. History tables (state transitions, every manifest version, permissions,
loading lists) keep what they saw; once the broker has compacted a state topic it holds only
each key's newest record, and a rebuild then yields what the topics still hold (a lifted hold,
for instance, without the details of its placing).

A record that cannot be written (a field Postgres refuses, such as a NUL in a hold's reason; a
tombstone whose key is not what its topic's keys look like) does not stop the projection: it
goes to the dead-letter topic (flushed before the batch commits) and is counted, its rows are
rolled back to a savepoint, and the rest of the batch and the position are committed as usual.

One projection writes a database at a time: it holds a Postgres advisory lock keyed by its
consumer name for as long as it runs (and ``rebuild`` takes the same lock before it
truncates), so a second ``iotrack project`` or a ``projection rebuild`` while one runs is
refused with a clear message instead of interleaving its writes. This also makes commit order
match the order of the ``deviations.seq`` numbers the API paginates on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg2
import psycopg2.extensions
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from streams.errors import StreamsError
from streams.kafka.reading import producer
from streams.ops import metrics
from topics import catalog, dead_letters
from topics.codec import Codec, plain
from topics.errors import DecodeError

LOG = logging.getLogger("iotrack.projection")
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
)
"""Every table the projection writes (``rebuild`` truncates them)."""
STATEMENTS_PER_ROUND_TRIP = 250
LOCK_WAIT_S = 5.0
"""How long a projection (or a rebuild) waits for another one to let go of the database."""

Statement = tuple[str, tuple[Any, ...]]


class ProjectionError(StreamsError):
    """The projection could not read its position or write its rows."""


class ProjectionLockError(ProjectionError):
    """Another projection (or rebuild) with the same consumer name holds the database."""


def _lock_key(consumer_name: str) -> str:
    return f"iotrack-projection:{consumer_name}"


def lock(
    db: psycopg2.extensions.connection, consumer_name: str, wait_s: float = LOCK_WAIT_S
) -> None:
    """Take the projection's advisory lock on ``db``'s session (held until it closes), or
    raise ProjectionLockError after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        with db, db.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (_lock_key(consumer_name),)
            )
            row = cursor.fetchone()
        if row is not None and row[0]:
            return
        if time.monotonic() >= deadline:
            raise ProjectionLockError(
                f"another projection ({consumer_name!r}: 'iotrack project', a demo or "
                "'iotrack projection rebuild') is writing this database; stop it first, then "
                "run this again"
            )
        time.sleep(0.2)


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def itu_key(itu: dict[str, Any] | None) -> str | None:
    """The ITU key (``KIND:value``, ``PLATE:country:value``) of an identifier, as the verdicts
    by ITU are keyed."""
    if not itu:
        return None
    return catalog.CLEARANCE_BY_ITU.key_of({"itu": itu}).decode()


_itu_key = itu_key


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


_IOT_STATE = _upsert(
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
_TRANSITION = (
    "INSERT INTO iot_transitions (iot_id, version, occurred_at, status, mission_path_id, "
    "current_node_id, last_seen_at, next_expected, deadline, definitive_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (iot_id, version) DO NOTHING"
)
_VERDICT_COLUMNS = ["verdict", "may_leave", "mrns_pending", "open_holds", "reasons", "as_of"]
_BY_ITU = _upsert("clearance_by_itu", ["itu_key"], ["iot_id", *_VERDICT_COLUMNS])
_BY_IOT = _upsert("clearance_by_iot", ["iot_id"], _VERDICT_COLUMNS)
_DEVIATION = _insert_once(
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
_PASSAGE = (
    "INSERT INTO passages (event_id, occurred_at, read_point_id, node_id, lane, direction, "
    "ended_at, itu_keys, iot_ids, mrns, sensors_agree) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::text[], %s::uuid[], %s::text[], %s) "
    "ON CONFLICT (event_id) DO NOTHING"
)
_BOUND = _upsert(
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
_ITU_BOUND = (
    "INSERT INTO binding_itus (iot_id, itu_key, kind, value, country, valid_from) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (iot_id, itu_key, valid_from) DO NOTHING"
)
_ITU_UNBOUND = (
    "UPDATE binding_itus SET valid_to = %s WHERE iot_id = %s AND itu_key = %s AND valid_to IS NULL"
)
_HOLD_PLACED = (
    "INSERT INTO holds (iot_id, agency, hold_id, hold_type, reason_code, reason, placed_by, "
    "placed_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (iot_id, agency, hold_id) DO UPDATE SET hold_type = EXCLUDED.hold_type, "
    "reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason, "
    "placed_by = EXCLUDED.placed_by, placed_at = EXCLUDED.placed_at, lifted_by = NULL, "
    "lifted_at = NULL, outcome = NULL, updated_at = EXCLUDED.updated_at"
)
_HOLD_LIFTED = (
    "INSERT INTO holds (iot_id, agency, hold_id, hold_type, lifted_by, lifted_at, outcome, "
    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (iot_id, agency, hold_id) DO UPDATE SET lifted_by = EXCLUDED.lifted_by, "
    "lifted_at = EXCLUDED.lifted_at, outcome = EXCLUDED.outcome, "
    "updated_at = EXCLUDED.updated_at"
)
_RELEASE = _upsert(
    "releases",
    ["iot_id", "mrn"],
    ["event_id", "occurred_at", "released_by", "annulled", "reason"],
)
_EXIT = _upsert(
    "exits",
    ["iot_id"],
    ["event_id", "occurred_at", "mode", "gate_node_id", "confirmed_by", "train_id", "plate"],
)
_PATH = _upsert(
    "mission_paths",
    ["mission_path_id"],
    ["version", "nodes", "legs", "defined_by", "defined_at"],
)
_LOADING_LIST = _insert_once(
    "train_loading_lists",
    "event_id",
    ["train_id", "operator", "occurred_at", "planned_departure", "answered", "items"],
)
_MANIFEST = _upsert(
    "train_manifests",
    ["train_id", "version"],
    ["event_id", "occurred_at", "operator", "supersedes_version", "wagons", "itu_keys"],
)
_TRAIN_STATUS = (
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
_PERMISSION = _insert_once(
    "train_permissions",
    "event_id",
    ["train_id", "manifest_version", "occurred_at", "granted", "reasons", "decided_by"],
)


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
        (_IOT_STATE, (value["iot_id"], *common, value["version"], _when(value["occurred_at"]))),
        (
            _TRANSITION,
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
                _BOUND,
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
                (_ITU_BOUND, (iot, itu_key(itu), itu["kind"], itu["value"], itu["country"], start))
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
            found.append((_ITU_UNBOUND, (at, iot, itu_key(itu))))
        for itu in value["itus_added"]:
            found.append(
                (_ITU_BOUND, (iot, itu_key(itu), itu["kind"], itu["value"], itu["country"], at))
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
                _HOLD_PLACED,
                (*key, value["reason_code"], value["reason"], value["placed_by"], at, at),
            )
        ]
    return [(_HOLD_LIFTED, (*key, value["lifted_by"], at, value["outcome"], at))]


def _train_tombstone(table: str, name: str) -> list[Statement]:
    return [(f"DELETE FROM {table} WHERE train_id = %s", (name,))]  # noqa: S608 - fixed names


def _loading_list(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return _train_tombstone("train_loading_lists", name)
    items = [{**i, "itu_key": itu_key(i["itu"])} for i in value["items"]]
    return [
        (
            _LOADING_LIST,
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
            _MANIFEST,
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
            _PERMISSION,
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
            _TRAIN_STATUS,
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
    return [(_BY_ITU, (name, value["iot_id"], *_verdict(value)))]


def _by_iot(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return [("DELETE FROM clearance_by_iot WHERE iot_id = %s", (name,))]
    return [(_BY_IOT, (value["iot_id"], *_verdict(value)))]


def _deviation(name: str, schema: str, value: dict[str, Any] | None) -> list[Statement]:
    if value is None:
        return []
    return [
        (
            _DEVIATION,
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
            _PASSAGE,
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
            _RELEASE,
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
            _EXIT,
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
            _PATH,
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


_OUTAGE = (psycopg2.OperationalError, psycopg2.InterfaceError)
_RECORD_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError)
"""What Postgres answers to a record it cannot store (a value out of range or of the wrong
form, a constraint); other errors (a missing column, permissions) stop the projection."""


class Projection:
    """Consume the projected topics and keep the tables and the position together."""

    def __init__(
        self,
        bootstrap: str,
        database_url: str,
        codec: Codec,
        consumer_name: str = CONSUMER,
        topics: Sequence[catalog.Topic] = TOPICS,
        *,
        max_backoff_s: float = 5.0,
        lock_wait_s: float = LOCK_WAIT_S,
    ) -> None:
        self.codec = codec
        self.name = consumer_name
        self.topics = topics
        self.applied = 0
        self.skipped = 0
        self.dead_lettered = 0
        self.outages = 0
        self.max_backoff_s = max_backoff_s
        self.lock_wait_s = lock_wait_s
        self._url = database_url
        self._bootstrap = bootstrap
        self._producer: Producer | None = None
        self._at_end: set[tuple[str, int]] = set()
        self._partitions = sum(t.partitions for t in topics)
        self._caught_up = threading.Event()
        self._caught_up_since = 0.0
        try:
            self.db = self._connect()
        except psycopg2.Error as exc:
            raise ProjectionError(f"cannot connect to the database: {exc}".strip()) from exc
        try:
            lock(self.db, consumer_name, lock_wait_s)
        except BaseException:
            self.db.close()
            raise
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": consumer_name,
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "log_level": 3,
                "statistics.interval.ms": 5000,
                "stats_cb": metrics.lag_from_statistics(consumer_name),
            }
        )

    def _connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            self._url,
            connect_timeout=10,
            application_name=self.name,
            # A dead server is noticed within seconds, not after the kernel's TCP timeout.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )

    def caught_up(self, for_s: float = 0.0) -> bool:
        """True once every partition has been read to its end (and nothing newer applied),
        and has stayed so for ``for_s`` seconds (so records committed just before the call
        have had time to be fetched)."""
        return self._caught_up.is_set() and time.monotonic() - self._caught_up_since >= for_s

    def _positions(self) -> dict[tuple[str, int], int]:
        with self.db, self.db.cursor() as cursor:
            cursor.execute(
                "SELECT topic, partition, next_offset FROM consumer_positions WHERE consumer = %s",
                (self.name,),
            )
            return {(t, p): o for t, p, o in cursor.fetchall()}

    def _assign(self) -> None:
        known = self._positions()
        self._at_end.clear()
        self._caught_up.clear()
        self.consumer.assign(
            [
                TopicPartition(t.name, p, known.get((t.name, p), 0))
                for t in self.topics
                for p in range(t.partitions)
            ]
        )

    def apply_batch(self, messages: Sequence[Message]) -> None:
        """Write a batch's rows and the new positions in one database transaction; a record
        that cannot be written is dead-lettered and its position still advances."""
        positions: dict[tuple[str, int], int] = {}
        counted: dict[str, int] = {}
        types: dict[str, int] = {}
        records: list[tuple[Message, list[Statement], str]] = []
        rejected: list[tuple[Message, BaseException]] = []
        for message in messages:
            topic, partition = str(message.topic()), int(message.partition() or 0)
            positions[(topic, partition)] = int(message.offset() or 0) + 1
            raw = message.value()
            schema = ""
            try:
                if raw is None:
                    value = None
                else:
                    decoded = self.codec.decode(raw, topic=topic)
                    value, schema = plain(decoded.value), decoded.schema
            except DecodeError:
                self.skipped += 1  # not a record of ours: skipped, counted, never guessed
                continue
            try:
                found = statements(topic, message.key() or b"", value, schema)
            except Exception as exc:  # a malformed record, whatever its fault: dead-lettered
                rejected.append((message, exc))
                continue
            records.append((message, found, schema or "tombstone"))
        position_statements: list[Statement] = [
            (
                "INSERT INTO consumer_positions (consumer, topic, partition, next_offset) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (consumer, topic, partition) "
                "DO UPDATE SET next_offset = EXCLUDED.next_offset",
                (self.name, topic, partition, offset),
            )
            for (topic, partition), offset in positions.items()
        ]
        with self.db, self.db.cursor() as cursor:
            written = self._write(cursor, records, rejected)
            execute_all(cursor, position_statements)
            self._dead_letter(rejected)  # flushed before the positions commit
        for message, _found, record_type in written:
            topic = str(message.topic())
            counted[topic] = counted.get(topic, 0) + 1
            types[record_type] = types.get(record_type, 0) + 1
        self.applied += len(messages) - len(rejected)
        for topic, count in counted.items():
            metrics.PROJECTION_APPLIED.labels(topic).inc(count)
        for record_type, count in types.items():
            metrics.EVENTS_IN.labels("projection", record_type).inc(count)
        newest = max((m.timestamp()[1] for m in messages), default=0) / 1000
        metrics.PROJECTION_LAG.set(max(0.0, time.time() - newest) if newest > 0 else 0.0)

    def _write(
        self,
        cursor: psycopg2.extensions.cursor,
        records: list[tuple[Message, list[Statement], str]],
        rejected: list[tuple[Message, BaseException]],
    ) -> list[tuple[Message, list[Statement], str]]:
        """Write the records' rows in the open transaction; those that fail are moved to
        ``rejected``. All at once first; when that fails, record by record under a savepoint
        so that only the failing records are left out."""
        rendered: list[tuple[Message, list[bytes], str]] = []
        for message, found, record_type in records:
            try:  # rendered client-side: a NUL in a text value fails here, per record
                rendered.append(
                    (message, [cursor.mogrify(sql, ps) for sql, ps in found], record_type)
                )
            except _OUTAGE:
                raise
            except (psycopg2.Error, ValueError, TypeError) as exc:
                rejected.append((message, exc))
        flat = [
            b"SAVEPOINT batch",
            *(sql for _m, sqls, _t in rendered for sql in sqls),
            b"RELEASE SAVEPOINT batch",
        ]
        try:
            for start in range(0, len(flat), STATEMENTS_PER_ROUND_TRIP):
                cursor.execute(b";".join(flat[start : start + STATEMENTS_PER_ROUND_TRIP]))
            return [(m, [], t) for m, _sqls, t in rendered]
        except _RECORD_ERRORS:
            cursor.execute("ROLLBACK TO SAVEPOINT batch")
        written: list[tuple[Message, list[Statement], str]] = []
        for message, sqls, record_type in rendered:
            cursor.execute("SAVEPOINT record")
            try:
                if sqls:
                    cursor.execute(b";".join(sqls))
            except _RECORD_ERRORS as exc:
                cursor.execute("ROLLBACK TO SAVEPOINT record")
                rejected.append((message, exc))
                continue
            cursor.execute("RELEASE SAVEPOINT record")
            written.append((message, [], record_type))
        return written

    def _dead_letter(self, rejected: list[tuple[Message, BaseException]]) -> None:
        """Send the records that could not be written to the dead-letter topic and wait for
        the broker to have them (so a committed position never skips an unrecorded record)."""
        if not rejected:
            return
        if self._producer is None:
            self._producer = producer(self._bootstrap)
        for message, exc in rejected:
            reason = f"{type(exc).__name__}: {str(exc).strip()}"[:1000]
            LOG.warning(
                "projection: %s[%s]@%s cannot be written (%s); sent to %s",
                message.topic(),
                message.partition(),
                message.offset(),
                reason,
                catalog.DEAD_LETTERS.name,
            )
            key, value = dead_letters.for_message(
                self.codec,
                message,
                reason=reason,
                error_kind=type(exc).__name__,
                source=self.name,
            )
            while True:
                try:
                    self._producer.produce(catalog.DEAD_LETTERS.name, key=key, value=value)
                    break
                except BufferError:
                    self._producer.poll(0.05)
            self.dead_lettered += 1
            metrics.DEAD_LETTERS.labels("projection", type(exc).__name__).inc()
        if self._producer.flush(30) != 0:
            raise ProjectionError(
                f"cannot send {len(rejected)} dead letters to {catalog.DEAD_LETTERS.name}: "
                "is the broker up? The batch was not committed"
            )

    def _take(self, batch: Sequence[Message]) -> list[Message]:
        """The records of a consumed batch; end-of-partition events update ``caught_up``."""
        messages = []
        for message in batch:
            where = (str(message.topic()), int(message.partition() or 0))
            error = message.error()
            if error is None:
                messages.append(message)
                self._at_end.discard(where)
            elif error.code() == KafkaError._PARTITION_EOF:
                self._at_end.add(where)
        return messages

    def _resume(self, exc: Exception, stop: threading.Event) -> None:
        """Wait for the database, reconnect, and seek back to the stored positions."""
        self.outages += 1
        self._caught_up.clear()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        LOG.warning(
            "projection paused: the database is unavailable (%s); the batch in flight was "
            "rolled back, retrying with backoff up to %.0f s, then resuming from the stored "
            "positions",
            detail,
            self.max_backoff_s,
        )
        paused = time.monotonic()
        delay = 0.2
        with contextlib.suppress(psycopg2.Error):
            self.db.close()
        waited_for_lock = False
        while not stop.is_set():
            try:
                self.db = self._connect()
                # The lock went with the old session: take it again before writing. While the
                # server still keeps the old session (a network cut it has not noticed) or
                # another projection has started meanwhile, wait: never write alongside it.
                lock(self.db, self.name, 0)
                self._assign()
            except _OUTAGE:
                stop.wait(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            except ProjectionLockError:
                with contextlib.suppress(psycopg2.Error):
                    self.db.close()
                if not waited_for_lock:
                    waited_for_lock = True
                    LOG.warning(
                        "projection waiting to resume: another session holds its lock (the "
                        "one from before the outage, or another projection)"
                    )
                stop.wait(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            LOG.warning(
                "projection resumed after %.1f s from the stored positions",
                time.monotonic() - paused,
            )
            return

    def run(
        self,
        stop: threading.Event,
        *,
        exit_when_idle_s: float | None = None,
        until_end: bool = False,
    ) -> int:
        """Project until ``stop`` (or idle that long, or, with ``until_end``, until every
        partition has been read to its end); the number of records applied."""
        try:
            self._assign()
            idle_since = time.monotonic()
            while not stop.is_set():
                try:
                    messages = self._take(self.consumer.consume(500, timeout=0.2))
                    if messages:
                        self.apply_batch(messages)
                        idle_since = time.monotonic()
                    if len(self._at_end) == self._partitions:
                        if not self._caught_up.is_set():
                            self._caught_up_since = time.monotonic()
                            self._caught_up.set()
                        metrics.PROJECTION_LAG.set(0)
                        if until_end:
                            break
                    else:
                        self._caught_up.clear()
                    if (
                        not messages
                        and exit_when_idle_s is not None
                        and time.monotonic() - idle_since >= exit_when_idle_s
                    ):
                        break
                except _OUTAGE as exc:
                    self._resume(exc, stop)
                    idle_since = time.monotonic()
        finally:
            self.close()
        return self.applied

    def close(self) -> None:
        """Let go of the broker and the database (and so of the lock)."""
        self.consumer.close()
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
        with contextlib.suppress(psycopg2.Error):
            self.db.close()

    def truncate(self) -> None:
        """Empty the projected tables and this projection's positions, in one transaction,
        under the lock this projection holds. Sequences are not restarted: a deviation cursor
        handed out before still reaches every row recorded after it (again, once)."""
        with self.db, self.db.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(PROJECTED_TABLES)}")
            cursor.execute("DELETE FROM consumer_positions WHERE consumer = %s", (self.name,))


def truncate(
    database_url: str, consumer_name: str = CONSUMER, lock_wait_s: float = LOCK_WAIT_S
) -> None:
    """Empty the projected tables and the projection's positions, in one transaction, under
    the projection's lock (ProjectionLockError while a projection runs)."""
    try:
        db = psycopg2.connect(database_url, connect_timeout=10)
    except psycopg2.Error as exc:
        raise ProjectionError(f"cannot connect to the database: {exc}".strip()) from exc
    try:
        lock(db, consumer_name, lock_wait_s)
        with db, db.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(PROJECTED_TABLES)}")
            cursor.execute("DELETE FROM consumer_positions WHERE consumer = %s", (consumer_name,))
    finally:
        db.close()


def rebuild(
    bootstrap: str,
    database_url: str,
    codec: Codec,
    consumer_name: str = CONSUMER,
    stop: threading.Event | None = None,
    *,
    lock_wait_s: float = LOCK_WAIT_S,
) -> Projection:
    """Take the projection's lock (ProjectionLockError, naming what to stop, while another
    projection runs), truncate the projected tables and positions, then project every topic
    from its beginning to its current end; the projection that did it (``applied``,
    ``skipped``)."""
    projection = Projection(bootstrap, database_url, codec, consumer_name, lock_wait_s=lock_wait_s)
    try:
        projection.truncate()
    except BaseException:
        projection.close()
        raise
    projection.run(stop or threading.Event(), until_end=True)
    return projection


def gate_check(database_url: str, itu_key: str) -> dict[str, Any] | None:
    """The projected verdict for an ITU key, or None when nothing is bound to it."""
    with (
        metrics.GATE_CHECK.time(),
        psycopg2.connect(database_url, connect_timeout=10) as db,
        db.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT iot_id, verdict, may_leave, mrns_pending, open_holds, reasons, "
            "as_of FROM clearance_by_itu WHERE itu_key = %s",
            (itu_key,),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    iot_id, verdict, may_leave, pending, holds, reasons, as_of = row
    return {
        "itu": itu_key,
        "iot_id": str(iot_id) if iot_id else None,
        "verdict": verdict,
        "may_leave": may_leave,
        "mrns_pending": pending,
        "open_holds": holds,
        "reasons": reasons,
        "as_of": as_of.isoformat(),
    }
