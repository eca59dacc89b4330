"""A gate reader's HTTP ingest, on the same framework and serving layer as the API.

- ``POST /payloads``: one JSON payload, a JSON array of payloads, or NDJSON lines
  (``Content-Type: application/x-ndjson``); each is parsed by the reader's adapter and spooled
  (raw reads, or a dead letter with the reason) before the answer: 202 when at least one was
  accepted, 400 when none was, with one outcome per payload in order. A body over
  :data:`readers.service.MAX_BODY_BYTES` is refused with 413 without being read whole.
- ``GET /health``: the reader, its spool (records waiting, the oldest one's age, records
  quarantined) and the forwarder's last broker error; 503 once the forwarding thread died;
- ``GET /ready``: whether it delivers (:func:`readiness`): 503 naming the reason when the
  broker is lost, the oldest spooled record waited too long, or the forwarder died.

The connection cap, the whole-request deadline, refused GET bodies and checked
``Content-Length`` come from :mod:`streams.http.server`.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from readers.forwarder import Forwarder
from readers.service import MAX_BODY_BYTES, ReaderService, split_body
from streams.http.access import BadParameter
from streams.http.app import JsonAnswer, application, error_responses
from streams.http.errors import TooLarge
from streams.http.ops import ready_routes
from streams.http.server import Limits, Server
from streams.ops import readiness as checks
from streams.ops.readiness import Check, Readiness


class ItemOutcome(BaseModel):
    """What became of one payload: its read event ids, or why it was dead-lettered."""

    index: int
    event_ids: list[str] | None = None
    error: str | None = None
    dead_letter_id: str | None = None


class Accepted(BaseModel):
    """The answer to a batch of payloads."""

    accepted: int
    rejected: int
    items: list[ItemOutcome]


class ReaderHealth(BaseModel):
    """A reader's state."""

    status: str
    reader: str
    node: str
    spooled: int
    oldest_spooled_s: float
    quarantined: int
    delivered: int | None = None
    broker_error: str | None = None
    last_quarantined: str | None = None
    payloads: int
    dead_letters: int


def readiness(
    service: ReaderService,
    forwarder: Forwarder | None,
    max_spool_age_s: float = checks.MAX_SPOOL_AGE_S,
) -> Readiness:
    """A reader is alive while its forwarder runs, and ready while it delivers: a broker is
    reachable and its oldest spooled record waited at most ``max_spool_age_s``."""

    def spool_age() -> Check:
        age = service.spool.oldest_age_s()
        if age <= max_spool_age_s:
            return checks.passed("spool", f"{len(service.spool)} records spooled")
        return checks.failed(
            "spool",
            f"the oldest of {len(service.spool)} spooled records has waited {age:.0f} s "
            f"(more than {max_spool_age_s:.0f} s): they are not being delivered",
        )

    found = Readiness(f"reader {service.reader_id}", [spool_age], kind="reader")
    if forwarder is not None:
        found.add(checks.thread_alive("forwarder", lambda: forwarder.thread), alive=True)
        found.add(checks.broker(forwarder.watch))
    return found


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body of {declared} bytes; at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def ingest_app(
    service: ReaderService, forwarder: Forwarder | None, ready: Readiness | None = None
) -> FastAPI:
    """The reader's application."""
    ready = ready or readiness(service, forwarder)
    router = APIRouter()

    @router.post(
        "/payloads",
        operation_id="payloads",
        summary="Device payloads in: one JSON payload, a JSON array, or NDJSON lines",
        status_code=202,
        response_model=Accepted,
        response_model_exclude_none=True,
        responses={
            400: {"model": Accepted, "description": "No payload of the batch was accepted."},
            **error_responses(405, 413, 501, 503),
        },
    )
    async def payloads(
        request: Request,
        content_type: Annotated[str, Header()] = "application/json",
    ) -> Any:
        body = await _body(request, MAX_BODY_BYTES)
        items = split_body(body, content_type)
        if not items:
            raise BadParameter("body", "empty body: send a JSON payload")
        # Spooling waits for the disk (synchronous SQLite): off the event loop.
        outcomes = await run_in_threadpool(service.accept, items)
        accepted = sum(o.error is None for o in outcomes)
        document = {
            "accepted": accepted,
            "rejected": len(outcomes) - accepted,
            "items": [o.as_json() for o in outcomes],
        }
        return JsonAnswer(document, 202 if accepted else 400)

    @router.get(
        "/health",
        operation_id="health",
        response_model=ReaderHealth,
        responses={503: {"model": ReaderHealth, "description": "The forwarder died."}},
    )
    def health() -> Any:
        alive, _ = ready.alive()
        return JsonAnswer(
            {
                "status": "ok" if alive else "dead",
                "reader": service.reader_id,
                "node": service.point.node_id,
                "spooled": len(service.spool),
                "oldest_spooled_s": round(service.spool.oldest_age_s(), 3),
                "quarantined": service.spool.quarantined_count(),
                "delivered": forwarder.delivered if forwarder else None,
                "broker_error": forwarder.last_error if forwarder else None,
                "last_quarantined": forwarder.last_quarantined if forwarder else None,
                "payloads": service.stats.payloads,
                "dead_letters": service.stats.dead_letters,
            },
            200 if alive else 503,
        )

    return application(
        title=f"iotrack reader {service.reader_id}",
        description="A gate reader's ingest of device payloads (formats: readers/README.md).",
        routers=[router, ready_routes(ready, health=False)],
    )


def serve(
    service: ReaderService,
    forwarder: Forwarder,
    host: str,
    port: int,
    limits: Limits | None = None,
    *,
    ready: Readiness | None = None,
    register: Callable[[str], Callable[[], None]] | None = None,
) -> None:
    """Serve HTTP until interrupted; the forwarder runs alongside. ``register`` (given the base
    URL) lists the reader for ``iotrack status`` and returns how to unlist it."""
    from streams.ops import metrics

    ready = ready or readiness(service, forwarder)
    server = Server(
        ingest_app(service, forwarder, ready), host, port, limits, name="iotrack-reader"
    )
    metrics.READINESS.add(ready)
    forwarder.start()
    bound_host, bound_port = server.server_address
    where = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host  # noqa: S104
    unregister = register(f"http://{where}:{bound_port}") if register else None
    try:
        server.serve_forever()
    finally:
        if unregister is not None:
            unregister()
        metrics.READINESS.remove(ready)
        server.server_close()
        forwarder.stop()
