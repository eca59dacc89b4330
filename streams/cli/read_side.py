"""The read side's sub-commands: ``iotrack projection rebuild`` and ``iotrack api``."""

from __future__ import annotations

import argparse
import signal
import threading
import time

from streams.local import runtime
from streams.ops.settings import Settings


def _projection_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from streams.workers.projection import PROJECTED_TABLES, rebuild
    from topics.codec import codec_for

    found = runtime.endpoints(settings)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    started = time.monotonic()
    projection = rebuild(
        found.bootstrap,
        found.database_url.reveal(),
        codec_for(settings.schema_registry_url),
        stop=stop,
    )
    print(
        f"projection rebuilt: {len(PROJECTED_TABLES)} tables truncated, {projection.applied} "
        f"records applied, {projection.skipped} skipped, in {time.monotonic() - started:.1f} s"
    )
    return 130 if stop.is_set() else 0


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from streams.http.api import serve

    return serve(settings, host=args.host, port=args.port)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``projection`` (``rebuild``) and ``api`` to ``subparsers``."""
    help_text = "manage the Postgres projection"
    projection = subparsers.add_parser("projection", help=help_text, description=help_text)
    actions = projection.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "rebuild",
        help="truncate the projected tables and positions (one transaction), then replay the "
        "topics from their beginning to their current end; stop 'iotrack project' first",
    ).set_defaults(handler=_projection_rebuild)
    help_text = "serve the query API: timeline, lookup, deviations, trains, gate check"
    api = subparsers.add_parser("api", help=help_text, description=help_text)
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    api.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    api.set_defaults(handler=_api)
