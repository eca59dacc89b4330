"""``iotrack api``: the query API over HTTP, on the Postgres projection and the gate state.

Endpoints (described for machines at ``/openapi.json``, see :mod:`streams.http.openapi`):

- ``GET /iot/{iot_id}/timeline``: the nodes of the IOT_ID's mission path, expected and crossed,
  with times, its passages, state transitions, holds, releases, exit and deviations;
- ``GET /lookup?kind=CONTAINER&value=...`` (``ILU``, ``SWAP_BODY``, ``SEAL``, ``PLATE`` with
  ``country``): the active IOT_ID(s) of a transport unit and the verdict;
- ``GET /deviations?since=&kind=&node=&limit=&after=``: deviations in the order the projection
  recorded them (a sequence number it assigns), keyset-paginated with an opaque cursor on that
  number, so pages stay stable while rows arrive and a client that keeps the last cursor gets
  every row recorded after it, even one whose ``occurred_at`` is earlier;
- ``GET /trains/{train_id}``: manifest versions, loading lists and permission to leave;
- ``GET /gate-check?container=...`` or ``?plate=...&country=IT``: may it leave now, and why,
  from :class:`streams.workers.gate_state.GateState` in memory (no database round trip);
- ``GET /health``, ``GET /openapi.json``, ``GET /metrics`` (no credentials needed).

Every other request needs ``Authorization: Bearer TOKEN`` (401 with ``WWW-Authenticate``
otherwise); what a role may see is decided in :mod:`streams.http.access` (403 when it may not).
Errors are JSON: ``{"error": ..., "message": ...}`` (400 names the parameter).

Limits: at most ``max_connections`` client connections at once (more are answered 503 and
closed), each closed after ``idle_timeout_s`` without a complete request; queries wait up to
``wait_s`` for one of the pool's connections (503 "busy" after that), and each statement runs
under a ``statement_timeout``.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg2
import psycopg2.extensions
import psycopg2.pool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from processors.identifiers import IdentifierError, country_code, validate_kind
from streams.errors import ConfigError, StreamsError
from streams.http.access import (
    BadParameter,
    Credentials,
    Forbidden,
    Principal,
    Role,
    authorize,
    authorize_train,
    bearer,
    decode_cursor,
    encode_cursor,
    no_nul,
    parse_credentials,
    parse_limit,
    parse_time,
    parse_uuid,
    timeline_view,
)
from streams.http.openapi import DEVIATION_KINDS as OPENAPI_DEVIATION_KINDS
from streams.http.openapi import document
from streams.ops import metrics
from streams.ops.settings import Settings
from streams.workers.gate_state import GateState

LOG = logging.getLogger("iotrack.api")
LOOKUP_KINDS = ("CONTAINER", "ILU", "SWAP_BODY", "SEAL", "PLATE")
_VALIDATED = {"CONTAINER": "container", "ILU": "ilu", "SEAL": "seal", "PLATE": "plate"}
DEVIATION_KINDS: tuple[str, ...] = tuple(OPENAPI_DEVIATION_KINDS)


class NotFound(Exception):  # noqa: N818 - named after the HTTP answer
    """No such resource (HTTP 404)."""


class Unavailable(Exception):  # noqa: N818 - named after the HTTP answer
    """A dependency (database, gate state) cannot answer now (HTTP 503)."""


class Busy(Unavailable):
    """Every database connection stayed in use for the whole wait (HTTP 503, Retry-After)."""


@contextmanager
def parameter(name: str) -> Iterator[None]:
    """Turn a stray ValueError raised while reading parameter ``name`` into BadParameter."""
    try:
        yield
    except BadParameter:
        raise
    except (ValueError, OverflowError) as exc:
        raise BadParameter(name, f"malformed ({type(exc).__name__})") from None


def load_credentials(path: Path) -> Credentials:
    """Read the tokens file once; ConfigError names the file and line (never a token)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"IOTRACK_API_TOKENS_FILE={str(path)!r}: cannot read it ({exc.strerror})"
        ) from exc
    return parse_credentials(text.splitlines(), where=str(path))


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ms_iso(ms: int | None) -> str | None:
    return None if ms is None else _iso(datetime.fromtimestamp(ms / 1000, tz=UTC))


