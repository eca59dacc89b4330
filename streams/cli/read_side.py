"""The read side's sub-commands: ``iotrack project``, ``projection rebuild``, ``gate-check`` and
``api``."""

from __future__ import annotations

import argparse
import json
import time

from processors.identifiers import itu
from streams.cli import api_tokens
from streams.cli.options import add_command, serve_ops_of, worker_options
from streams.local import runtime
from streams.ops.duties import Duty
from streams.ops.settings import Settings
from streams.ops.signals import stop_on_signals
from topics.parties import PROJECTION


def _project(settings: Settings, args: argparse.Namespace) -> int:
    from streams.workers.projection import Projection
    from topics.codec import codec_for

    found = runtime.endpoints(settings)
    stop = stop_on_signals()
    projection = Projection(
        found.kafka(PROJECTION),
        found.database(Duty.PROJECTION).reveal(),
        codec_for(settings.schema_registry_url),
    )
    from streams.workers import ready

    stop_serving = serve_ops_of(settings, args, ready.projection(projection))
    try:
        applied = projection.run(stop, exit_when_idle_s=args.exit_when_idle)
    finally:
        stop_serving()
    print(f"projection: {applied} records applied, {projection.dead_lettered} dead-lettered")
    return 0


def _gate_check(settings: Settings, args: argparse.Namespace) -> int:
    from streams.workers.projection import gate_check

    key = itu.unit_key(args.kind, args.value, args.country)
    found = gate_check(runtime.endpoints(settings).database(Duty.API).reveal(), key)
    print(
        json.dumps(
            found
            or {
                "itu": key,
                "verdict": "UNKNOWN",
                "may_leave": False,
                "reasons": ["no IOT_ID is bound to this unit"],
            }
        )
    )
    return 0 if found and found["may_leave"] else 1


def _projection_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from streams.workers.projection import PROJECTED_TABLES, rebuild
    from topics.codec import codec_for

    found = runtime.endpoints(settings)
    stop = stop_on_signals()
    started = time.monotonic()
    projection = rebuild(
        found.kafka(PROJECTION),
        found.database(Duty.PROJECTION).reveal(),
        codec_for(settings.schema_registry_url),
        stop=stop,
    )
    print(
        f"projection rebuilt: {len(PROJECTED_TABLES)} tables truncated, {projection.applied} "
        f"records applied, {projection.dead_lettered} dead-lettered, "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 130 if stop.is_set() else 0


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from streams.http.api import serve

    return serve(settings, host=args.host, port=args.port)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``project``, ``gate-check``, ``projection`` (``rebuild``) and ``api`` to
    ``subparsers``."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return add_command(subparsers, name, help_text)

    project = command("project", "project the public state topics into Postgres")
    worker_options(project, idle="records", ops=True)
    project.set_defaults(handler=_project)
    gate = command("gate-check", "may this unit leave? (from the projection; exit 0 yes, 1 no)")
    gate.add_argument("kind", help="CONTAINER, ILU, PLATE, SEAL ...")
    gate.add_argument("value", help="the identifier, normalised (e.g. CSQU3054383)")
    gate.add_argument("--country", help="for plates: the ISO country code")
    gate.set_defaults(handler=_gate_check)
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
    api_tokens.register(api)
