"""``iotrack api``: the query API over HTTP, on the Postgres projection and the gate state.

Endpoints (described for machines at ``/openapi.json``, generated from these routes and
:mod:`streams.http.models`):

- ``GET /iot/{iot_id}/timeline``: the nodes of the IOT_ID's mission path, expected and crossed,
  with times, its passages, state transitions, holds, releases, exit and deviations;
- ``GET /bindings/{request_id}``: the binding (its IOT_ID) made for a Customs request;
- ``GET /lookup?kind=CONTAINER&value=...`` (``ILU``, ``SWAP_BODY``, ``SEAL``, ``PLATE`` with
  ``country``): the active IOT_ID(s) of a transport unit and the verdict;
- ``GET /deviations?since=&kind=&node=&limit=&after=``: deviations in the order the projection
  recorded them (a sequence number it assigns), keyset-paginated with an opaque cursor on that
  number, so pages stay stable while rows arrive and a client that keeps the last cursor gets
  every row recorded after it, even one whose ``occurred_at`` is earlier;
- ``GET /trains/{train_id}``: manifest versions, loading lists and permission to leave;
- ``GET /gate-check?container=...`` or ``?plate=...&country=IT``: may it leave now, and why,
  from :class:`streams.workers.gate_state.GateState` in memory (no database round trip);
- ``/subscriptions``: see :mod:`streams.http.subscriptions`;
- ``GET /health``, ``GET /openapi.json``, ``GET /metrics`` (no credentials needed).

Every other request needs ``Authorization: Bearer TOKEN`` (401 with ``WWW-Authenticate``
otherwise); what a role may see is decided in :mod:`streams.http.access` (403 when it may not).
Limits (connections, the whole-request deadline) are the server's: :mod:`streams.http.server`.
"""

import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from streams.errors import ConfigError, StreamsError
from streams.http.access import (
    ENDPOINT_ROLES,
    BadParameter,
    Credentials,
    Forbidden,
    Principal,
    Role,
    authorize,
    authorize_train,
    bearer,
    decode_cursor,
    parse_time,
    timeline_view,
)
from streams.http.app import (
    BEARER_SECURITY,
    JsonAnswer,
    application,
    checked_query,
    error_responses,
    query_of,
    query_parameters,
)
from streams.http.enums import DeviationKind
from streams.http.errors import NotFound, Unauthorized, Unavailable
from streams.http.models import (
    BindingAnswer,
    DeviationPage,
    GateDecision,
    Health,
    Lookup,
    LookupKind,
    Timeline,
    Train,
)
from streams.http.ops import ready_routes
from streams.http.params import itu_key_of, parameter
from streams.http.queries import Queries
from streams.http.server import Limits, Server
from streams.http.stream_slots import StreamSlots
from streams.http.tokens_file import is_public, load_credentials
from streams.http.values import ms_iso
from streams.ops import metrics
from streams.ops import readiness as checks
from streams.ops.duties import Duty
from streams.ops.readiness import Check, Readiness
from streams.ops.settings import Settings
from streams.ops.signals import stop_on_signals
from streams.workers.gate_state import GateState
from topics import catalog
from topics.clients import KafkaConnection

LOG = logging.getLogger("iotrack.api")
DEVIATION_KINDS: tuple[str, ...] = tuple(kind.value for kind in DeviationKind)
QUERY_ERRORS = error_responses(400, 401, 403, 405, 501, 503)
RESOURCE_ERRORS = error_responses(400, 401, 403, 404, 405, 501, 503)


def roles(endpoint: str) -> dict[str, Any]:
    """OpenAPI of an operation that needs a bearer token: the scheme, and the roles that may
    call ``endpoint`` (the extension ``x-roles``)."""
    return {
        "security": BEARER_SECURITY,
        "x-roles": sorted(role.value for role in ENDPOINT_ROLES[endpoint]),
    }


# ------------------------------------------------------------------------------ parameters


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _time(value: object) -> object:
    if isinstance(value, str):
        try:
            return parse_time(value, "since")
        except BadParameter as exc:
            raise ValueError(str(exc).removeprefix("since: ")) from None
    return value


