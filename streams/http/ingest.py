"""A gate reader's HTTP ingest, on the same framework and serving layer as the API.

- ``POST /payloads``: one JSON payload, a JSON array of payloads, or NDJSON lines
  (``Content-Type: application/x-ndjson``); each is parsed by the reader's adapter and spooled
  (raw reads, or a dead letter with the reason) before the answer: 202 when at least one was
  accepted, 400 when none was, with one outcome per payload in order. A body over
  :data:`readers.service.MAX_BODY_BYTES` is refused with 413 without being read whole.
- ``GET /health``: the reader, its spool and the forwarder's last broker error.

The connection cap, the whole-request deadline, refused GET bodies and checked
``Content-Length`` come from :mod:`streams.http.server`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from readers.forwarder import Forwarder
from readers.service import MAX_BODY_BYTES, ReaderService, split_body
from streams.http.access import BadParameter
from streams.http.app import JsonAnswer, application, error_responses
from streams.http.errors import TooLarge
from streams.http.server import Limits, Server


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
    delivered: int | None = None
    broker_error: str | None = None
    payloads: int
    dead_letters: int


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


def ingest_app(service: ReaderService, forwarder: Forwarder | None) -> FastAPI:
    """The reader's application."""
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

    @router.get("/health", operation_id="health", response_model=ReaderHealth)
    def health() -> Any:
        return {
            "status": "ok",
            "reader": service.reader_id,
            "node": service.point.node_id,
            "spooled": len(service.spool),
            "delivered": forwarder.delivered if forwarder else None,
            "broker_error": forwarder.last_error if forwarder else None,
            "payloads": service.stats.payloads,
            "dead_letters": service.stats.dead_letters,
        }

    return application(
        title=f"iotrack reader {service.reader_id}",
        description="A gate reader's ingest of device payloads (formats: readers/README.md).",
        routers=[router],
    )


def serve(
    service: ReaderService,
    forwarder: Forwarder,
    host: str,
    port: int,
    limits: Limits | None = None,
) -> None:
    """Serve HTTP until interrupted; the forwarder runs alongside."""
    server = Server(ingest_app(service, forwarder), host, port, limits, name="iotrack-reader")
    forwarder.start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        forwarder.stop()
