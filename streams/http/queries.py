"""The read-side queries of the API on the Postgres projection: lookup, deviations, trains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from streams.http.access import (
    encode_cursor,
)
from streams.http.errors import NotFound
from streams.http.pool import ReadPool
from streams.http.timeline import (
    BINDING_OF_REQUEST,
    ITUS_OF_IOT,
    TIMELINE_PASSAGES,
    binding_document,
    timeline,
)
from streams.http.values import iso, verdict_json

_DEVIATIONS = (
    "SELECT event_id, occurred_at, kind, severity, iot_id, node_id, read_point_id, itu_key, "
    "mission_path_id, expected, observed, seq FROM deviations"
)


def _deviation(row: tuple[Any, ...]) -> dict[str, Any]:
    event_id, at, kind, severity, iot, node_id, read_point, itu, path, expected, observed, _ = row
    return {
        "event_id": str(event_id),
        "occurred_at": iso(at),
        "kind": kind,
        "severity": severity,
        "iot_id": str(iot) if iot else None,
        "node_id": node_id,
        "read_point_id": read_point,
        "itu": itu,
        "mission_path_id": path,
        "expected": expected,
        "observed": observed,
    }


class Queries(ReadPool):
    """The read-side queries, on a small thread-safe pool of connections.

    At most ``size`` requests use the database at once: the others wait up to ``wait_s`` for
    a connection (then :class:`Busy`, answered 503) instead of failing at once because the
    pool is exhausted. Every statement runs under ``statement_timeout_ms``."""

    timeline_passages = TIMELINE_PASSAGES

    def timeline(self, iot_id: str) -> dict[str, Any]:
        with self.cursor() as cursor:
            return timeline(cursor, iot_id, self.timeline_passages)

    # -- a binding by Customs' request ------------------------------------------------------

    def binding(self, request_id: str) -> dict[str, Any]:
        """The binding made for ``request_id``; NotFound when there is none (not made yet, or
        refused: the refusal went to Customs with its reason, see ``iotrack bind``)."""
        with self.cursor() as cursor:
            cursor.execute(BINDING_OF_REQUEST, (request_id,))
            found = cursor.fetchone()
            if found is None:
                raise NotFound(
                    f"no binding for request {request_id}: not made yet, or refused (the "
                    "refusal and its reason went to Customs)"
                )
            iot_id, *binding = found
            cursor.execute(ITUS_OF_IOT, (iot_id,))
            itus = cursor.fetchall()
        return {
            "iot_id": str(iot_id),
            "mission_path_id": binding[1],
            "requested_by": binding[3],
            "ended_by": binding[7],
            "active": binding[5] is None,
            **binding_document(tuple(binding), itus),
        }

    # -- lookup -----------------------------------------------------------------------------

    def lookup(self, key: str) -> dict[str, Any]:
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT b.iot_id, b.valid_from, g.mission_path_id, s.status, v.verdict, "
                "v.may_leave, v.mrns_pending, v.open_holds, v.reasons, v.as_of "
                "FROM binding_itus b LEFT JOIN bindings g ON g.iot_id = b.iot_id "
                "LEFT JOIN iot_state s ON s.iot_id = b.iot_id "
                "LEFT JOIN clearance_by_iot v ON v.iot_id = b.iot_id "
                "WHERE b.itu_key = %s AND b.valid_to IS NULL ORDER BY b.valid_from, b.iot_id",
                (key,),
            )
            rows = cursor.fetchall()
            cursor.execute(
                "SELECT iot_id, verdict, may_leave, mrns_pending, open_holds, reasons, as_of, "
                "carried FROM clearance_by_itu WHERE itu_key = %s",
                (key,),
            )
            by_itu = cursor.fetchone()
        active = [
            {
                "iot_id": str(iot),
                "bound_since": iso(since),
                "mission_path_id": path,
                "status": status,
                "verdict": verdict_json(rest) if rest[0] is not None else None,
            }
            for iot, since, path, status, *rest in rows
        ]
        verdict = (
            {
                "iot_id": str(by_itu[0]) if by_itu[0] else None,
                **verdict_json(by_itu[1:7]),
                "carried": by_itu[7] or [],
            }
            if by_itu
            else {
                "iot_id": None,
                "verdict": "UNKNOWN",
                "may_leave": False,
                "mrns_pending": [],
                "open_holds": [],
                "reasons": ["no IOT_ID is bound to this unit"],
                "as_of": None,
            }
        )
        return {"itu": key, "active": active, "verdict": verdict}

    # -- deviations -------------------------------------------------------------------------

    def deviations(
        self,
        since: datetime | None,
        kind: str | None,
        node: str | None,
        limit: int,
        after: int | None,
        *,
        path: str | None = None,
    ) -> dict[str, Any]:
        """A page of deviations in ``seq`` order (the order the projection recorded them),
        after the row numbered ``after``. Its ``next_cursor`` is never null: on an empty page it
        is the cursor given (or one before the first row), so a client polls with it and gets
        each row once, including rows whose ``occurred_at`` is earlier than rows already seen.
        """
        where: list[str] = ["true"]
        params: list[Any] = []
        if since is not None:
            where.append("occurred_at >= %s")
            params.append(since)
        for column, value in (("kind", kind), ("node_id", node), ("mission_path_id", path)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if after is not None:
            where.append("seq > %s")
            params.append(after)
        with self.cursor() as cursor:
            cursor.execute(
                " ".join((_DEVIATIONS, "WHERE", " AND ".join(where), "ORDER BY seq")) + " LIMIT %s",
                (*params, limit + 1),
            )
            rows = cursor.fetchall()
        page = rows[:limit]
        position = page[-1][11] if page else (after or 0)
        return {
            "items": [_deviation(row) for row in page],
            "next_cursor": encode_cursor(position),
            "has_more": len(rows) > limit,
        }

    def latest_deviations(
        self, kind: str | None, node: str | None, path: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The last ``limit`` deviations recorded (newest first) with these filters, and the
        sequence number the projection has reached (to follow on with ``after``)."""
        where: list[str] = ["true"]
        params: list[Any] = []
        for column, value in (("kind", kind), ("node_id", node), ("mission_path_id", path)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        with self.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(seq), 0) FROM deviations")
            head = cursor.fetchone()
            cursor.execute(
                " ".join((_DEVIATIONS, "WHERE", " AND ".join(where), "ORDER BY seq DESC"))
                + " LIMIT %s",
                (*params, limit),
            )
            rows = cursor.fetchall()
        return [_deviation(row) for row in rows], int(head[0]) if head else 0

    # -- the web console's own -------------------------------------------------------------

    def bound_to_mrn(self, mrn: str) -> list[dict[str, Any]]:
        """The IOT_IDs whose binding names ``mrn``, newest first, with their state and verdict."""
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT g.iot_id, g.mission_path_id, g.valid_from, g.valid_to, s.status, "
                "v.verdict, v.may_leave FROM bindings g "
                "LEFT JOIN iot_state s ON s.iot_id = g.iot_id "
                "LEFT JOIN clearance_by_iot v ON v.iot_id = g.iot_id "
                "WHERE g.mrns @> ARRAY[%s]::text[] ORDER BY g.valid_from DESC LIMIT 100",
                (mrn,),
            )
            rows = cursor.fetchall()
        return [
            {
                "iot_id": str(iot),
                "mission_path_id": path,
                "bound_since": iso(start),
                "bound_until": iso(end),
                "status": status,
                "verdict": verdict,
                "may_leave": may_leave,
            }
            for iot, path, start, end, status, verdict, may_leave in rows
        ]

    def trains(self, operator: str | None) -> list[dict[str, Any]]:
        """The trains of ``operator`` (None: every train), latest first, with their status."""
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT t.train_id, t.operator, s.phase, s.permission_granted, s.units, "
                "s.units_ready, s.exited, s.occurred_at FROM trains t "
                "LEFT JOIN train_status s ON s.train_id = t.train_id "
                "WHERE %s::text IS NULL OR t.operator = %s "
                "ORDER BY s.occurred_at DESC NULLS LAST, t.train_id LIMIT 200",
                (operator, operator),
            )
            rows = cursor.fetchall()
        return [
            {
                "train_id": train,
                "operator": op,
                "phase": phase,
                "permission_granted": granted,
                "units": units,
                "units_ready": ready,
                "exited": exited,
                "as_of": iso(at),
            }
            for train, op, phase, granted, units, ready, exited, at in rows
        ]

    def projection_positions(self, consumer: str) -> dict[tuple[str, int], int]:
        """Where the projection ``consumer`` stands: the next offset per topic partition."""
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT topic, partition, next_offset FROM consumer_positions WHERE consumer = %s",
                (consumer,),
            )
            return {(topic, part): int(offset) for topic, part, offset in cursor.fetchall()}

    def advisory_lock_held(self, key: str) -> bool:
        """Whether a session holds the advisory lock on ``hashtextextended(key, 0)`` in this
        database (a projection holds its own while it runs)."""
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) "
                "AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(%s, 0))",
                (key,),
            )
            found = cursor.fetchone()
        return bool(found and found[0])

    # -- trains -----------------------------------------------------------------------------

    def train_operator(self, train_id: str) -> str | None:
        """The operator of a train (None: no such train, or none known), as the ``trains`` view
        says it, at the same cost whether the train exists or not: one statement that probes
        each of the three tables that name an operator, every time (the view unions four
        tables and looks further only for a train it finds)."""
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT operator FROM train_status WHERE train_id = %(train)s), "
                "(SELECT operator FROM train_manifests WHERE train_id = %(train)s "
                "ORDER BY version DESC LIMIT 1), "
                "(SELECT operator FROM train_loading_lists WHERE train_id = %(train)s "
                "ORDER BY occurred_at DESC, event_id DESC LIMIT 1)",
                {"train": train_id},
            )
            row = cursor.fetchone()
        named = [operator for operator in row or () if operator is not None]
        return str(named[0]) if named else None

    def train(self, train_id: str) -> dict[str, Any]:
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT version, occurred_at, operator, supersedes_version, wagons "
                "FROM train_manifests WHERE train_id = %s ORDER BY version",
                (train_id,),
            )
            manifests = cursor.fetchall()
            cursor.execute(
                "SELECT event_id, manifest_version, occurred_at, granted, reasons, decided_by "
                "FROM train_permissions WHERE train_id = %s ORDER BY occurred_at, event_id",
                (train_id,),
            )
            permissions = cursor.fetchall()
            cursor.execute(
                "SELECT occurred_at, operator, planned_departure, answered, items "
                "FROM train_loading_lists WHERE train_id = %s ORDER BY occurred_at, event_id",
                (train_id,),
            )
            lists = cursor.fetchall()
            cursor.execute(
                "SELECT operator, phase, manifest_version, manifest_versions, "
                "permission_granted, reasons, units, units_ready, iot_ids, exited, occurred_at "
                "FROM train_status WHERE train_id = %s",
                (train_id,),
            )
            status = cursor.fetchone()
        if not manifests and not permissions and not lists and status is None:
            raise NotFound(f"no train {train_id} in the projection")
        operator = (
            status[0]
            if status
            else manifests[-1][2]
            if manifests
            else lists[-1][1]
            if lists
            else None
        )
        latest = manifests[-1][0] if manifests else None
        decided = permissions[-1] if permissions else None
        if decided is None:
            permission: dict[str, Any] = {"status": "PENDING", "manifest_version": latest}
        else:
            permission = {
                "status": "GRANTED" if decided[3] else "REFUSED",
                "manifest_version": decided[1],
                "decided_at": iso(decided[2]),
                "decided_by": decided[5],
                "reasons": list(decided[4]),
                "for_latest_manifest": latest is None or decided[1] == latest,
            }
        return {
            "train_id": train_id,
            "operator": operator,
            "status": None
            if status is None
            else {
                "phase": status[1],
                "manifest_version": status[2],
                "manifest_versions": list(status[3]),
                "permission_granted": status[4],
                "reasons": list(status[5]),
                "units": status[6],
                "units_ready": status[7],
                "iot_ids": [str(i) for i in status[8]],
                "exited": status[9],
                "as_of": iso(status[10]),
            },
            "latest_manifest_version": latest,
            "manifests": [
                {
                    "version": version,
                    "sent_at": iso(at),
                    "supersedes_version": supersedes,
                    "wagons": wagons,
                }
                for version, at, _op, supersedes, wagons in manifests
            ],
            "permission": permission,
            "permissions": [
                {
                    "manifest_version": version,
                    "decided_at": iso(at),
                    "granted": granted,
                    "reasons": list(reasons),
                    "decided_by": by,
                }
                for _id, version, at, granted, reasons, by in permissions
            ],
            "loading_lists": [
                {
                    "at": iso(at),
                    "planned_departure": iso(planned),
                    "answered": answered,
                    "items": items,
                }
                for at, _op, planned, answered, items in lists
            ],
        }
