"""``/health``, ``/ready`` and ``/metrics`` of a long-running process, on the one serving layer.

- ``GET /health``: alive (200) or not (503: an essential thread died; restart the process);
- ``GET /ready``: doing its job (200) or not (503), with the reason of every failing check
  (:mod:`streams.ops.readiness`);
- ``GET /metrics``: the process's Prometheus metrics.

A worker without an HTTP server of its own (fusion, the projection) serves these on its ops
port (:func:`serve_ops`), which it registers for ``iotrack status`` (:mod:`streams.ops.running`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from streams.http.app import JsonAnswer, application
from streams.http.server import Server
from streams.ops import metrics
from streams.ops.readiness import Readiness, document


class CheckState(BaseModel):
    """One check of a process's health or readiness."""

    check: str
    ok: bool
    reason: str


class ProcessState(BaseModel):
    """A process's health (``alive``, ``dead``) or readiness (``ready``, ``not ready``)."""

    status: Literal["alive", "dead", "ready", "not ready"]
    process: str
    reason: str
    checks: list[CheckState]


def ready_routes(readiness: Readiness, *, health: bool = True) -> APIRouter:
    """``/ready`` (and ``/health`` unless the application has its own)."""
    router = APIRouter()

    @router.get(
        "/ready",
        operation_id="ready",
        summary="Whether this process is doing its job, and why not",
        response_model=ProcessState,
        responses={503: {"model": ProcessState, "description": "It is not."}},
    )
    def ready() -> Any:
        ok, body = document(readiness)
        return JsonAnswer(body, 200 if ok else 503)

    if health:

        @router.get(
            "/health",
            operation_id="health",
            summary="Whether this process is alive (its essential threads run)",
            response_model=ProcessState,
            responses={503: {"model": ProcessState, "description": "It is not."}},
        )
        def alive() -> Any:
            ok, body = document(readiness, live_only=True)
            return JsonAnswer(body, 200 if ok else 503)

    return router


def metrics_routes() -> APIRouter:
    router = APIRouter()

    @router.get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics of this process",
        response_class=PlainTextResponse,
    )
    def metrics_route() -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


def ops_app(readiness: Readiness, *, title: str, description: str) -> FastAPI:
    """A worker's ops application: /health, /ready, /metrics."""
    return application(
        title=title,
        description=description,
        routers=[ready_routes(readiness), metrics_routes()],
    )


def serve_ops(
    readiness: Readiness,
    port: int,
    *,
    title: str,
    description: str = "Health, readiness and metrics of one iotrack process.",
    register: Callable[[str], Callable[[], None]] | None = None,
) -> Callable[[], None]:
    """Serve the ops application on 127.0.0.1:``port`` (0: a free port) in a thread; register
    it with ``register`` (given the base URL, it returns how to unregister); returns how to
    stop both."""
    metrics.READINESS.add(readiness)
    server = Server(ops_app(readiness, title=title, description=description), "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, name="ops", daemon=True)
    thread.start()
    host, bound = server.server_address
    unregister = register(f"http://{host}:{bound}") if register else None

    def stop() -> None:
        if unregister is not None:
            unregister()
        server.shutdown()
        server.server_close()
        metrics.READINESS.remove(readiness)

    return stop
