"""Serving an ASGI application of iotrack (the API, a reader's ingest, a worker's ``/ready``) on
uvicorn, with the limits every iotrack HTTP server has.

uvicorn (httptools parser, uvloop) does HTTP/1.1; :class:`GuardedProtocol`, its protocol with
four additions, is the one hardened serving layer:

- **connection cap**: at ``max_connections``, a new connection takes the place of the one that
  has waited longest for its request, if one has waited at least ``evict_after_s`` (an idle
  keep-alive connection is closed; one half-way through sending its request is answered 408
  and closed), so clients that send a byte every few seconds cannot keep the others out; when
  every connection is busy with a request, the new one is answered 503 (JSON,
  ``Retry-After``) and closed at once, before a byte is read;
- **whole-request deadline**: from the moment a connection waits for a request (opened, or its
  previous answer sent), the request's headers and body must have arrived within
  ``request_deadline_s``, or the connection is closed: an idle connection and one that sends a
  byte every few seconds are both gone after it (uvicorn alone only times idle keep-alive);
- **no body on GET or HEAD**: such a request is answered 400 and the connection closed, so a body
  can never be read as a second request behind a proxy;
- **malformed framing**: a bad or negative ``Content-Length``, chunked with a length, a request
  line or header the parser refuses, or headers over ``max_header_bytes``: 400 (431 for the
  size) as JSON, connection closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from streams.errors import StreamsError

LOG = logging.getLogger("iotrack.http")

MAX_CONNECTIONS = 64
"""Client connections served at once by default; more are refused with 503."""
REQUEST_DEADLINE_S = 15.0
"""Seconds a connection has to deliver a whole request (headers and body) once it waits for
one; also how long an idle keep-alive connection stays open."""
MAX_HEADER_BYTES = 64 * 1024
EVICT_AFTER_S = 0.5
"""A connection that has waited this long for its request may be closed for a new one."""


@dataclass(frozen=True)
class Limits:
    """What one server takes at most."""

    max_connections: int = MAX_CONNECTIONS
    request_deadline_s: float = REQUEST_DEADLINE_S
    max_header_bytes: int = MAX_HEADER_BYTES
    evict_after_s: float = EVICT_AFTER_S
    refused: Callable[[], None] | None = None
    """Called for each connection refused over the cap (a metric)."""
    evicted: Callable[[], None] | None = None
    """Called for each waiting connection closed to make room for a new one (a metric)."""


def raw_answer(status: HTTPStatus, message: str, **headers: str) -> bytes:
    """A whole HTTP/1.1 JSON error answer that closes the connection, as bytes."""
    body = json.dumps({"error": status.phrase, "status": int(status), "message": message}).encode()
    lines = [
        f"HTTP/1.1 {int(status)} {status.phrase}",
        "Content-Type: application/json",
        "Cache-Control: no-store",
        "Connection: close",
        f"Content-Length: {len(body)}",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Coalescing:
    """A transport whose writes within one turn of the event loop leave in one ``write``: an
    answer's headers and body in one send instead of two (the send was a third of the event
    loop's time under load, sampled with py-spy). Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Refused(Exception):  # noqa: N818 - raised inside the parser to stop it; never escapes
    """A request refused while its headers are parsed."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the connection cap, the whole-request deadline, bodies
    of GET refused and JSON answers to malformed requests (see the module's doc)."""

    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None
        self._head_bytes = 0
        self._head_tail = b""
        self._in_body = False
        self._rejection: tuple[HTTPStatus, str] | None = None

    # -- the connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections and not self._make_room():
            self._refused = True
            self.transport = transport
            if self.limits.refused is not None:
                self.limits.refused()
            transport.write(
                raw_answer(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    "too many connections; retry shortly",
                    Retry_After="1",
                )
            )
            transport.close()
            return
        super().connection_made(transport)
        self.transport = _Coalescing(transport, self.loop)  # type: ignore[assignment]
        self._arm()

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for its request (at least
        ``evict_after_s``): True when one was closed."""
        now = time.monotonic()
        waiting = [
            c
            for c in self.connections
            if isinstance(c, GuardedProtocol)
            and c._waiting_since is not None
            and now - c._waiting_since >= self.limits.evict_after_s
            and not c.transport.is_closing()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._waiting_since or now)
        oldest._evict()
        if self.limits.evicted is not None:
            self.limits.evicted()
        return True

    def _evict(self) -> None:
        self._disarm()
        if self._head_bytes or self._in_body:  # half a request: say why it goes
            self.transport.write(
                raw_answer(
                    HTTPStatus.REQUEST_TIMEOUT,
                    "the request was not sent in time while others waited; send it at once",
                )
            )
        self.transport.close()
        self.connections.discard(self)  # its place is free now, before the loop notices

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return
        if not self._in_body:
            # Only the bytes up to the blank line that ends the head count: a body sent in the
            # same packet as its headers is not part of them.
            seen = self._head_tail + data
            end = seen.find(b"\r\n\r\n")
            if end < 0:
                self._head_bytes += len(data)
                self._head_tail = seen[-3:]
            else:
                self._head_bytes += max(0, end + 4 - len(self._head_tail))
                self._head_tail = b""
                self._in_body = True
            if self._head_bytes > self.limits.max_header_bytes:
                self._close_with(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"request line and headers over {self.limits.max_header_bytes} bytes",
                )
                return
        super().data_received(data)

    # -- the whole-request deadline ------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.request_deadline_s, self._expired)
        self._waiting_since = time.monotonic()

    def _disarm(self) -> None:
        self._waiting_since = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        self._waiting_since = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_body = False
        self._head_bytes = 0
        self._head_tail = b""
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()

    # -- what the parser sees ------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._in_body = True
        method = self.parser.get_method()
        if method in (b"GET", b"HEAD"):
            for name, value in self.headers:
                if name == b"transfer-encoding" or (
                    name == b"content-length" and value.strip() != b"0"
                ):
                    self._rejection = (
                        HTTPStatus.BAD_REQUEST,
                        f"a {method.decode()} request has no body (Content-Length or "
                        "Transfer-Encoding given)",
                    )
                    raise _Refused  # httptools turns it into a parser error: send_400_response
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        status, message = self._rejection or (
            HTTPStatus.BAD_REQUEST,
            "malformed HTTP request (request line, header or Content-Length)",
        )
        self._close_with(status, message)

    def _close_with(self, status: HTTPStatus, message: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(raw_answer(status, message))
            self.transport.close()


class Server:
    """An ASGI application served by uvicorn on a socket bound at construction (so its address
    is known before it serves), with the ``serve_forever`` / ``shutdown`` / ``server_close``
    shape of the standard library's servers."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        *,
        name: str = "iotrack",
        stopping: threading.Event | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.stopping = stopping or threading.Event()
        """Set when the server begins to stop: long answers (streams) end on it."""
        try:
            self.socket = socket.create_server((host, port), backlog=128, reuse_port=False)
        except OSError as exc:
            raise StreamsError(
                f"cannot serve {name} on {host}:{port} ({exc.strerror}): choose another port"
            ) from exc
        protocol = type("Guarded", (GuardedProtocol,), {"limits": self.limits})
        self.config = uvicorn.Config(
            app,
            http=protocol,
            loop="uvloop",
            lifespan="off",
            access_log=False,
            log_config=None,
            log_level="warning",
            timeout_keep_alive=int(max(1, self.limits.request_deadline_s)),
            timeout_graceful_shutdown=3,
            server_header=False,
            headers=[("Server", name)],
        )
        self._server = uvicorn.Server(self.config)
        self._serving = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Serve until :meth:`shutdown` (uvicorn looks for it every 0.1 s whatever
        ``poll_interval`` says; the argument keeps the standard library's signature)."""
        del poll_interval
        self._stopped.clear()
        self._serving.set()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def start(self) -> threading.Thread:
        """Serve in a daemon thread; return once it accepts connections."""
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        self._serving.wait(10)
        return thread

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop serving and wait (up to ``timeout``) until :meth:`serve_forever` returned."""
        self.stopping.set()
        self._server.should_exit = True
        if self._serving.is_set():
            self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()
