"""The API's HTTP mechanics: one request per handler call, connection caps, JSON errors."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.errors import ConfigError, StreamsError
from streams.http.access import (
    BadParameter,
    Forbidden,
    bearer,
)
from streams.http.errors import NotFound, Unavailable
from streams.http.params import query_of
from streams.ops import metrics

if TYPE_CHECKING:
    from streams.http.api import Api


LOG = logging.getLogger("iotrack.api")


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
        found = self.api.route(path)
        if found is None:
            self._error(HTTPStatus.NOT_FOUND, f"no endpoint {path}; see /openapi.json")
            return
        principal = self.api.credentials.principal(bearer(self.headers.get("Authorization")))
        if principal is None:
            self._error(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")
            return
        route, argument = found
        try:
            self._json(200, route(principal, argument, query_of(parts.query)))
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
