"""What every iotrack web application shares, on FastAPI: JSON errors of one shape, the method
policy, bearer authentication, and an OpenAPI document derived from the routes and models.

- Errors: ``{"error": phrase, "status": n, "message": ..., "parameter": ...}`` for every
  status, ours (:data:`streams.http.errors.STATUSES`), the framework's (404, 405) and a request
  that does not validate (400 naming the parameter, never 422); 401 carries
  ``WWW-Authenticate: Bearer``, 503 ``Retry-After``.
- Methods: a route's own methods are served; another of GET, POST, PUT, PATCH, DELETE answers
  405 with ``Allow``; anything else (HEAD, OPTIONS, TRACE, ...) 501 with ``Allow``.
- Query strings: a NUL character, a parameter given twice or given empty is a 400 naming it,
  before any route sees it.

Further applications (the web console of issue 13) mount on the same application with their
own routers; they get the same errors and limits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from streams.errors import StreamsError
from streams.http.access import BadParameter, no_nul
from streams.http.errors import status_of
from streams.http.models import Error

LOG = logging.getLogger("iotrack.http")
SERVED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class JsonAnswer(JSONResponse):
    """JSON, never cached (answers depend on who asks)."""

    def __init__(self, content: Any, status_code: int = 200, **kwargs: Any) -> None:
        super().__init__(content, status_code, **kwargs)
        self.headers.setdefault("cache-control", "no-store")


def error_answer(
    status: HTTPStatus, message: str, *, parameter: str | None = None, **headers: str
) -> JsonAnswer:
    """The one error shape, with the headers its status calls for."""
    if status is HTTPStatus.UNAUTHORIZED:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="iotrack"')
    if status is HTTPStatus.SERVICE_UNAVAILABLE:
        headers.setdefault("Retry-After", "1")
    body: dict[str, Any] = {"error": status.phrase, "status": int(status), "message": message}
    if parameter is not None:
        body["parameter"] = parameter
    return JsonAnswer(body, int(status), headers=headers)


# ------------------------------------------------------------------------------ errors


async def _ours(request: Request, exc: Exception) -> JsonAnswer:
    status = status_of(exc)
    if status is HTTPStatus.INTERNAL_SERVER_ERROR:
        return await _unexpected(request, exc)
    parameter = exc.parameter if isinstance(exc, BadParameter) else None
    return error_answer(status, str(exc), parameter=parameter)


async def _invalid(request: Request, exc: Exception) -> JsonAnswer:
    if not isinstance(exc, RequestValidationError):
        return await _unexpected(request, exc)
    problems = list(exc.errors())
    first = problems[0] if problems else {"loc": ("request",), "msg": "invalid"}
    where = [str(part) for part in first.get("loc", ())]
    parameter = ".".join(where[1:]) or (where[0] if where else "request")
    problem = "required" if first.get("type") == "missing" else str(first.get("msg", "invalid"))
    problem = problem.removeprefix("Value error, ")
    return error_answer(HTTPStatus.BAD_REQUEST, f"{parameter}: {problem}", parameter=parameter)


async def _framework(request: Request, exc: Exception) -> JsonAnswer:
    if not isinstance(exc, HTTPException):
        return await _unexpected(request, exc)
    status = HTTPStatus(exc.status_code)
    headers = dict(exc.headers or {})
    if status is HTTPStatus.NOT_FOUND:
        message = f"no endpoint {request.url.path}; see /openapi.json"
    elif status is HTTPStatus.METHOD_NOT_ALLOWED:
        allowed = allowed_methods(request.app, request.scope)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not served here; only {', '.join(allowed)}"
    else:
        message = str(exc.detail)
    return error_answer(status, message, **headers)


async def _unexpected(request: Request, exc: Exception) -> JsonAnswer:
    LOG.error("unexpected error answering %s", request.url.path, exc_info=exc)
    return error_answer(HTTPStatus.INTERNAL_SERVER_ERROR, "unexpected error; see the log")


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """The methods the routes matching ``scope``'s path serve (HEAD is not one of them)."""
    found = {
        method
        for method in SERVED_METHODS
        for route in getattr(app, "routes", ())
        if route.matches({**scope, "method": method})[0] is Match.FULL
    }
    return sorted(found) or ["GET"]


