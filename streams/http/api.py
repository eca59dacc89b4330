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

import functools
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from streams.errors import ConfigError, StreamsError
from streams.http.access import (
    BadParameter,
    Credentials,
    Forbidden,
    Principal,
    Role,
    authorize,
    authorize_train,
    decode_cursor,
    no_nul,
    parse_credentials,
    parse_limit,
    parse_time,
    parse_uuid,
    timeline_view,
)
from streams.http.errors import NotFound, Unavailable
from streams.http.openapi import DEVIATION_KINDS as OPENAPI_DEVIATION_KINDS
from streams.http.openapi import document
from streams.http.params import itu_key_of, one, parameter
from streams.http.queries import Queries
from streams.http.server import make_server
from streams.http.values import ms_iso
from streams.ops import metrics
from streams.ops.duties import Duty
from streams.ops.settings import Settings
from streams.ops.signals import stop_on_signals
from streams.workers.gate_state import GateState

LOG = logging.getLogger("iotrack.api")
Route = Callable[[Principal, str, Mapping[str, list[str]]], Any]
"""A route: (principal, path parameter, query) -> JSON document."""
RouteHandler = Callable[["Api", Principal, str, Mapping[str, list[str]]], Any]
DEVIATION_KINDS: tuple[str, ...] = tuple(OPENAPI_DEVIATION_KINDS)


def load_credentials(path: Path) -> Credentials:
    """Read the tokens file once; ConfigError names the file and line (never a token)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"IOTRACK_API_TOKENS_FILE={str(path)!r}: cannot read it ({exc.strerror})"
        ) from exc
    return parse_credentials(text.splitlines(), where=str(path))


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
        kind = one(query, "kind", required=True) or ""
        value = one(query, "value", required=True) or ""
        with parameter("value"):
            key = itu_key_of(kind, value, one(query, "country"))
        return self.queries.lookup(key)

    def deviations(self, who: Principal, _: str, query: Mapping[str, list[str]]) -> Any:
        authorize(who, "deviations")
        since_text = one(query, "since")
        kind = one(query, "kind")
        if kind is not None and kind.upper() not in DEVIATION_KINDS:
            raise BadParameter("kind", f"{kind!r} is not one of {', '.join(DEVIATION_KINDS)}")
        after = one(query, "after")
        with parameter("since"):
            since = None if since_text is None else parse_time(since_text, "since")
        with parameter("limit"):
            limit = parse_limit(one(query, "limit"))
        with parameter("after"):
            cursor = None if after is None else decode_cursor(after, "after")
        return self.queries.deviations(
            since, None if kind is None else kind.upper(), one(query, "node"), limit, cursor
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
        container, plate = one(query, "container"), one(query, "plate")
        if (container is None) == (plate is None):
            raise BadParameter("container", "give exactly one of container or plate")
        if container is not None:
            with parameter("container"):
                key = itu_key_of("CONTAINER", container, None, kinds="container")
        else:
            with parameter("plate"):
                key = itu_key_of(
                    "PLATE", plate or "", one(query, "country", required=True), kinds="plate"
                )
        if self.gate is None or not self.gate.ready.is_set():
            raise Unavailable("the gate state is still loading")
        decision = self.gate.check(key).as_json()
        decision["as_of"] = ms_iso(decision["as_of"])
        decision["gate"] = one(query, "gate")
        found = self.gate.verdicts.get(key)
        decision["open_holds"] = (
            [{**h, "placed_at": ms_iso(h.get("placed_at"))} for h in found["open_holds"]]
            if found
            else []
        )
        decision["mrns_pending"] = list(found["mrns_pending"]) if found else []
        return decision

    def route(self, path: str) -> tuple[Route, str] | None:
        """The route answering ``path``, bound to this API, and its path parameter."""
        found = find_route(path)
        if found is None:
            return None
        handler, argument = found
        return functools.partial(handler, self), argument

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


def find_route(path: str) -> tuple[RouteHandler, str] | None:
    """The handler answering ``path`` and its path parameter, None when there is none."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if len(parts) == 3 and parts[0] == "iot" and parts[2] == "timeline" and parts[1]:
        return Api.timeline, parts[1]
    if len(parts) == 2 and parts[0] == "trains" and parts[1]:
        return Api.train, parts[1]
    single: dict[str, RouteHandler] = {
        "lookup": Api.lookup,
        "deviations": Api.deviations,
        "gate-check": Api.gate_check,
    }
    if len(parts) == 1 and parts[0] in single:
        return single[parts[0]], ""
    return None


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080) -> int:
    """``iotrack api``: load the credentials and the gate state, then serve until SIGINT or
    SIGTERM."""
    from streams.local import runtime
    from topics import parties
    from topics.codec import codec_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # The gate state's consumer thread decodes verdict updates while requests wait for the GIL:
    # hand it over every 0.5 ms instead of every 5 ms, or a gate check can wait that long.
    sys.setswitchinterval(0.0005)
    credentials = load_credentials(settings.api_tokens_file)
    found = runtime.endpoints(settings)
    gate = GateState(found.kafka(parties.API), codec_for(settings.schema_registry_url))
    queries = Queries(found.database(Duty.API).reveal())
    try:
        try:
            gate.start()
        except TimeoutError as exc:
            raise StreamsError(
                f"{exc} from {found.bootstrap}: is the broker up ('iotrack up', "
                "'iotrack topics apply')?"
            ) from exc
        server = make_server(Api(credentials, queries, gate), host, port)
        stop_on_signals(then=lambda: threading.Thread(target=server.shutdown, daemon=True).start())
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
