"""The Postgres projection: public state topics -> tables, exactly once.

The projection keeps its position per partition in ``consumer_positions`` and writes it in the
same database transaction as the rows a batch changes; on start it seeks every partition to
that position. Kafka offsets are never committed, so a kill at any moment leaves the tables
and the position consistent, and a restart applies each record once. A tombstone deletes its
row. The outputs are read ``read_committed``: the tracking core writes them in transactions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg2
import psycopg2.extensions
from confluent_kafka import Consumer, Message, TopicPartition

from streams import metrics
from streams.errors import StreamsError
from topics import catalog
from topics.codec import Codec, plain
from topics.errors import DecodeError

CONSUMER = "iotrack-projection"
TOPICS: tuple[catalog.Topic, ...] = (
    catalog.IOT_STATE,
    catalog.CLEARANCE_BY_ITU,
    catalog.DEVIATIONS,
)


class ProjectionError(StreamsError):
    """The projection could not read its position or write its rows."""


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _itu_key(itu: dict[str, Any] | None) -> str | None:
    if not itu:
        return None
    return catalog.CLEARANCE_BY_ITU.key_of({"itu": itu}).decode()


def apply_record(
    cursor: psycopg2.extensions.cursor, topic: str, key: bytes, value: dict[str, Any] | None
) -> None:
    """Write one record (or a tombstone) of a projected topic."""
    name = key.decode()
    if topic == catalog.IOT_STATE.name:
        if value is None:
            cursor.execute("DELETE FROM iot_state WHERE iot_id = %s", (name,))
            return
        cursor.execute(
            "INSERT INTO iot_state (iot_id, status, mission_path_id, current_node_id, "
            "last_seen_at, next_expected, deadline, definitive_at, version, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (iot_id) DO UPDATE SET "
            "status = EXCLUDED.status, mission_path_id = EXCLUDED.mission_path_id, "
            "current_node_id = EXCLUDED.current_node_id, last_seen_at = EXCLUDED.last_seen_at, "
            "next_expected = EXCLUDED.next_expected, deadline = EXCLUDED.deadline, "
            "definitive_at = EXCLUDED.definitive_at, version = EXCLUDED.version, "
            "updated_at = EXCLUDED.updated_at",
            (
                value["iot_id"],
                value["status"],
                value["mission_path_id"],
                value["current_node_id"],
                _when(value["last_seen_at"]),
                value["next_expected_node_ids"],
                _when(value["deadline"]),
                _when(value["definitive_at"]),
                value["version"],
                _when(value["occurred_at"]),
            ),
        )
    elif topic == catalog.CLEARANCE_BY_ITU.name:
        if value is None:
            cursor.execute("DELETE FROM clearance_by_itu WHERE itu_key = %s", (name,))
            return
        cursor.execute(
            "INSERT INTO clearance_by_itu (itu_key, iot_id, verdict, may_leave, mrns_pending, "
            "open_holds, reasons, as_of) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (itu_key) DO UPDATE SET iot_id = EXCLUDED.iot_id, "
            "verdict = EXCLUDED.verdict, may_leave = EXCLUDED.may_leave, "
            "mrns_pending = EXCLUDED.mrns_pending, open_holds = EXCLUDED.open_holds, "
            "reasons = EXCLUDED.reasons, as_of = EXCLUDED.as_of",
            (
                name,
                value["iot_id"],
                value["verdict"],
                value["may_leave"],
                value["mrns_pending"],
                json.dumps(value["open_holds"]),
                value["reasons"],
                _when(value["as_of"]),
            ),
        )
    elif topic == catalog.DEVIATIONS.name and value is not None:
        cursor.execute(
            "INSERT INTO deviations (event_id, occurred_at, iot_id, kind, severity, node_id, "
            "read_point_id, itu_key, mission_path_id, expected, observed) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (event_id) DO NOTHING",
            (
                value["event_id"],
                _when(value["occurred_at"]),
                value["iot_id"],
                value["kind"],
                value["severity"],
                value["node_id"],
                value["read_point_id"],
                _itu_key(value["itu"]),
                value.get("mission_path_id"),
                value["expected"],
                value["observed"],
            ),
        )


class Projection:
    """Consume the projected topics and keep the tables and the position together."""

    def __init__(
        self,
        bootstrap: str,
        database_url: str,
        codec: Codec,
        consumer_name: str = CONSUMER,
        topics: Sequence[catalog.Topic] = TOPICS,
    ) -> None:
        self.codec = codec
        self.name = consumer_name
        self.topics = topics
        self.applied = 0
        self.skipped = 0
        try:
            self.db = psycopg2.connect(database_url, connect_timeout=10)
        except psycopg2.Error as exc:
            raise ProjectionError(f"cannot connect to the database: {exc}".strip()) from exc
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": consumer_name,
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "log_level": 3,
            }
        )

    def _positions(self) -> dict[tuple[str, int], int]:
        with self.db, self.db.cursor() as cursor:
            cursor.execute(
                "SELECT topic, partition, next_offset FROM consumer_positions WHERE consumer = %s",
                (self.name,),
            )
            return {(t, p): o for t, p, o in cursor.fetchall()}

    def _assign(self) -> None:
        known = self._positions()
        self.consumer.assign(
            [
                TopicPartition(t.name, p, known.get((t.name, p), 0))
                for t in self.topics
                for p in range(t.partitions)
            ]
        )

    def apply_batch(self, messages: Sequence[Message]) -> None:
        """Write a batch's rows and the new positions in one database transaction."""
        positions: dict[tuple[str, int], int] = {}
        counted: dict[str, int] = {}
        with self.db, self.db.cursor() as cursor:
            for message in messages:
                topic, partition = str(message.topic()), int(message.partition() or 0)
                positions[(topic, partition)] = int(message.offset() or 0) + 1
                raw = message.value()
                try:
                    value = (
                        None if raw is None else plain(self.codec.decode(raw, topic=topic).value)
                    )
                except DecodeError:
                    self.skipped += 1  # not a record of ours: skipped, counted, never guessed
                    continue
                apply_record(cursor, topic, message.key() or b"", value)
                counted[topic] = counted.get(topic, 0) + 1
            for (topic, partition), offset in positions.items():
                cursor.execute(
                    "INSERT INTO consumer_positions (consumer, topic, partition, next_offset) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (consumer, topic, partition) "
                    "DO UPDATE SET next_offset = EXCLUDED.next_offset",
                    (self.name, topic, partition, offset),
                )
        self.applied += len(messages)
        for topic, count in counted.items():
            metrics.PROJECTION_APPLIED.labels(topic).inc(count)

    def run(self, stop: threading.Event, *, exit_when_idle_s: float | None = None) -> int:
        """Project until ``stop`` (or idle that long); the number of records applied."""
        self._assign()
        idle_since = time.monotonic()
        try:
            while not stop.is_set():
                messages = [m for m in self.consumer.consume(500, timeout=0.2) if m.error() is None]
                if messages:
                    self.apply_batch(messages)
                    idle_since = time.monotonic()
                elif exit_when_idle_s is not None and (
                    time.monotonic() - idle_since >= exit_when_idle_s
                ):
                    break
        finally:
            self.consumer.close()
            self.db.close()
        return self.applied


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