Text = Annotated[str, BeforeValidator(_stripped), AfterValidator(_no_nul)]


class GateQuery(BaseModel):
    """The gate check's parameters: a container, or a plate with its country."""

    container: Text | None = Field(default=None, description="ISO 6346 container code.")
    plate: Text | None = Field(default=None, description="Vehicle plate (with country).")
    country: Text | None = Field(
        default=None, description="Registration country of the plate, e.g. IT."
    )
    gate: Text | None = Field(default=None, description="node_id of the gate asking.")


class Api:
    """What the routes need: credentials, queries, the gate state."""

    def __init__(self, credentials: Credentials, queries: Queries, gate: GateState | None) -> None:
        self.credentials = credentials
        self.queries = queries
        self.gate = gate
        self.streams = StreamSlots()
        """The event streams (subscriptions, the console's live pages) open on this API."""
        self._readiness: Readiness | None = None

    def caller(self, endpoint: str) -> Callable[..., Awaitable[Principal]]:
        """A dependency: the principal of a request that may call ``endpoint`` (401, 403),
        whose query string is sound (400)."""

        async def who(request: Request) -> Principal:
            principal = self.credentials.principal(bearer(request.headers.get("authorization")))
            if principal is None:
                raise Unauthorized("a valid bearer token is required")
            authorize(principal, endpoint)
            await checked_query(request)
            return principal

        return who

    def train(self, who: Principal, train_id: str) -> dict[str, Any]:
        if who.role is Role.RAIL_OPERATOR and self.queries.train_operator(train_id) != (
            who.operator
        ):
            # Another operator's train answers as a train that does not exist, by the same
            # path: one query, then 404, whether the train exists or not, so neither the answer
            # nor its cost tells a rail operator of trains that are not its own.
            raise NotFound(f"no train {train_id} in the projection")
        found = self.queries.train(train_id)
        try:
            authorize_train(who, found["operator"])
        except Forbidden:
            if who.role is Role.RAIL_OPERATOR:  # its operator changed in between
                raise NotFound(f"no train {train_id} in the projection") from None
            raise
        return found

    def gate_check(
        self, container: str | None, plate: str | None, country: str | None, gate: str | None
    ) -> dict[str, Any]:
        if (container is None) == (plate is None):
            raise BadParameter("container", "give exactly one of container or plate")
        if container is not None:
            with parameter("container"):
                key = itu_key_of("CONTAINER", container, None, kinds="container")
        else:
            if country is None:
                raise BadParameter("country", "required")
            with parameter("plate"):
                key = itu_key_of("PLATE", plate or "", country, kinds="plate")
        if self.gate is None or not self.gate.ready.is_set():
            raise Unavailable("the gate state is still loading")
        decision = self.gate.check(key).as_json()
        decision["as_of"] = ms_iso(decision["as_of"])
        decision["gate"] = gate
        found = self.gate.verdicts.get(key)
        decision["open_holds"] = (
            [{**h, "placed_at": ms_iso(h.get("placed_at"))} for h in found["open_holds"]]
            if found
            else []
        )
        decision["mrns_pending"] = list(found["mrns_pending"]) if found else []
        return decision

    def health(self) -> tuple[int, dict[str, Any]]:
        database = self.queries.healthy()
        gate = self.gate
        state = (
            "dead"
            if gate is not None and not gate.alive()
            else "ready"
            if gate is not None and gate.ready.is_set()
            else "loading"
        )
        ok = database and state == "ready"
        last = gate.skipped[-1] if gate is not None and gate.skipped else None
        return (
            200 if ok else 503,
            {
                "status": "ok" if ok else "degraded",
                "database": "ok" if database else "unavailable",
                "gate_state": state,
                "gate_state_skipped": gate.skipped_count if gate is not None else 0,
                "gate_state_last_skipped": None if last is None else str(last),
            },
        )

    def readiness(self) -> Readiness:
        """``iotrack api`` is alive while its gate state's thread runs, and ready while the
        database answers and the gate state is loaded, current and reaching the broker."""
        if self._readiness is not None:
            return self._readiness
        found = self._readiness = Readiness("api", [self._database], kind="api")
        gate = self.gate
        if gate is not None:
            found.add(checks.thread_alive("gate_state_thread", lambda: gate.thread), alive=True)
            found.add(self._gate_loaded)
            found.add(checks.broker(gate.watch))
            found.add(checks.lag(gate.watch, catalog.CLEARANCE_BY_ITU.name))
            found.add(checks.progress(gate.watch, catalog.CLEARANCE_BY_ITU.name))
        return found

    def _database(self) -> Check:
        if self.queries.healthy():
            return checks.passed("database", "the database answers")
        return checks.failed("database", "the database does not answer")

    def _gate_loaded(self) -> Check:
        gate = self.gate
        if gate is None or not gate.ready.is_set():
            return checks.failed("gate_state", "the verdicts are still loading")
        if gate.error is not None:
            return checks.failed("gate_state", f"reading the verdicts failed: {gate.error}")
        return checks.passed("gate_state", f"{len(gate.verdicts)} unit verdicts in memory")


