"""Subscriptions in Postgres (migration 0007): a party's subscriptions, each one's queue of
notifications, the delivery worker's Kafka positions, and the delivery log.

The API and the delivery worker share this module; both write through a pool that is not
read-only (:class:`streams.http.pool.ReadPool` with ``read_only=False``), the writer role by
duty of these tables (issue 10).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from streams.http.access import Role
from streams.http.errors import NotFound
from streams.http.pool import ReadPool
from streams.subscriptions.model import Owner

NOTIFY_CHANNEL = "iotrack_subscriptions"
"""Postgres channel the worker notifies (payload: a subscription id) when it queued events."""

_COLUMNS = (
    "subscription_id, owner_role, owner_operator, topic, filters, url, secret, previous_secret, "
    "previous_secret_until, status, suspended_reason, failing_since, delivered_seq, created_at, "
    "updated_at, pruned_through"
)


@dataclass(frozen=True)
class Row:
    """A subscription as stored."""

    subscription_id: str
    owner: Owner
    topic: str
    filters: dict[str, Any]
    url: str | None
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    status: str
    suspended_reason: str | None
    failing_since: datetime | None
    delivered_seq: int
    created_at: datetime
    updated_at: datetime
    pruned_through: int = 0
    """The last seq deleted from its queue (past the retention)."""

    def view(self, *, with_secret: bool = False) -> dict[str, Any]:
        """What its party sees of it."""
        return {
            "subscription_id": self.subscription_id,
            "topic": self.topic,
            "filters": self.filters,
            "url": self.url,
            "status": self.status,
            "suspended_reason": self.suspended_reason,
            "failing_since": self.failing_since,
            "delivered_seq": self.delivered_seq,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "previous_secret_until": self.previous_secret_until,
            **({"secret": self.secret} if with_secret else {}),
        }


def _row(found: Sequence[Any]) -> Row:
    (sid, role, operator, topic, filters, url, secret, previous, until, status, reason,
     failing, delivered, created, updated, pruned) = found  # fmt: skip
    return Row(
        str(sid),
        Owner(Role(role), operator),
        topic,
        dict(filters),
        url,
        secret,
        previous,
        until,
        status,
        reason,
        failing,
        int(delivered),
        created,
        updated,
        int(pruned),
    )


@dataclass(frozen=True)
class Queued:
    """One notification waiting in a subscription's queue."""

    seq: int
    event_id: str
    event_type: str
    key: str
    payload: Any
    published_at: datetime | None

    def notification(self, subscription_id: str) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "seq": self.seq,
            "type": self.event_type,
            "key": self.key,
            "subscription_id": subscription_id,
            "published_at": None
            if self.published_at is None
            else self.published_at.isoformat().replace("+00:00", "Z"),
            "data": self.payload,
        }


