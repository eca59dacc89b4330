"""The web console's pages: :class:`Console` renders each page from the document the API
would answer the same principal (templates, navigation by role, the security headers); the
routes that serve them are in :mod:`streams.http.console.routes`.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from streams.errors import StreamsError
from streams.http.access import (
    Principal,
    authorize_console,
    may,
)
from streams.http.api import Api
from streams.http.console import operations as ops
from streams.http.console.picture import short_time
from streams.http.console.sessions import (
    COOKIE,
    PATH,
    Session,
    Sessions,
)
from streams.http.console.uploads import Uploads
from streams.http.errors import status_of
from streams.ops.settings import CHECKOUT
from topics.clients import KafkaConnection
from topics.codec import Codec

HERE = Path(__file__).parent
UPLOAD_LIMIT = 1024 * 1024
"""The largest loading list or manifest file taken (bytes)."""
HEARTBEAT_S = 15.0
TRAIN_ID = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")
MRN = re.compile(r"\A[0-9]{2}[A-Z]{2}[A-Z0-9]{13}[A-Z0-9]\Z")
CONTAINER = re.compile(r"\A[A-Z]{3}[UJZ][0-9]{7}\Z")
UUID = re.compile(r"\A[0-9A-F]{8}-?([0-9A-F]{4}-?){3}[0-9A-F]{12}\Z")
ILU = re.compile(r"\A[A-Z]{3}[ABDEK][0-9]{7}\Z")
SECURITY_HEADERS = {
    # Every script, style and image is iotrack's own; nothing inline runs; no page is framed.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


NAV: tuple[tuple[str, str, str], ...] = (
    ("Deviations", "/deviations", "deviations"),
    ("Gate check", "/gate", "gate-check"),
    ("Search", "/search", "lookup"),
    ("Trains", "/trains", "train"),
    ("Today", "/day", "dead-letters"),
    ("Operations", "/operations", "operations"),
)
"""The pages, in the order the navigation lists them, with the rule each needs (a role's home
is the first it may open)."""


class NotSignedIn(StreamsError):  # noqa: N818 - named after what the browser is told
    """No live session: the browser goes to the sign-in page."""


F = TypeVar("F", bound=Callable[..., Any])


def _ms_time(when: Any) -> str:
    if isinstance(when, int):
        when = datetime.fromtimestamp(when / 1000, tz=UTC)
    if not isinstance(when, datetime):
        return "-"
    return when.astimezone(UTC).strftime("%d %b %H:%M:%S")


def _duration(seconds: Any) -> str:
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return "-"
    hours, rest = divmod(total, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


class Console:
    """What the console's routes need: the API's own parts (credentials, queries, gate state),
    the sessions, the broker (signed in as the query API) for the day's dead letters, the
    operations page and a rail operator's uploads, and where the dashboards and the core's
    metrics are."""

    def __init__(
        self,
        api: Api,
        sessions: Sessions,
        *,
        kafka: KafkaConnection,
        codec: Codec,
        status: Callable[[], dict[str, Any]],
        grafana_url: str,
        core_metrics_url: str,
        dashboards_dir: Path = CHECKOUT / "deploy" / "grafana" / "dashboards",
        stopping: threading.Event | None = None,
        poll_s: float = 0.5,
        answer_timeout_s: float = 30.0,
    ) -> None:
        self.api = api
        self.sessions = sessions
        self.kafka = kafka
        """The query API's connection (``service.api``): the console runs in its process."""
        self.codec = codec
        self.status = status
        self.grafana_url = grafana_url
        self.core_metrics_url = core_metrics_url
        self.dashboards = ops.dashboards(dashboards_dir, grafana_url)
        self.stopping = stopping or threading.Event()
        self.poll_s = poll_s
        self.uploads = Uploads(kafka, codec, api.queries.train, answer_timeout_s=answer_timeout_s)
        """Rail operators' files, sent as the query API, their operators' declared gateway."""
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["short"] = short_time
        self.templates.filters["ms"] = _ms_time
        self.templates.filters["duration"] = _duration
        self.templates.globals["root"] = PATH

    # -- sessions ----------------------------------------------------------------------------

    def session(self, request: Request, page: str | None = None) -> Session:
        """The request's live session (NotSignedIn otherwise), allowed to open ``page``."""
        found = self.sessions.get(request.cookies.get(COOKIE))
        if found is None:
            raise NotSignedIn("sign in first")
        if page is not None:
            authorize_console(found.principal, page)
        return found

    @staticmethod
    def home(principal: Principal) -> str:
        for _label, url, rule in NAV:
            if may(principal, rule):
                return PATH + url
        return PATH + "/sign-in"

    # -- rendering ---------------------------------------------------------------------------

    def fragment(self, name: str, **context: Any) -> str:
        return self.templates.get_template(name).render(**context)

    def page(
        self,
        request: Request,
        name: str,
        session: Session | None,
        *,
        status: int = 200,
        title: str = "",
        **context: Any,
    ) -> HTMLResponse:
        who = session.principal if session is not None else None
        here = request.url.path
        nav = (
            [
                NavItem(label, PATH + url, here.startswith(PATH + url))
                for label, url, rule in NAV
                if may(who, rule)
            ]
            if who is not None
            else []
        )
        flash: list[str] = []
        if session is not None:
            flash, session.flash = session.flash, []
        body = self.fragment(
            name,
            who=who,
            nav=nav,
            csrf=session.csrf if session is not None else context.pop("csrf", ""),
            flash=flash,
            title=title,
            **context,
        )
        return HTMLResponse(body, status, headers=SECURITY_HEADERS)

    def error_page(self, request: Request, error: BaseException) -> Response:
        if isinstance(error, NotSignedIn):
            return RedirectResponse(f"{PATH}/sign-in", 303, headers=SECURITY_HEADERS)
        status = status_of(error)
        if status is HTTPStatus.INTERNAL_SERVER_ERROR:
            raise error
        session = self.sessions.get(request.cookies.get(COOKIE))
        return self.page(
            request,
            "error.html",
            session,
            status=int(status),
            title=status.phrase,
            code=int(status),
            phrase=status.phrase,
            message=str(error),
            back=self.home(session.principal) if session else f"{PATH}/sign-in",
        )

    def pages(self, route: F) -> F:
        """A route whose iotrack errors become pages (a sign-in redirect for no session)."""
        if inspect.iscoroutinefunction(route):

            @functools.wraps(route)
            async def answering(request: Request, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await route(request, *args, **kwargs)
                except StreamsError as exc:
                    return self.error_page(request, exc)

            return answering  # type: ignore[return-value]

        @functools.wraps(route)
        def answering_sync(request: Request, *args: Any, **kwargs: Any) -> Any:
            try:
                return route(request, *args, **kwargs)
            except StreamsError as exc:
                return self.error_page(request, exc)

        return answering_sync  # type: ignore[return-value]

    # -- what the pages show -----------------------------------------------------------------

    def train_context(self, who: Principal, train_id: str) -> dict[str, Any]:
        train = self.api.train(who, train_id)
        status = train.get("status") or {}
        phase = status.get("phase")
        if phase in ("CONFIRMING", "DEPARTED"):
            consist = "matches the manifest at the exit portal"
        elif phase == "REVOKED":
            consist = "differs from the manifest at the exit portal: permission revoked"
        else:
            consist = "not read at the exit portal yet"
        answered = [ll for ll in train.get("loading_lists", []) if ll.get("answered")]
        latest = answered[-1] if answered else None
        readiness = [
            {
                "unit": f"{item['itu']['kind']}:{item['itu']['value']}",
                "mrn": item.get("mrn"),
                "ready": bool(item.get("ready")),
                "iot_id": item.get("iot_id"),
                "reasons": list(item.get("reasons") or ()),
            }
            for item in (latest or {}).get("items", [])
        ]
        return {
            "train": train,
            "consist": consist,
            "readiness": readiness,
            "readiness_at": latest["at"] if latest else None,
        }