def query_routes(api: Api) -> APIRouter:
    """The read-side routes: thin, each parses, calls one query and answers its document."""
    router = APIRouter()
    gate_caller = api.caller("gate-check")

    @router.get(
        "/iot/{iot_id}/timeline",
        operation_id="timeline",
        summary="An IOT_ID along its mission path",
        description="Nodes expected and crossed with times, passages, state transitions, the "
        "verdict, holds (Customs and GdF; reason codes, risk details and outcomes for Customs "
        "only), releases and deviations (Customs and GdF).",
        response_model=Timeline,
        response_model_exclude_unset=True,
        responses=RESOURCE_ERRORS,
        openapi_extra=roles("timeline"),
    )
    def timeline(
        iot_id: Annotated[UUID, PathParam(description="The IOT_ID (UUID).")],
        who: Annotated[Principal, Depends(api.caller("timeline"))],
    ) -> Any:
        return timeline_view(who, api.queries.timeline(str(iot_id)))

    @router.get(
        "/bindings/{request_id}",
        operation_id="binding",
        summary="The binding made for a Customs binding request",
        description="The IOT_ID the tracking core derived for the request, its mission path, "
        "MRNs and units with their validity. 404 while the request is not bound: not processed "
        "yet, or refused (the refusal and its reason went to Customs; `iotrack bind` prints it).",
        response_model=BindingAnswer,
        response_model_exclude_unset=True,
        responses=RESOURCE_ERRORS,
        openapi_extra=roles("binding"),
    )
    def binding(
        request_id: Annotated[Text, PathParam(description="request_id of the BindingRequested.")],
        who: Annotated[Principal, Depends(api.caller("binding"))],
    ) -> Any:
        return api.queries.binding(request_id)

    @router.get(
        "/lookup",
        operation_id="lookup",
        summary="Active IOT_ID(s) and verdict of a transport unit",
        response_model=Lookup,
        response_model_exclude_unset=True,
        responses=QUERY_ERRORS,
        openapi_extra=roles("lookup"),
    )
    def lookup(
        *,
        who: Annotated[Principal, Depends(api.caller("lookup"))],
        kind: Annotated[
            LookupKind,
            BeforeValidator(_upper),
            Query(description="Kind of identifier (case-insensitive)."),
        ],
        value: Annotated[
            Text,
            Query(description="The identifier; containers and ILUs must pass their check digit."),
        ],
        country: Annotated[
            Text | None,
            Query(description="Registration country of a plate (ISO 3166 alpha-2)."),
        ] = None,
    ) -> Any:
        with parameter("value"):
            key = itu_key_of(kind, value, country)
        return api.queries.lookup(key)

    @router.get(
        "/deviations",
        operation_id="deviations",
        summary="Deviations since a time, keyset-paginated",
        description="In the order the projection recorded them (a sequence number it assigns; "
        "occurred_at may go back and forth). A page ends with next_cursor; pass it as `after` "
        "for the next page. Rows that arrive meanwhile never shift a page and are all reached "
        "after the rows already handed out, whatever their occurred_at: keep polling with the "
        "last next_cursor to follow new deviations (or subscribe: /subscriptions).",
        response_model=DeviationPage,
        response_model_exclude_unset=True,
        responses=QUERY_ERRORS,
        openapi_extra=roles("deviations"),
    )
    def deviations(
        *,
        who: Annotated[Principal, Depends(api.caller("deviations"))],
        since: Annotated[
            datetime | None,
            BeforeValidator(_time),
            Query(description="ISO 8601 date-time (UTC when no offset); default: the beginning."),
        ] = None,
        kind: Annotated[
            DeviationKind | None,
            BeforeValidator(_upper),
            Query(description="Deviation kind (case-insensitive)."),
        ] = None,
        node: Annotated[
            Text | None, Query(description="node_id where the deviation was observed.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="Page size (default 100).")] = 100,
        after: Annotated[
            Text | None, Query(description="Opaque cursor from a previous page's next_cursor.")
        ] = None,
    ) -> Any:
        cursor = None if after is None else decode_cursor(after, "after")
        return api.queries.deviations(
            since, None if kind is None else kind.value, node, limit, cursor
        )

    @router.get(
        "/trains/{train_id}",
        operation_id="train",
        summary="A train: manifest versions, loading lists, permission to leave",
        description="A rail operator sees its own trains only: another operator's train "
        "answers 404, as a train that does not exist.",
        response_model=Train,
        response_model_exclude_unset=True,
        responses=RESOURCE_ERRORS,
        openapi_extra=roles("train"),
    )
    def train(
        train_id: Annotated[Text, PathParam(description="Id of the train.")],
        who: Annotated[Principal, Depends(api.caller("train"))],
    ) -> Any:
        return api.train(who, train_id)

    @router.get(
        "/gate-check",
        operation_id="gateCheck",
        summary="May this unit leave through the gate now?",
        description="Answered from the verdicts held in memory (no database round trip). Give "
        "a container, or a plate with its country.",
        response_model=GateDecision,
        response_model_exclude_unset=True,
        responses=QUERY_ERRORS,
        openapi_extra={**roles("gate-check"), "parameters": query_parameters(GateQuery)},
    )
    async def gate_check(request: Request) -> Any:
        # The hot path: the caller and the query read here, without FastAPI's per-parameter
        # dependency solving (same rules, same model; see query_of).
        await gate_caller(request)
        started = time.perf_counter()
        try:
            asked = query_of(GateQuery, request)
            return api.gate_check(asked.container, asked.plate, asked.country, asked.gate)
        finally:
            metrics.API_GATE_CHECK.observe(time.perf_counter() - started)

    return router


def ops_routes(health: Callable[[], tuple[int, dict[str, Any]]], model: Any) -> APIRouter:
    """``/health`` and ``/metrics``, without credentials."""
    router = APIRouter()

    @router.get(
        "/health",
        operation_id="health",
        summary="Whether this process's dependencies answer",
        response_model=model,
        responses={503: {"model": model, "description": "One of them does not."}},
    )
    def health_route() -> Any:
        status, body = health()
        return JsonAnswer(model.model_validate(body).model_dump(mode="json"), status)

    @router.get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics of this process",
        response_class=PlainTextResponse,
    )
    def metrics_route() -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


def make_app(api: Api, *extra: APIRouter) -> FastAPI:
    """The query API's application: read-side routes, health and metrics, and ``extra``
    routers (subscriptions, the web console)."""
    return application(
        title="iotrack query API",
        description="The read side of iotrack: IOT_ID timelines, lookups by transport unit, "
        "deviations, trains, the gate check and subscriptions. Bearer tokens map to a role "
        "(customs, gdf, terminal, rail-operator; `x-roles` on each operation names those that "
        "may call it); hold reason codes and risk details are shown to Customs only, a "
        "terminal sees verdicts, a rail operator its own trains.",
        routers=[
            query_routes(api),
            *extra,
            ops_routes(api.health, Health),
            ready_routes(api.readiness(), health=False),
        ],
    )


def make_server(
    api: Api,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    max_connections: int = 64,
    idle_timeout_s: float = 15.0,
    extra: tuple[APIRouter, ...] = (),
    stopping: threading.Event | None = None,
) -> Server:
    """The API bound to ``host:port`` (0: any free port), not yet serving: at most
    ``max_connections`` connections at once, each given ``idle_timeout_s`` to send a whole
    request once it waits for one (and closed after that long idle)."""
    if max_connections < api.queries.size:
        raise ConfigError(
            f"max_connections={max_connections} is below the database pool's "
            f"{api.queries.size} connections"
        )
    limits = Limits(
        max_connections=max_connections,
        request_deadline_s=idle_timeout_s,
        refused=metrics.API_CONNECTIONS_REFUSED.inc,
        evicted=metrics.API_CONNECTIONS_EVICTED.inc,
    )
    return Server(make_app(api, *extra), host, port, limits, name="iotrack-api", stopping=stopping)


def console_of(
    settings: Settings, api: Api, kafka: KafkaConnection, stopping: threading.Event
) -> APIRouter:
    """The web console's routes (``/console``) on ``api``'s parts, configured by ``settings``;
    ``kafka``: the query API's own connection (the console runs in its process)."""
    from streams.http.console import Console, Sessions, console_routes
    from streams.ops.status import collect
    from topics.codec import codec_for
    from topics.parties import API

    return console_routes(
        Console(
            api,
            Sessions(settings.console_idle_s),
            kafka=kafka,
            codec=codec_for(settings.schema_registry_url),
            # As the query API: this process never holds the Kafka administrator's secret.
            status=lambda: collect(settings, party=API).as_json(),
            grafana_url=settings.grafana_url,
            core_metrics_url=settings.core_metrics_url,
            stopping=stopping,
        )
    )


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
    closing: list[Callable[[], None]] = []
    try:
        try:
            gate.start()
        except TimeoutError as exc:
            raise StreamsError(
                f"{exc} from {found.bootstrap}: is the broker up ('iotrack up', "
                "'iotrack topics apply')?"
            ) from exc
        from streams.http.pool import ReadPool
        from streams.http.subscriptions import subscription_routes
        from streams.subscriptions.destinations import Destinations
        from streams.subscriptions.notify import Notifier
        from streams.subscriptions.store import Store

        api = Api(credentials, queries, gate)
        # The subscription tables are written (a party's CRUD): a pool that is not read-only.
        writer = ReadPool(
            found.database(Duty.API).reveal(), size=4, read_only=False, name="iotrack-subs"
        )
        notifier = Notifier(found.database(Duty.API).reveal())
        notifier.start()
        closing.extend([writer.close, notifier.stop])
        stopping = threading.Event()
        routes = subscription_routes(
            api,
            Store(writer),
            notifier,
            stopping=stopping,
            destinations=Destinations(settings.webhook_allowed_networks),
        )
        console = console_of(settings, api, found.kafka(parties.API), stopping)
        server = make_server(api, host, port, extra=(routes, console), stopping=stopping)
        stop = stop_on_signals()
        bound_host, bound_port = server.server_address
        from streams.ops import running

        metrics.READINESS.add(api.readiness())
        metrics.API_STREAMS_OPEN.set_function(api.streams.open)
        where = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host  # noqa: S104
        closing.append(running.register(settings.home, "api")(f"http://{where}:{bound_port}"))
        public = is_public(settings.api_tokens_file)
        roles_line = ", ".join(f"{role} {n}" for role, n in credentials.roles().items())
        print(
            f"iotrack api on http://{bound_host}:{bound_port} (OpenAPI: /openapi.json, "
            f"metrics: /metrics, console: http://{bound_host}:{bound_port}/console); "
            f"{len(gate.verdicts)} unit verdicts in memory; credentials "
            f"from {settings.api_tokens_file} ({roles_line})"
            + (" - PUBLIC development tokens: never on a real port" if public else ""),
            flush=True,
        )
        serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        serving.start()
        stop.wait()
        server.shutdown()
        server.server_close()
    finally:
        for close in closing:
            close()
        gate.stop()
        queries.close()
    return 0