class Store:
    """The subscription tables."""

    def __init__(self, pool: ReadPool) -> None:
        self.pool = pool

    # -- a party's subscriptions (the API) -------------------------------------------------------

    def create(self, owner: Owner, topic: str, filters: dict[str, Any], url: str | None) -> Row:
        with self.pool.cursor() as cursor:
            cursor.execute(
                "INSERT INTO subscriptions (subscription_id, owner_role, owner_operator, "  # noqa: S608
                "topic, filters, url, secret) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                f"RETURNING {_COLUMNS}",
                (
                    uuid.uuid4(),
                    owner.role.value,
                    owner.operator,
                    topic,
                    Jsonb(filters),
                    url,
                    secrets.token_hex(32),
                ),
            )
            found = cursor.fetchone()
        assert found is not None  # noqa: S101 - INSERT ... RETURNING returns the row
        return _row(found)

    def of(self, owner: Owner) -> list[Row]:
        with self.pool.cursor() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE owner_role = %s AND "  # noqa: S608 - constant column list
                "owner_operator IS NOT DISTINCT FROM %s ORDER BY created_at, subscription_id",
                (owner.role.value, owner.operator),
            )
            return [_row(r) for r in cursor.fetchall()]

    def get(self, owner: Owner, subscription_id: str) -> Row:
        """The party's subscription; NotFound for another party's, as for one that is not."""
        with self.pool.cursor() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE subscription_id = %s AND "  # noqa: S608 - constant column list
                "owner_role = %s AND owner_operator IS NOT DISTINCT FROM %s",
                (subscription_id, owner.role.value, owner.operator),
            )
            found = cursor.fetchone()
        if found is None:
            raise NotFound(f"no subscription {subscription_id}")
        return _row(found)

    def update(self, owner: Owner, subscription_id: str, changes: dict[str, Any]) -> Row:
        """Change ``filters``, ``url`` or ``status``; resuming clears the suspension, and the
        webhook goes on after the last notification delivered."""
        self.get(owner, subscription_id)
        sets: list[str] = ["updated_at = now()"]
        values: list[Any] = []
        if "filters" in changes:
            sets.append("filters = %s")
            values.append(Jsonb(changes["filters"]))
        if "url" in changes:
            sets.append("url = %s")
            values.append(changes["url"])
        if "status" in changes:
            sets.append("status = %s")
            values.append(changes["status"])
            if changes["status"] == "ACTIVE":
                sets += ["suspended_reason = NULL", "failing_since = NULL"]
            else:
                sets.append("suspended_reason = 'suspended by its party'")
        with self.pool.cursor() as cursor:
            cursor.execute(
                f"UPDATE subscriptions SET {', '.join(sets)} WHERE subscription_id = %s "  # noqa: S608 - constant column list
                f"RETURNING {_COLUMNS}",
                (*values, subscription_id),
            )
            found = cursor.fetchone()
        if found is None:
            raise NotFound(f"no subscription {subscription_id}")
        return _row(found)

    def delete(self, owner: Owner, subscription_id: str) -> None:
        self.get(owner, subscription_id)
        with self.pool.cursor() as cursor:
            cursor.execute(
                "DELETE FROM subscriptions WHERE subscription_id = %s", (subscription_id,)
            )

    def rotate(self, owner: Owner, subscription_id: str, grace_s: float) -> Row:
        """A new secret; the previous one goes on signing (Notification-Signature-Previous)
        for ``grace_s`` seconds, so a receiver can switch without refusing a delivery."""
        self.get(owner, subscription_id)
        with self.pool.cursor() as cursor:
            cursor.execute(
                "UPDATE subscriptions SET previous_secret = secret, secret = %s, "  # noqa: S608
                "previous_secret_until = now() + make_interval(secs => %s), updated_at = now() "
                f"WHERE subscription_id = %s RETURNING {_COLUMNS}",
                (secrets.token_hex(32), grace_s, subscription_id),
            )
            found = cursor.fetchone()
        if found is None:
            raise NotFound(f"no subscription {subscription_id}")
        return _row(found)

    def deliveries(self, owner: Owner, subscription_id: str, limit: int) -> list[dict[str, Any]]:
        self.get(owner, subscription_id)
        with self.pool.cursor() as cursor:
            cursor.execute(
                "SELECT attempted_at, attempt, first_seq, last_seq, events, status_code, error, "
                "latency_ms FROM subscription_deliveries WHERE subscription_id = %s "
                "ORDER BY delivery_id DESC LIMIT %s",
                (subscription_id, limit),
            )
            names = ("attempted_at", "attempt", "first_seq", "last_seq", "events",
                     "status_code", "error", "latency_ms")  # fmt: skip
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    # -- the queues -----------------------------------------------------------------------------

    def queued(self, subscription_id: str, after: int, limit: int) -> list[Queued]:
        with self.pool.cursor() as cursor:
            cursor.execute(
                "SELECT seq, event_id, event_type, key, payload, published_at "
                "FROM subscription_events WHERE subscription_id = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (subscription_id, after, limit),
            )
            return [
                Queued(int(seq), str(event_id), kind, key, payload, published)
                for seq, event_id, kind, key, payload, published in cursor.fetchall()
            ]

    def last_seq(self, subscription_id: str) -> int:
        with self.pool.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM subscription_events WHERE subscription_id = %s",
                (subscription_id,),
            )
            found = cursor.fetchone()
        return int(found[0]) if found else 0

    # -- the delivery worker ---------------------------------------------------------------------

    def all(self) -> list[Row]:
        with self.pool.cursor() as cursor:
            cursor.execute(f"SELECT {_COLUMNS} FROM subscriptions ORDER BY created_at")  # noqa: S608 - constant column list
            return [_row(r) for r in cursor.fetchall()]

    def row(self, subscription_id: str) -> Row | None:
        with self.pool.cursor() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE subscription_id = %s",  # noqa: S608
                (subscription_id,),
            )
            found = cursor.fetchone()
        return None if found is None else _row(found)

    def positions(self) -> dict[tuple[str, int], int]:
        with self.pool.cursor() as cursor:
            cursor.execute("SELECT topic, partition, next_offset FROM subscription_positions")
            return {(t, int(p)): int(o) for t, p, o in cursor.fetchall()}

    def record(
        self,
        queued: Iterable[tuple[str, str, str, str, Any, datetime | None]],
        positions: dict[tuple[str, int], int],
    ) -> set[str]:
        """Queue ``(subscription_id, event_id, type, key, payload, published_at)`` rows and move
        the worker's positions, in one transaction (and notify the queues' readers); the ids of
        the subscriptions that got rows."""
        rows = list(queued)
        touched = {r[0] for r in rows}
        with (
            self.pool.connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            if rows:
                cursor.executemany(
                    "INSERT INTO subscription_events (subscription_id, event_id, event_type, "
                    "key, payload, published_at) SELECT %s, %s, %s, %s, %s, %s "
                    "WHERE EXISTS (SELECT 1 FROM subscriptions WHERE subscription_id = %s)",
                    [
                        (sid, eid, kind, key, Jsonb(payload), at, sid)
                        for sid, eid, kind, key, payload, at in rows
                    ],
                )
            cursor.executemany(
                "INSERT INTO subscription_positions (topic, partition, next_offset) "
                "VALUES (%s, %s, %s) ON CONFLICT (topic, partition) "
                "DO UPDATE SET next_offset = EXCLUDED.next_offset",
                [(t, p, o) for (t, p), o in positions.items()],
            )
            for sid in sorted(touched):
                cursor.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, sid))
        return touched

    def prune(self, before: datetime, batch: int = 5000) -> tuple[int, int]:
        """Delete queued notifications recorded before ``before`` that are delivered (a
        webhook's, up to its ``delivered_seq``) or only streamed (no URL), moving each
        subscription's ``pruned_through``, and delivery log entries attempted before it; a
        ``batch`` at a time, each its own transaction. How many of each went."""
        events = deliveries = 0
        while True:
            with self.pool.cursor() as cursor:
                cursor.execute(
                    "WITH gone AS (DELETE FROM subscription_events WHERE (subscription_id, seq) "
                    "IN (SELECT e.subscription_id, e.seq FROM subscription_events e JOIN "
                    "subscriptions s USING (subscription_id) WHERE e.recorded_at < %s AND "
                    "(s.url IS NULL OR e.seq <= s.delivered_seq) LIMIT %s) "
                    "RETURNING subscription_id, seq), "
                    "moved AS (UPDATE subscriptions s SET pruned_through = "
                    "GREATEST(s.pruned_through, g.top) FROM (SELECT subscription_id, max(seq) "
                    "AS top FROM gone GROUP BY subscription_id) g "
                    "WHERE s.subscription_id = g.subscription_id) "
                    "SELECT count(*) FROM gone",
                    (before, batch),
                )
                found = cursor.fetchone()
                gone = int(found[0]) if found else 0
            events += gone
            if gone < batch:
                break
        while True:
            with self.pool.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM subscription_deliveries WHERE delivery_id IN (SELECT "
                    "delivery_id FROM subscription_deliveries WHERE attempted_at < %s LIMIT %s)",
                    (before, batch),
                )
                gone = cursor.rowcount
            deliveries += gone
            if gone < batch:
                break
        return events, deliveries

    def delivered(self, subscription_id: str, last_seq: int) -> None:
        with self.pool.cursor() as cursor:
            cursor.execute(
                "UPDATE subscriptions SET delivered_seq = GREATEST(delivered_seq, %s), "
                "failing_since = NULL WHERE subscription_id = %s",
                (last_seq, subscription_id),
            )

    def failing(self, subscription_id: str, suspend_after_s: float, reason: str) -> bool:
        """Note a failed delivery; suspend the subscription once it has been failing for
        ``suspend_after_s``. Whether it is suspended now."""
        with self.pool.cursor() as cursor:
            cursor.execute(
                "UPDATE subscriptions SET failing_since = COALESCE(failing_since, now()), "
                "status = CASE WHEN COALESCE(failing_since, now()) <= now() - "
                "make_interval(secs => %s) THEN 'SUSPENDED' ELSE status END, "
                "suspended_reason = CASE WHEN COALESCE(failing_since, now()) <= now() - "
                "make_interval(secs => %s) THEN %s ELSE suspended_reason END "
                "WHERE subscription_id = %s RETURNING status",
                (
                    suspend_after_s,
                    suspend_after_s,
                    f"deliveries failed for {suspend_after_s:g} s; last: {reason}",
                    subscription_id,
                ),
            )
            found = cursor.fetchone()
        return found is not None and found[0] == "SUSPENDED"

    def log(
        self,
        subscription_id: str,
        *,
        attempt: int,
        seqs: tuple[int, int, int],
        status_code: int | None,
        error: str | None,
        latency_ms: float,
    ) -> None:
        first, last, count = seqs
        with self.pool.cursor() as cursor:
            cursor.execute(
                "INSERT INTO subscription_deliveries (subscription_id, attempt, first_seq, "
                "last_seq, events, status_code, error, latency_ms) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (subscription_id, attempt, first, last, count, status_code, error, latency_ms),
            )

    def context(self, iot_id: str | None) -> tuple[str | None, frozenset[str]]:
        """Where an IOT_ID is now and the MRNs bound to it (the projection's tables)."""
        if not iot_id:
            return None, frozenset()
        with self.pool.cursor() as cursor:
            cursor.execute(
                "SELECT s.current_node_id, b.mrns FROM (SELECT %s::uuid AS iot_id) i "
                "LEFT JOIN iot_state s ON s.iot_id = i.iot_id "
                "LEFT JOIN bindings b ON b.iot_id = i.iot_id",
                (iot_id,),
            )
            found = cursor.fetchone()
        if found is None:
            return None, frozenset()
        return found[0], frozenset(found[1] or ())


def dumps(notifications: list[dict[str, Any]]) -> bytes:
    """The exact bytes of a webhook body (the signature is over these)."""
    return json.dumps(notifications, separators=(",", ":"), sort_keys=True).encode()