def _one(query: Mapping[str, list[str]], name: str, *, required: bool = False) -> str | None:
    values = query.get(name)
    if not values:
        if required:
            raise BadParameter(name, "required")
        return None
    if len(values) > 1:
        raise BadParameter(name, "given more than once")
    if not values[0].strip():
        raise BadParameter(name, "empty")
    return values[0].strip()


def itu_key_of(kind: str, value: str, country: str | None, *, kinds: str = "kind") -> str:
    """The ITU key of a queried unit, validated (check digits for containers and ILUs)."""
    kind = kind.upper()
    if kind not in LOOKUP_KINDS:
        raise BadParameter(kinds, f"{kind!r} is not one of {', '.join(LOOKUP_KINDS)}")
    if kind == "PLATE":
        if not country:
            raise BadParameter("country", "required for a plate (ISO 3166 alpha-2, e.g. IT)")
        try:
            country = country_code(country)
        except ValueError as exc:
            raise BadParameter("country", str(exc)) from None
    elif country:
        raise BadParameter("country", "applies to plates only")
    checker = _VALIDATED.get(kind)
    try:
        if checker == "plate":
            normalised = validate_kind("plate", value, country=country)
        elif checker is not None:
            normalised = validate_kind(checker, value)
        else:
            normalised = "".join(value.upper().split())
    except IdentifierError as exc:
        raise BadParameter("value" if kinds == "kind" else kinds.lower(), str(exc)) from None
    return f"{kind}:{country}:{normalised}" if kind == "PLATE" else f"{kind}:{normalised}"


_DEVIATIONS = (
    "SELECT event_id, occurred_at, kind, severity, iot_id, node_id, read_point_id, itu_key, "
    "mission_path_id, expected, observed, seq FROM deviations"
)
TIMELINE_PASSAGES = 1000
"""The most passages a timeline lists (``passages_truncated`` says when there were more)."""


def _alive(connection: psycopg2.extensions.connection) -> bool:
    """Whether a pooled connection still reaches the server (one round trip)."""
    if connection.closed:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not connection.autocommit:
            connection.rollback()
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        return False
    return True


