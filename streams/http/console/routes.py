"""The web console's routes: server-rendered pages under ``/console`` on the query API's own
application, with the API's roles and need-to-know (:mod:`streams.http.access` decides; every
page shows a document as the API would answer it to the same principal).

Pages (each lists in the navigation only for the roles that may open it):

- ``/console/deviations`` (customs, gdf): the latest deviations, filtered by kind, node and
  mission path, followed live (``/console/deviations/events``, server-sent events);
- ``/console/gate`` (customs, gdf, terminal): may this container or plate leave, and why, for
  every unit a truck carries;
- ``/console/search`` (customs, gdf, terminal): by container, plate, MRN or IOT_ID;
- ``/console/iot/{iot_id}`` (customs, gdf, terminal): the timeline with the mission path drawn;
- ``/console/trains``, ``/console/trains/{id}`` (customs, gdf, rail-operator: its own trains):
  readiness per unit, the permission to leave, the consist check, followed live; a rail
  operator sends loading lists and manifests (``POST /console/trains/upload``: the query API
  writes them on the operator's own requests topic as its declared gateway, for the session's
  operator only, and waits for the core's answer, :mod:`.uploads`);
- ``/console/day`` (customs): inputs the core keeps waiting, the day's dead letters;
- ``/console/operations`` (customs, gdf): each process's readiness and lag, the dashboards.

Errors are pages, not JSON: 401 sends the browser to the sign-in page, 403/404/400 say why.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from processors.identifiers import IdentifierError, validate_kind
from streams.http.access import (
    BadParameter,
    Forbidden,
    Role,
    authorize_console,
    authorize_train,
    decode_cursor,
    may,
    no_nul,
    parse_uuid,
    timeline_view,
)
from streams.http.api import DEVIATION_KINDS
from streams.http.console import operations as ops
from streams.http.console.pages import (
    CONTAINER,
    HEARTBEAT_S,
    HERE,
    ILU,
    MRN,
    SECURITY_HEADERS,
    TRAIN_ID,
    UPLOAD_LIMIT,
    Console,
)
from streams.http.console.picture import mission_picture
from streams.http.console.sessions import (
    COOKIE,
    PATH,
    SIGN_IN_COOKIE,
    Session,
    check_csrf,
)
from streams.http.console.uploads import KINDS, Upload
from streams.http.errors import NotFound, TooLarge
from streams.http.params import itu_key_of


def _text(request: Request, name: str, *, upper: bool = False) -> str | None:
    value = request.query_params.get(name)
    if value is None or not value.strip():
        return None
    value = no_nul(value.strip(), name)
    return value.upper() if upper else value


def _sse(event: str, data: str, event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return ("\n".join(lines) + "\n\n").encode()


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def _upload_form(request: Request, session: Session) -> tuple[str, str, str, str]:
    """An upload's train, what it is, the file's name and its text; its CSRF token checked."""
    form = await request.form(max_files=1, max_fields=8, max_part_size=UPLOAD_LIMIT)
    try:
        given = form.get("csrf")
        check_csrf(session.csrf, given if isinstance(given, str) else None)
        train_id = str(form.get("train_id") or "").strip()
        if not TRAIN_ID.match(train_id):
            raise BadParameter("train_id", "1 to 64 letters, digits, '.', '_' or '-'")
        what = form.get("what")
        if what not in KINDS:
            raise BadParameter("what", "a loading list or a manifest")
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise BadParameter("file", "choose the file to send")
        name = file.filename or "the file"
        data = await file.read(UPLOAD_LIMIT + 1)
    finally:
        await form.close()
    if len(data) > UPLOAD_LIMIT:
        raise TooLarge(f"the file is over {UPLOAD_LIMIT // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadParameter("file", "not UTF-8 text (CSV or JSON)") from None
    return train_id, str(what), name, text


def console_routes(console: Console) -> APIRouter:  # noqa: PLR0915 - one route table
    """The console's routes (not in the OpenAPI document: they answer HTML, for people)."""
    router = APIRouter(include_in_schema=False)
    router.mount(f"{PATH}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    pages = console.pages
    api = console.api

    @router.get(PATH)
    @router.get(f"{PATH}/")
    @pages
    def root(request: Request) -> Response:
        found = console.sessions.get(request.cookies.get(COOKIE))
        target = console.home(found.principal) if found else f"{PATH}/sign-in"
        return RedirectResponse(target, 303)

    # -- signing in and out ------------------------------------------------------------------

    @router.get(f"{PATH}/sign-in")
    @pages
    def sign_in_form(request: Request) -> Response:
        import secrets

        token = secrets.token_urlsafe(32)
        answer = console.page(
            request, "sign_in.html", None, title="Sign in", csrf=token, problem=""
        )
        _cookie(answer, request, SIGN_IN_COOKIE, token, 600)
        return answer

    @router.post(f"{PATH}/sign-in")
    @pages
    async def sign_in(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=4)
        given = form.get("csrf")
        check_csrf(request.cookies.get(SIGN_IN_COOKIE), given if isinstance(given, str) else None)
        token = form.get("token")
        principal = api.credentials.principal(token.strip() if isinstance(token, str) else None)
        if principal is None:
            return console.page(
                request,
                "sign_in.html",
                None,
                status=401,
                title="Sign in",
                csrf=request.cookies.get(SIGN_IN_COOKIE, ""),
                problem="That token is not one of this iotrack's: check it and try again.",
            )
        # A new session id at every sign-in: an id planted before it is worth nothing.
        console.sessions.end(request.cookies.get(COOKIE))
        session_id, _session = console.sessions.start(principal)
        signed_in = RedirectResponse(console.home(principal), 303)
        _cookie(signed_in, request, COOKIE, session_id, int(console.sessions.lifetime_s))
        signed_in.delete_cookie(SIGN_IN_COOKIE, path=PATH)
        return signed_in

    @router.post(f"{PATH}/sign-out")
    @pages
    async def sign_out(request: Request) -> Response:
        session = console.session(request)
        form = await request.form(max_files=0, max_fields=4)
        given = form.get("csrf")
        check_csrf(session.csrf, given if isinstance(given, str) else None)
        console.sessions.end(request.cookies.get(COOKIE))
        answer = RedirectResponse(f"{PATH}/sign-in", 303)
        answer.delete_cookie(COOKIE, path=PATH)
        return answer

    # -- Customs: deviations, search, an IOT_ID, the day -------------------------------------

    def _deviation_filters(request: Request) -> tuple[str | None, str | None, str | None]:
        kind = _text(request, "kind", upper=True)
        if kind is not None and kind not in DEVIATION_KINDS:
            raise BadParameter("kind", f"{kind!r} is not a deviation kind")
        return kind, _text(request, "node"), _text(request, "path")

    @router.get(f"{PATH}/deviations")
    @pages
    def deviations(request: Request) -> Response:
        session = console.session(request, "deviations")
        kind, node, path = _deviation_filters(request)
        items, head = api.queries.latest_deviations(kind, node, path, 100)
        query = {k: v for k, v in (("kind", kind), ("node", node), ("path", path)) if v}
        events_url = f"{PATH}/deviations/events?" + urlencode({**query, "after": head})
        return console.page(
            request,
            "deviations.html",
            session,
            title="Deviations",
            kinds=DEVIATION_KINDS,
            kind=kind,
            node=node,
            path=path,
            items=items,
            events_url=events_url,
        )

    @router.get(f"{PATH}/deviations/events")
    @pages
    async def deviation_events(request: Request) -> Response:
        session = console.session(request, "deviations")
        kind, node, path = _deviation_filters(request)
        resumed = request.headers.get("last-event-id") or _text(request, "after") or "0"
        if not re.fullmatch(r"[0-9]{1,18}", resumed):
            raise BadParameter("after", "expected the number of the last deviation received")
        session_id = request.cookies.get(COOKIE)
        row = console.templates.get_template("_fragments.html").module.deviation_row  # type: ignore[attr-defined]

        async def stream() -> AsyncIterator[bytes]:
            after = int(resumed)
            sent = time.monotonic()
            yield b"retry: 2000\n\n"
            while not console.stopping.is_set():
                if not console.sessions.alive(session_id):
                    yield _sse("signed-out", "")
                    return
                page = await run_in_threadpool(
                    api.queries.deviations, None, kind, node, 100, after, path=path
                )
                for item in page["items"]:
                    html = str(row(item))
                    yield _sse("deviation", html)
                    sent = time.monotonic()
                # The position is the projection's sequence number, carried by the cursor.
                moved = decode_cursor(page["next_cursor"])
                if moved != after:
                    after = moved
                    yield f"id: {after}\n\n".encode()
                if page["has_more"]:
                    continue
                if time.monotonic() - sent > HEARTBEAT_S:
                    yield b": heartbeat\n\n"
                    sent = time.monotonic()
                await asyncio.sleep(console.poll_s)

        return StreamingResponse(
            api.streams.hold(session.principal, stream()),
            media_type="text/event-stream",
            headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"},
        )

    @router.get(f"{PATH}/search")
    @pages
    def search(request: Request) -> Response:
        session = console.session(request, "lookup")
        q = _text(request, "q", upper=True)
        country = _text(request, "country", upper=True) or "IT"
        context: dict[str, Any] = {"q": q, "country": country, "found": None, "problem": ""}
        context.update(heading="", unit_verdict=None)
        if q is not None:
            compact = re.sub(r"[\s-]", "", q)
            try:
                if re.fullmatch(
                    r"[0-9A-F]{8}-?[0-9A-F]{4}-?[0-9A-F]{4}-?[0-9A-F]{4}-?[0-9A-F]{12}", q
                ):
                    iot = parse_uuid(q.lower(), "q")
                    return RedirectResponse(f"{PATH}/iot/{iot}", 303)
                if MRN.match(compact):
                    try:
                        mrn = validate_kind("mrn", compact)
                    except IdentifierError as exc:
                        raise BadParameter("q", str(exc)) from None
                    context["found"] = api.queries.bound_to_mrn(mrn)
                    context["heading"] = f"Bound to MRN {mrn}"
                else:
                    kind = (
                        "CONTAINER"
                        if CONTAINER.match(compact)
                        else "ILU"
                        if ILU.match(compact)
                        else "PLATE"
                    )
                    key = itu_key_of(kind, compact, country if kind == "PLATE" else None)
                    found = api.queries.lookup(key)
                    context["heading"] = f"Active IOT_IDs of {found['itu']}"
                    context["found"] = [
                        {
                            **a,
                            "bound_until": None,
                            "verdict": (a.get("verdict") or {}).get("verdict"),
                            "may_leave": (a.get("verdict") or {}).get("may_leave"),
                        }
                        for a in found["active"]
                    ]
                    context["unit_verdict"] = found["verdict"]
            except BadParameter as exc:
                context["problem"] = str(exc).split(": ", 1)[-1]
        return console.page(request, "search.html", session, title="Search", **context)

    @router.get(f"{PATH}/iot/{{iot_id}}")
    @pages
    def iot(request: Request, iot_id: str) -> Response:
        session = console.session(request, "timeline")
        found = timeline_view(session.principal, api.queries.timeline(parse_uuid(iot_id, "iot_id")))
        holds = found.get("holds") or []
        return console.page(
            request,
            "iot.html",
            session,
            title=f"IOT_ID {found['iot_id']}",
            t=found,
            picture=mission_picture(found),
            # What the view left in: Customs' holds carry their reasons, the others' do not.
            show_reasons=any("reason_code" in h for h in holds),
        )

    @router.get(f"{PATH}/day")
    @pages
    def day(request: Request) -> Response:
        session = console.session(request, "dead-letters")
        authorize_console(session.principal, "waiting-inputs")
        counts, oldest, problem = ops.waiting_inputs(console.core_metrics_url)
        letters = ops.dead_letters_since(console.kafka, console.codec, ops.midnight_utc())
        return console.page(
            request,
            "day.html",
            session,
            title="Today",
            waiting=counts,
            oldest=oldest,
            waiting_problem=problem or "",
            metrics_url=console.core_metrics_url,
            letters=letters,
        )

    # -- terminals: the gate check -----------------------------------------------------------

    @router.get(f"{PATH}/gate")
    @pages
    def gate(request: Request) -> Response:
        session = console.session(request, "gate-check")
        code = _text(request, "code", upper=True)
        country = _text(request, "country", upper=True) or "IT"
        decision = None
        problem = ""
        if code is not None:
            compact = re.sub(r"[\s-]", "", code)
            try:
                if CONTAINER.match(compact):
                    decision = api.gate_check(compact, None, None, None)
                else:
                    decision = api.gate_check(None, compact, country, None)
            except BadParameter as exc:
                problem = str(exc).split(": ", 1)[-1]
        return console.page(
            request,
            "gate.html",
            session,
            title="Gate check",
            code=code,
            country=country,
            decision=decision,
            problem=problem,
        )

    # -- train operators ---------------------------------------------------------------------

    @router.get(f"{PATH}/trains")
    @pages
    def trains(request: Request) -> Response:
        session = console.session(request, "train")
        who = session.principal
        listed = api.queries.trains(who.operator if who.role is Role.RAIL_OPERATOR else None)
        return console.page(
            request,
            "trains.html",
            session,
            title="Trains",
            trains=listed,
            may_upload=may(who, "train-upload"),
            train_id="",
            default_manifest=False,
        )

    @router.get(f"{PATH}/trains/{{train_id}}")
    @pages
    def train(request: Request, train_id: str) -> Response:
        session = console.session(request, "train")
        no_nul(train_id, "train_id")
        context = console.train_context(session.principal, train_id)
        return console.page(
            request,
            "train.html",
            session,
            title=f"Train {train_id}",
            events_url=f"{PATH}/trains/{quote(train_id, safe='')}/events",
            may_upload=may(session.principal, "train-upload"),
            train_id=train_id,
            default_manifest=bool(context["readiness"]),
            **context,
        )

    @router.get(f"{PATH}/trains/{{train_id}}/events")
    @pages
    async def train_events(request: Request, train_id: str) -> Response:
        session = console.session(request, "train")
        who = session.principal
        no_nul(train_id, "train_id")
        session_id = request.cookies.get(COOKIE)
        first = await run_in_threadpool(console.train_context, who, train_id)

        async def stream() -> AsyncIterator[bytes]:
            shown = hashlib.sha256(console.fragment("_train_status.html", **first).encode())
            sent = time.monotonic()
            yield b"retry: 2000\n\n"
            while not console.stopping.is_set():
                if not console.sessions.alive(session_id):
                    yield _sse("signed-out", "")
                    return
                try:
                    context = await run_in_threadpool(console.train_context, who, train_id)
                except (NotFound, Forbidden):
                    return
                html = console.fragment("_train_status.html", **context)
                digest = hashlib.sha256(html.encode())
                if digest.digest() != shown.digest():
                    shown = digest
                    yield _sse("fragment", html)
                    sent = time.monotonic()
                elif time.monotonic() - sent > HEARTBEAT_S:
                    yield b": heartbeat\n\n"
                    sent = time.monotonic()
                await asyncio.sleep(max(console.poll_s, 1.0))

        return StreamingResponse(
            api.streams.hold(session.principal, stream()),
            media_type="text/event-stream",
            headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"},
        )

    @router.post(f"{PATH}/trains/upload")
    @pages
    async def upload(request: Request) -> Response:
        session = console.session(request, "train-upload")
        who = session.principal
        train_id, what, name, text = await _upload_form(request, session)

        def visible() -> bool:
            try:
                authorize_train(who, api.queries.train(train_id)["operator"])
            except (NotFound, Forbidden):
                return False
            return True

        if who.operator is None:  # only rail operators may upload, each with its id
            raise Forbidden("only a rail operator sends loading lists and manifests")
        # Sent for the session's operator alone: the token's, never the form's or the file's.
        outcome = await run_in_threadpool(
            console.uploads.send, Upload(who.operator, train_id, what, name, text)
        )
        session.flash.append(outcome.said)
        # Another operator's train goes the way of one that does not exist: sent, and the core
        # (which decides whose a train is) answers; the console tells no more than it does.
        if await run_in_threadpool(visible):
            return RedirectResponse(f"{PATH}/trains/{quote(train_id, safe='')}", 303)
        return RedirectResponse(f"{PATH}/trains", 303)  # not (yet) a train of its: the form

    # -- operations --------------------------------------------------------------------------

    @router.get(f"{PATH}/operations")
    @pages
    def operations(request: Request) -> Response:
        session = console.session(request, "operations")
        code, health = api.health()
        this = ops.ProcessState(
            "query API and console",
            "iotrack api",
            code == 200,
            f"database {health['database']}, gate state {health['gate_state']}",
        )
        from streams.workers.projection.tables import CONSUMER

        found = ops.operations(console.kafka, api.queries, console.status, this, CONSUMER)
        topics = found.status.get("topics", [])
        return console.page(
            request,
            "operations.html",
            session,
            title="Operations",
            ops=found,
            topics_total=len(topics),
            topics_present=sum(1 for t in topics if t.get("exists")),
            topics_missing=[t["name"] for t in topics if not t.get("exists")],
            dashboards=console.dashboards,
            grafana_url=console.grafana_url,
        )

    return router