class MethodPolicy:
    """501 (JSON, ``Allow``) for a method that is not one of :data:`SERVED_METHODS`."""

    def __init__(self, app: ASGIApp, root: Callable[[], Any]) -> None:
        self.app = app
        self.root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SERVED_METHODS:
            allowed = allowed_methods(self.root(), scope)
            answer = error_answer(
                HTTPStatus.NOT_IMPLEMENTED,
                f"{scope['method']} is not served; only {', '.join(allowed)}",
                Allow=", ".join(allowed),
                Connection="close",
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------ requests


async def checked_query(request: Request) -> None:
    """400 naming the parameter for a NUL character, a parameter given twice or empty."""
    seen: set[str] = set()
    for name, value in parse_qsl(request.url.query, keep_blank_values=True):
        no_nul(name, "query")
        no_nul(value, name)
        if name in seen:
            raise BadParameter(name, "given more than once")
        if not value.strip():
            raise BadParameter(name, "empty")
        seen.add(name)


Model = TypeVar("Model", bound=BaseModel)


def query_of(model: type[Model], request: Request) -> Model:
    """A route's query parameters validated by ``model`` (BadParameter naming the first one
    that is not valid): for a route that reads its query itself, which FastAPI's per-parameter
    machinery made ~50 us a request slower (the gate check)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "query"
        problem = "required" if first["type"] == "missing" else first["msg"]
        raise BadParameter(name, problem.removeprefix("Value error, ")) from None


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of ``model``'s fields (for :func:`query_of` routes), so the
    document is still derived from the model that validates them."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    found = []
    for name, field in schema["properties"].items():
        described = {k: v for k, v in field.items() if k not in ("title", "description")}
        found.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": field.get("description", ""),
                "schema": described,
            }
        )
    return found


BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "Tokens made by 'iotrack api tokens add', known to the API by their "
    "SHA-256 digests (IOTRACK_API_TOKENS_FILE); each stands for a role.",
}
"""The OpenAPI security scheme ``bearer`` (operations that need a token name it)."""
BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route may answer."""
    described: dict[int, str] = {
        400: "A parameter is missing or malformed; `parameter` names it.",
        401: "No valid bearer token.",
        403: "The token's role may not see this.",
        404: "No such resource.",
        405: "A method this path does not serve (Allow lists those it does).",
        409: "The request contradicts the resource's state.",
        413: "The body is over the limit.",
        501: "A method iotrack serves nowhere (HEAD, OPTIONS, TRACE, ...); Allow lists "
        "those it does.",
        503: "A dependency cannot answer now (the database, the gate state), every database "
        "connection stayed busy, or the server already serves its maximum of connections; "
        "Retry-After says when to try again.",
    }
    found: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": Error, "description": described[status]}
        header = {
            401: ("WWW-Authenticate", 'Bearer realm="iotrack"'),
            405: ("Allow", "The methods this path serves."),
            501: ("Allow", "The methods this path serves."),
            503: ("Retry-After", "Seconds to wait before trying again."),
        }.get(status)
        if header is not None:
            entry["headers"] = {header[0]: {"description": header[1], "schema": {"type": "string"}}}
        found[status] = entry
    return found


def application(
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    version: str = "1.0.0",
) -> FastAPI:
    """A FastAPI application with iotrack's errors, method policy and OpenAPI document."""
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        default_response_class=JsonAnswer,
        servers=[{"url": "/"}],
        redirect_slashes=False,
    )
    handlers: Iterable[tuple[type[Exception], Callable[[Request, Exception], Awaitable[Any]]]] = (
        (StreamsError, _ours),
        (RequestValidationError, _invalid),
        (HTTPException, _framework),
        (Exception, _unexpected),
    )
    for kind, handler in handlers:
        app.add_exception_handler(kind, handler)
    for router in routers:
        # The routes themselves, not the router: FastAPI matches an included router's routes
        # through a branch of its own, which cost the gate check ~30-90 us a request here.
        app.router.routes.extend(router.routes)
    app.add_middleware(MethodPolicy, root=lambda: app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                servers=app.servers,
            )
            # A request that does not validate answers 400 (documented per route), not 422.
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    operation.get("responses", {}).pop("422", None)
            if any(
                "security" in operation
                for item in document.get("paths", {}).values()
                for operation in item.values()
            ):
                document.setdefault("components", {}).setdefault("securitySchemes", {})[
                    "bearer"
                ] = BEARER_SCHEME
            schemas = document.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