class Queries:
    """The read-side queries, on a small thread-safe pool of connections.

    At most ``size`` requests use the database at once: the others wait up to ``wait_s`` for
    a connection (then :class:`Busy`, answered 503) instead of failing at once because the
    pool is exhausted. Every statement runs under ``statement_timeout_ms``."""

    def __init__(
        self,
        database_url: str,
        size: int = 8,
        *,
        wait_s: float = 5.0,
        statement_timeout_ms: int = 10_000,
    ) -> None:
        self._url = database_url
        self._size = size
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self.wait_s = wait_s
        self.statement_timeout_ms = statement_timeout_ms
        self.timeline_passages = TIMELINE_PASSAGES

    @property
    def size(self) -> int:
        """How many connections the pool holds at most (and requests use it at once)."""
        return self._size

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    1, self._size, self._url, connect_timeout=5
                )
            return self._pool

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor in a read-only session; Busy when no connection frees up within
        ``wait_s``, Unavailable when the database is not there."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise Busy(
                f"the database is busy: all {self._size} connections stayed in use for "
                f"{self.wait_s:g} s; retry shortly"
            )
        try:
            with self._connection() as cursor:
                yield cursor
        finally:
            self._slots.release()

    @contextmanager
    def _connection(self) -> Iterator[psycopg2.extensions.cursor]:
        try:
            pool = self._get_pool()
            connection = pool.getconn()
            if not _alive(connection):
                # A pooled connection from before a database restart: replace it, so the
                # first request after the restart is answered instead of failing.
                pool.putconn(connection, close=True)
                connection = pool.getconn()
        except psycopg2.Error as exc:
            raise Unavailable("the database is unavailable") from exc
        broken = False
        try:
            if not connection.autocommit:  # a new connection: once, not per request
                connection.set_session(readonly=True, autocommit=True)
                with connection.cursor() as setup:
                    setup.execute(
                        "SELECT set_config('statement_timeout', %s, false)",
                        (str(self.statement_timeout_ms),),
                    )
            with connection.cursor() as cursor:
                yield cursor
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise Unavailable("the database is unavailable") from exc
        finally:
            pool.putconn(connection, close=broken or bool(connection.closed))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None

    def healthy(self) -> bool:
        try:
            with self.cursor() as cursor:
                cursor.execute("SELECT 1")
                return True
        except Unavailable:
            return False

    # -- timeline ---------------------------------------------------------------------------

    def timeline(self, iot_id: str) -> dict[str, Any]:
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT status, mission_path_id, current_node_id, last_seen_at, next_expected, "
                "deadline, definitive_at, version, updated_at FROM iot_state WHERE iot_id = %s",
                (iot_id,),
            )
            state = cursor.fetchone()
            cursor.execute(
                "SELECT request_id, mission_path_id, mrns, requested_by, valid_from, valid_to, "
                "end_reason FROM bindings WHERE iot_id = %s",
                (iot_id,),
            )
            binding = cursor.fetchone()
            cursor.execute(
                "SELECT itu_key, kind, value, country, valid_from, valid_to FROM binding_itus "
                "WHERE iot_id = %s ORDER BY valid_from, itu_key",
                (iot_id,),
            )
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
                "OR iot_ids @> ARRAY[%s]::uuid[]) AND (%s::timestamptz IS NULL OR "
                "occurred_at >= %s) AND (%s::timestamptz IS NULL OR occurred_at <= %s) "
                "ORDER BY occurred_at, event_id LIMIT %s",
                (keys, iot_id, start, start, end, end, self.timeline_passages + 1),
            )
            found = cursor.fetchall()
            truncated = len(found) > self.timeline_passages
            passages = [p for p in found[: self.timeline_passages] if _within(p, iot_id, itus)]
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
        )
        document["passages_truncated"] = truncated
        return document

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
                "SELECT iot_id, verdict, may_leave, mrns_pending, open_holds, reasons, as_of "
                "FROM clearance_by_itu WHERE itu_key = %s",
                (key,),
            )
            by_itu = cursor.fetchone()
        active = [
            {
                "iot_id": str(iot),
                "bound_since": _iso(since),
                "mission_path_id": path,
                "status": status,
                "verdict": _verdict_json(rest) if rest[0] is not None else None,
            }
            for iot, since, path, status, *rest in rows
        ]
        verdict = (
            {"iot_id": str(by_itu[0]) if by_itu[0] else None, **_verdict_json(by_itu[1:])}
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
        if kind is not None:
            where.append("kind = %s")
            params.append(kind)
        if node is not None:
            where.append("node_id = %s")
            params.append(node)
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
        items = [
            {
                "event_id": str(event_id),
                "occurred_at": _iso(at),
                "kind": kind_,
                "severity": severity,
                "iot_id": str(iot) if iot else None,
                "node_id": node_id,
                "read_point_id": read_point,
                "itu": itu,
                "mission_path_id": path,
                "expected": expected,
                "observed": observed,
            }
            for event_id, at, kind_, severity, iot, node_id, read_point, itu, path, expected, observed, _seq in page  # noqa: E501
        ]
        position = page[-1][11] if page else (after or 0)
        return {
            "items": items,
            "next_cursor": encode_cursor(position),
            "has_more": len(rows) > limit,
        }

    # -- trains -----------------------------------------------------------------------------

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
                "decided_at": _iso(decided[2]),
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
                "as_of": _iso(status[10]),
            },
            "latest_manifest_version": latest,
            "manifests": [
                {
                    "version": version,
                    "sent_at": _iso(at),
                    "supersedes_version": supersedes,
                    "wagons": wagons,
                }
                for version, at, _op, supersedes, wagons in manifests
            ],
            "permission": permission,
            "permissions": [
                {
                    "manifest_version": version,
                    "decided_at": _iso(at),
                    "granted": granted,
                    "reasons": list(reasons),
                    "decided_by": by,
                }
                for _id, version, at, granted, reasons, by in permissions
            ],
            "loading_lists": [
                {
                    "at": _iso(at),
                    "planned_departure": _iso(planned),
                    "answered": answered,
                    "items": items,
                }
                for at, _op, planned, answered, items in lists
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


def _verdict_json(row: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    verdict, may_leave, pending, holds, reasons, as_of = row
    return {
        "verdict": verdict,
        "may_leave": may_leave,
        "mrns_pending": list(pending),
        "open_holds": [{**h, "placed_at": _ms_iso(h.get("placed_at"))} for h in (holds or [])],
        "reasons": list(reasons),
        "as_of": _iso(as_of),
    }


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
                    "first_seen_at": _iso(times[0]) if times else None,
                    "last_seen_at": _iso(times[-1]) if times else None,
                    "expected_next": node_id in expected_next,
                    "deadline": _iso(deadline) if node_id in expected_next else None,
                }
            )
    off_path = [
        {
            "node_id": node_id,
            "first_seen_at": _iso(min(times)),
            "last_seen_at": _iso(max(times)),
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
        "definitive_at": _iso(state[6]) if state else None,
        "binding": None
        if binding is None
        else {
            "request_id": binding[0],
            "mrns": list(binding[2]),
            "valid_from": _iso(binding[4]),
            "valid_to": _iso(binding[5]),
            "end_reason": binding[6],
            "itus": [
                {
                    "itu": key,
                    "kind": kind,
                    "value": value,
                    "country": country,
                    "valid_from": _iso(start),
                    "valid_to": _iso(end),
                }
                for key, kind, value, country, start, end in itus
            ],
        },
        "nodes": nodes,
        "off_path": off_path,
        "passages": [
            {
                "event_id": str(event_id),
                "at": _iso(at),
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
                "at": _iso(at),
                "status": status,
                "node_id": node,
            }
            for version, at, status, node, _seen, _deadline in transitions
        ],
        "verdict": None if verdict is None else _verdict_json(verdict),
        "holds": [
            {
                "agency": agency,
                "hold_id": hold_id,
                "hold_type": hold_type,
                "placed_at": _iso(placed_at),
                "placed_by": placed_by,
                "lifted_at": _iso(lifted_at),
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
            {"mrn": mrn, "at": _iso(at), "released_by": by, "annulled": annulled}
            for mrn, at, by, annulled in releases
        ],
        "exit": None
        if exited is None
        else {
            "at": _iso(exited[0]),
            "mode": exited[1],
            "gate_node_id": exited[2],
            "confirmed_by": exited[3],
            "train_id": exited[4],
        },
        "deviations": [
            {
                "event_id": str(event_id),
                "occurred_at": _iso(at),
                "kind": kind,
                "severity": severity,
                "node_id": node,
                "read_point_id": read_point,
                "expected": expected,
                "observed": observed,
            }
            for event_id, at, kind, severity, node, read_point, expected, observed in deviations
        ],
    }


# ----------------------------------------------------------------------------- HTTP


class Api:
    """What the handlers need: credentials, queries, the gate state."""

    def __init__(self, credentials: Credentials, queries: Queries, gate: GateState | None) -> None:
        self.credentials = credentials
        self.queries = queries
        self.gate = gate
        self.spec = json.dumps(document(), indent=2).encode()

    # Each route: (principal, path parameters, query) -> JSON document.
    def timeline(self, who: Principal, iot: str, query: Mapping[str, list[str]]) -> Any:
        authorize(who, "timeline")
        with parameter("iot_id"):
            iot_id = parse_uuid(no_nul(iot, "iot_id"), "iot_id")
        return timeline_view(who, self.queries.timeline(iot_id))

    def lookup(self, who: Principal, _: str, query: Mapping[str, list[str]]) -> Any:
        authorize(who, "lookup")
        kind = _one(query, "kind", required=True) or ""
        value = _one(query, "value", required=True) or ""
        with parameter("value"):
            key = itu_key_of(kind, value, _one(query, "country"))
        return self.queries.lookup(key)

    def deviations(self, who: Principal, _: str, query: Mapping[str, list[str]]) -> Any:
        authorize(who, "deviations")
        since_text = _one(query, "since")
        kind = _one(query, "kind")
        if kind is not None and kind.upper() not in DEVIATION_KINDS:
            raise BadParameter("kind", f"{kind!r} is not one of {', '.join(DEVIATION_KINDS)}")
        after = _one(query, "after")
        with parameter("since"):
            since = None if since_text is None else parse_time(since_text, "since")
        with parameter("limit"):
            limit = parse_limit(_one(query, "limit"))
        with parameter("after"):
            cursor = None if after is None else decode_cursor(after, "after")
        return self.queries.deviations(
            since, None if kind is None else kind.upper(), _one(query, "node"), limit, cursor
        )

    def train(self, who: Principal, train_id: str, query: Mapping[str, list[str]]) -> Any:
        authorize(who, "train")
        train_id = no_nul(train_id, "train_id")
        found = self.queries.train(train_id)
        try:
            authorize_train(who, found["operator"])
        except Forbidden:
            if who.role is Role.RAIL_OPERATOR:
                # Another operator's train answers as a train that does not exist: a rail
                # operator learns nothing of trains that are not its own.
                raise NotFound(f"no train {train_id} in the projection") from None
            raise
        return found

    def gate_check(self, who: Principal, _: str, query: Mapping[str, list[str]]) -> Any:
        started = time.perf_counter()
        try:
            return self._gate_check(who, query)
        finally:
            metrics.API_GATE_CHECK.observe(time.perf_counter() - started)

    def _gate_check(self, who: Principal, query: Mapping[str, list[str]]) -> Any:
        authorize(who, "gate-check")
        container, plate = _one(query, "container"), _one(query, "plate")
        if (container is None) == (plate is None):
            raise BadParameter("container", "give exactly one of container or plate")
        if container is not None:
            with parameter("container"):
                key = itu_key_of("CONTAINER", container, None, kinds="container")
        else:
            with parameter("plate"):
                key = itu_key_of(
                    "PLATE", plate or "", _one(query, "country", required=True), kinds="plate"
                )
        if self.gate is None or not self.gate.ready.is_set():
            raise Unavailable("the gate state is still loading")
        decision = self.gate.check(key).as_json()
        decision["as_of"] = _ms_iso(decision["as_of"])
        decision["gate"] = _one(query, "gate")
        found = self.gate.verdicts.get(key)
        decision["open_holds"] = (
            [{**h, "placed_at": _ms_iso(h.get("placed_at"))} for h in found["open_holds"]]
            if found
            else []
        )
        decision["mrns_pending"] = list(found["mrns_pending"]) if found else []
        return decision

    def health(self) -> tuple[int, dict[str, Any]]:
        database = self.queries.healthy()
        gate = self.gate is not None and self.gate.ready.is_set()
        ok = database and gate
        return (
            200 if ok else 503,
            {
                "status": "ok" if ok else "degraded",
                "database": "ok" if database else "unavailable",
                "gate_state": "ready" if gate else "loading",
            },
        )


def _query(text: str) -> dict[str, list[str]]:
    """The query string's parameters; BadParameter naming one that holds a NUL character."""
    query = parse_qs(text, keep_blank_values=True)
    for name, values in query.items():
        no_nul(name, "query")
        for value in values:
            no_nul(value, name)
    return query


Route = Callable[[Api, Principal, str, Mapping[str, list[str]]], Any]


def _route(path: str) -> tuple[Route, str] | None:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if len(parts) == 3 and parts[0] == "iot" and parts[2] == "timeline" and parts[1]:
        return Api.timeline, parts[1]
    if len(parts) == 2 and parts[0] == "trains" and parts[1]:
        return Api.train, parts[1]
    single: dict[str, Route] = {
        "lookup": Api.lookup,
        "deviations": Api.deviations,
        "gate-check": Api.gate_check,
    }
    if len(parts) == 1 and parts[0] in single:
        return single[parts[0]], ""
    return None


class Handler(BaseHTTPRequestHandler):
    """One request: authenticate, route, answer JSON."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: headers and body leave in one send, flushed after each request
    server_version = "iotrack-api"
    timeout = 15.0
    """Seconds a connection may stay silent (idle keep-alive, half-sent request) before it is
    closed, so a slow or idle client cannot hold a thread for ever (``make_server`` sets it)."""
    api: Api  # set on the subclass made by ``make_server``

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: Any, **headers: str) -> None:
        self._send(
            status, json.dumps(document, default=str).encode(), "application/json", **headers
        )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (501 for other methods, 400 for a malformed request line,
        414, 431, 505) as JSON like ours; the connection is closed after them."""
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.INTERNAL_SERVER_ERROR
        self.close_connection = True
        body = json.dumps(
            {
                "error": status.phrase,
                "status": int(status),
                "message": explain or message or status.description,
            }
        ).encode()
        self.send_response(int(status))
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        if status is HTTPStatus.NOT_IMPLEMENTED:
            self.send_header("Allow", "GET")
        send_body = self.command != "HEAD" and int(status) >= 200
        self.send_header("Content-Length", str(len(body) if send_body else 0))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, **extra: Any) -> None:
        headers = {}
        if status is HTTPStatus.UNAUTHORIZED:
            headers["WWW_Authenticate"] = 'Bearer realm="iotrack"'
        if status is HTTPStatus.SERVICE_UNAVAILABLE:
            headers["Retry_After"] = "1"
        self._json(
            status,
            {"error": status.phrase, "status": int(status), "message": message, **extra},
            **headers,
        )

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        if path == "/health":
            status, body = self.api.health()
            self._json(status, body)
            return
        if path == "/openapi.json":
            self._send(200, self.api.spec, "application/json")
            return
        if path == "/metrics":
            self._send(200, generate_latest(metrics.REGISTRY), CONTENT_TYPE_LATEST)
            return
        found = _route(path)
        if found is None:
            self._error(HTTPStatus.NOT_FOUND, f"no endpoint {path}; see /openapi.json")
            return
        principal = self.api.credentials.principal(bearer(self.headers.get("Authorization")))
        if principal is None:
            self._error(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")
            return
        route, argument = found
        try:
            self._json(200, route(self.api, principal, argument, _query(parts.query)))
        except BadParameter as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc), parameter=exc.parameter)
        except Forbidden as exc:
            self._error(HTTPStatus.FORBIDDEN, str(exc))
        except NotFound as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except Unavailable as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        except Exception:
            LOG.exception("unexpected error answering %s", path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "unexpected error; see the API's log")

    def _not_allowed(self) -> None:
        status = HTTPStatus.METHOD_NOT_ALLOWED
        self.close_connection = True  # its body, if any, is not read
        self._json(
            status,
            {"error": status.phrase, "status": int(status), "message": "only GET is served"},
            Allow="GET",
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


MAX_CONNECTIONS = 64
"""Client connections served at once by default (each has a thread); more are refused."""
IDLE_TIMEOUT_S = 15.0

_REFUSED = json.dumps(
    {
        "error": HTTPStatus.SERVICE_UNAVAILABLE.phrase,
        "status": 503,
        "message": "too many connections; retry shortly",
    }
).encode()


class Server(ThreadingHTTPServer):
    """The API's HTTP server: one daemon thread per connection (a stop never waits on a slow
    client), at most ``max_connections`` of them; a connection over the cap is answered 503
    and closed at once, without a thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.max_connections = max_connections
        self._connections = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def _refuse(self, request: socket.socket) -> None:
        metrics.API_CONNECTIONS_REFUSED.inc()
        try:
            request.settimeout(1.0)
            request.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                + str(len(_REFUSED)).encode()
                + b"\r\n\r\n"
                + _REFUSED
            )
        except OSError:
            pass
        self.shutdown_request(request)


def make_server(
    api: Api,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    max_connections: int = MAX_CONNECTIONS,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
) -> Server:
    """A server bound to ``host:port`` (0: any free port), not yet serving: at most
    ``max_connections`` connections at once, each closed after ``idle_timeout_s`` silent."""
    if max_connections < api.queries.size:
        raise ConfigError(
            f"max_connections={max_connections} is below the database pool's "
            f"{api.queries.size} connections"
        )
    handler = type("BoundHandler", (Handler,), {"api": api, "timeout": idle_timeout_s})
    try:
        return Server((host, port), handler, max_connections)
    except OSError as exc:
        raise StreamsError(
            f"cannot serve the API on {host}:{port} ({exc.strerror}): choose another --port"
        ) from exc


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080) -> int:
    """``iotrack api``: load the credentials and the gate state, then serve until SIGINT or
    SIGTERM."""
    import signal

    from streams.local import runtime
    from topics.codec import codec_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # The gate state's consumer thread decodes verdict updates while requests wait for the GIL:
    # hand it over every 0.5 ms instead of every 5 ms, or a gate check can wait that long.
    sys.setswitchinterval(0.0005)
    credentials = load_credentials(settings.api_tokens_file)
    found = runtime.endpoints(settings)
    gate = GateState(found.bootstrap, codec_for(settings.schema_registry_url))
    queries = Queries(found.database_url.reveal())
    try:
        try:
            gate.start()
        except TimeoutError as exc:
            raise StreamsError(
                f"{exc} from {found.bootstrap}: is the broker up ('iotrack up', "
                "'iotrack topics apply')?"
            ) from exc
        server = make_server(Api(credentials, queries, gate), host, port)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(
                number, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
            )
        bound_host, bound_port = server.server_address[:2]
        roles = ", ".join(f"{role} {n}" for role, n in credentials.roles().items())
        print(
            f"iotrack api on http://{bound_host!s}:{bound_port} (OpenAPI: /openapi.json, "
            f"metrics: /metrics); {len(gate.verdicts)} unit verdicts in memory; credentials "
            f"from {settings.api_tokens_file} ({roles})",
            flush=True,
        )
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
    finally:
        gate.stop()
        queries.close()
    return 0
