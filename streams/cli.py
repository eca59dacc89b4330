"""The ``iotrack`` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from streams import demo as demo_module
from streams import rail_commands, read_side_commands, reader_commands, runtime, validate_command
from streams.asyncapi_command import register as register_asyncapi
from streams.errors import StreamsError
from streams.settings import Settings, load, redact_url
from topics import admin
from topics.catalog import CATALOG
from topics.errors import TopicsError
from topics.schemas import archive, repository, write_lock


def _up(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    found = runtime.up(settings, nodes=args.nodes)
    elapsed = time.monotonic() - started
    kafka = "local" if found.kafka_local else "given"
    postgres = "local" if found.postgres_local else "given"
    print(f"Kafka     {found.bootstrap} ({kafka})")
    print(f"Postgres  {redact_url(found.database_url.reveal())} ({postgres})")
    print(f"ready in {elapsed:.1f} s; data and logs under {settings.home}")
    print("next: iotrack topics apply, iotrack status")
    return 0


def _down(settings: Settings, args: argparse.Namespace) -> int:
    stopped = runtime.down(settings, nodes=args.nodes)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing local was running")
    return 0


def _topics_apply(settings: Settings, args: argparse.Namespace) -> int:
    found = runtime.endpoints(settings)
    reports = admin.apply(admin.admin_client(found.bootstrap))
    width = max(len(r.topic.name) for r in reports)
    for report in reports:
        print(f"{report.topic.name:<{width}}  {report.outcome}")
        for difference in report.differences:
            print(f"{'':<{width}}    {difference}")
    drift = sum(r.outcome is admin.Outcome.DRIFT for r in reports)
    created = sum(r.outcome is admin.Outcome.CREATED for r in reports)
    print(f"{len(reports)} topics: {created} created, {drift} drifted (left unchanged)")
    return 1 if drift else 0


def _topics_list(settings: Settings, args: argparse.Namespace) -> int:
    found = runtime.endpoints(settings)
    descriptions = admin.describe(admin.admin_client(found.bootstrap))
    rows = [("topic", "partitions", "cleanup", "retention.ms", "replicas", "schemas")]
    for d in descriptions:
        if d.exists:
            rows.append(
                (
                    d.topic.name,
                    str(d.partitions),
                    d.configs.get("cleanup.policy", "?"),
                    d.configs.get("retention.ms", "?"),
                    str(d.replication),
                    ",".join(s.rsplit(".", 1)[-1] for s in d.topic.schemas),
                )
            )
        else:
            rows.append((d.topic.name, "-", "-", "-", "-", "missing: run iotrack topics apply"))
    _print_table(rows)
    return 0 if all(d.exists for d in descriptions) else 1


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _schemas_list(settings: Settings, args: argparse.Namespace) -> int:
    schemas = repository()
    rows = [("record", "version", "fingerprint", "topics")]
    for name, version in sorted(schemas.current.items()):
        carried = [t.name for t in CATALOG if name in t.schemas]
        rows.append((name, str(version.version), version.fingerprint_hex, ",".join(carried)))
    _print_table(rows)
    return 0


def _schemas_archive(settings: Settings, args: argparse.Namespace) -> int:
    print(
        f"archived to {archive(repository(), args.name)}; now edit avro/{args.name}.avsc "
        "(new fields need defaults), then run 'iotrack schemas lock'"
    )
    return 0


def _schemas_lock(settings: Settings, args: argparse.Namespace) -> int:
    print(f"wrote {write_lock(repository())}")
    return 0


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from streams.replay import replay

    with open(args.file, encoding="utf-8") as source:
        for line in replay(source):
            print(line)
    return 0


def _publish(settings: Settings, args: argparse.Namespace) -> int:
    from streams.publish import publish
    from topics.codec import codec_for

    found = runtime.endpoints(settings)
    with open(args.file, encoding="utf-8") as source:
        count = publish(found.bootstrap, codec_for(settings.schema_registry_url), source)
    print(f"published {count} events to {found.bootstrap}")
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from readers.fusion_worker import FusionWorker
    from streams import metrics
    from streams.core_worker import CoreWorker
    from topics.codec import codec_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    found = runtime.endpoints(settings)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    idle = args.exit_when_idle
    threads = []
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    if not args.no_fusion:
        fusion = FusionWorker(
            found.bootstrap,
            codec_for(settings.schema_registry_url),
            statistics=metrics.lag_from_statistics("iotrack-fusion"),
        )
        metrics.EDGE.fusions.append(fusion)
        thread = threading.Thread(
            target=fusion.run, args=(stop,), kwargs={"exit_when_idle_s": idle}, daemon=True
        )
        thread.start()
        threads.append(thread)
    from processors.core import DAY_MS, CoreConfig

    retire_ms = int(settings.retire_after_days * DAY_MS)
    core = CoreWorker(
        found.bootstrap,
        codec_for(settings.schema_registry_url),
        config=CoreConfig(retire_after_ms=retire_ms),
    )
    print(
        f"workers running against {found.bootstrap}: tracking core"
        f"{'' if args.no_fusion else ', passage fusion'}",
        flush=True,
    )
    stats = core.run(stop, exit_when_idle_s=idle)
    stop.set()
    for thread in threads:
        thread.join(30)
    print(
        f"core: {stats.inputs} inputs -> {stats.outputs} outputs in {stats.batches} "
        f"transactions, {stats.dead_letters} dead letters"
    )
    return 0


def _project(settings: Settings, args: argparse.Namespace) -> int:
    import signal
    import threading

    from streams.projection import Projection
    from topics.codec import codec_for

    found = runtime.endpoints(settings)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    if args.metrics_port:
        from streams import metrics

        metrics.serve(args.metrics_port)
    projection = Projection(
        found.bootstrap, found.database_url.reveal(), codec_for(settings.schema_registry_url)
    )
    applied = projection.run(stop, exit_when_idle_s=args.exit_when_idle)
    print(f"projection: {applied} records applied, {projection.skipped} skipped")
    return 0


def _gate_check(settings: Settings, args: argparse.Namespace) -> int:
    from streams.projection import gate_check

    key = (
        f"{args.kind.upper()}:{args.country.upper()}:{args.value}"
        if args.country
        else (f"{args.kind.upper()}:{args.value}")
    )
    found = gate_check(runtime.endpoints(settings).database_url.reveal(), key)
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


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from streams.status import collect, render

    report = collect(settings, nodes=args.nodes)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        render(report)
    return 0 if report.healthy else 1


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    port = args.metrics_port if args.metrics_port is not None else (9300 if args.serve else 0)
    return demo_module.run(
        settings,
        as_json=args.json,
        keep_running=args.keep_running,
        serve=args.serve,
        metrics_port=port,
    )


def _demo_serving_options(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--serve",
        action="store_true",
        help="after the summary, keep the workers and /metrics running until SIGINT/SIGTERM",
    )
    demo.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on 127.0.0.1:PORT (default: 9300 with --serve, else off; 0: off)",
    )


def _register_modules(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The sub-commands that register themselves from their own modules."""
    validate_command.register(commands)
    register_asyncapi(commands)
    rail_commands.register(commands)
    read_side_commands.register(commands)


def parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per action."""
    top = argparse.ArgumentParser(
        prog="iotrack",
        description="Track goods and transport units through a port on Kafka (IOT_ID model).",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text)

    for name, help_text, handler in (
        ("up", "start the local broker and database (unless given) and migrate", _up),
        ("down", "stop the local broker and database", _down),
        ("status", "broker, topics, database and migrations", _status),
    ):
        sub = command(name, help_text)
        sub.add_argument("--nodes", type=int, default=1, help="local KRaft nodes (default 1)")
        if name == "status":
            sub.add_argument("--json", action="store_true", help="print one JSON object")
        sub.set_defaults(handler=handler)

    topics = command("topics", "create and inspect the catalogued topics")
    actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("apply", help="create missing topics, report drift").set_defaults(
        handler=_topics_apply
    )
    actions.add_parser("list", help="every catalogued topic as the broker has it").set_defaults(
        handler=_topics_list
    )

    schemas = command("schemas", "the Avro records, their versions and fingerprints")
    schema_actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    schema_actions.add_parser(
        "list", help="every record with version and fingerprint"
    ).set_defaults(handler=_schemas_list)
    archive_parser = schema_actions.add_parser(
        "archive", help="keep a record's current version in avro/history/ before editing it"
    )
    archive_parser.add_argument("name", help="full name, e.g. iotrack.Deviation")
    archive_parser.set_defaults(handler=_schemas_archive)
    schema_actions.add_parser(
        "lock", help="record current fingerprints in avro/fingerprints.json"
    ).set_defaults(handler=_schemas_lock)

    reader_commands.register(commands)
    replay_parser = command("replay", "run the tracking core over a file of events, no Kafka")
    replay_parser.add_argument("file", help='JSON lines: {"type": "iotrack.X", "value": {...}}')
    replay_parser.set_defaults(handler=_replay)
    publish_parser = command("publish", "put events (replay format) onto their topics")
    publish_parser.add_argument("file", help='JSON lines: {"type": "iotrack.X", "value": {...}}')
    publish_parser.set_defaults(handler=_publish)
    run_parser = command("run", "run the workers: tracking core and passage fusion")
    run_parser.add_argument("--no-fusion", action="store_true", help="the tracking core only")
    run_parser.add_argument(
        "--metrics-port",
        type=int,
        default=9300,
        help="serve /metrics on 127.0.0.1:PORT (default 9300; 0: off)",
    )
    run_parser.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long without input (for replays and tests)",
    )
    run_parser.set_defaults(handler=_run)
    project = command("project", "project the public state topics into Postgres")
    project.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long without records",
    )
    project.add_argument(
        "--metrics-port", type=int, default=0, help="serve /metrics on 127.0.0.1:PORT (default off)"
    )
    project.set_defaults(handler=_project)
    gate = command("gate-check", "may this unit leave? (from the projection; exit 0 yes, 1 no)")
    gate.add_argument("kind", help="CONTAINER, ILU, PLATE, SEAL ...")
    gate.add_argument("value", help="the identifier, normalised (e.g. CSQU3054383)")
    gate.add_argument("--country", help="for plates: the ISO country code")
    gate.set_defaults(handler=_gate_check)
    _register_modules(commands)

    demo = command("demo", "bring the system up and run the demonstration")
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the local broker and database running afterwards",
    )
    _demo_serving_options(demo)
    demo.set_defaults(handler=_demo)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iotrack`` console script; exit 1 on a failure, 2 on a usage error."""
    args = parser().parse_args(argv)
    try:
        settings = load()
        code: int = args.handler(settings, args)
    except (StreamsError, TopicsError) as exc:
        print(f"iotrack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`iotrack topics list | head`); that is not a failure.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
