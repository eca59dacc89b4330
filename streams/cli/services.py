"""``iotrack up``, ``down``, ``status``, ``topics`` and ``schemas``: the broker, the database and
the contracts."""

from __future__ import annotations

import argparse
import json
import time

from streams.cli.options import add_command
from streams.cli.tables import print_table
from streams.local import runtime
from streams.ops.settings import Settings
from topics import admin
from topics.catalog import CATALOG, deployed
from topics.schemas import archive, repository, write_lock


def _up(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    found = runtime.up(settings, nodes=args.nodes)
    elapsed = time.monotonic() - started
    local_kafka = found.brokers.local
    if local_kafka is not None:
        kafka = (
            f"(local) {local_kafka.protocol}, SCRAM-SHA-512: a principal per party, "
            f"passwords in {local_kafka.passwords.directory}"
        )
    else:
        given = settings.kafka_security
        kafka = f"(given) {given.protocol}, {given.mechanism}: each process signs in as given"
    print(f"Kafka     {found.bootstrap} {kafka}")
    local = found.databases.local
    if local is not None:
        where = f"local, a role per duty; passwords in {local.passwords.directory}"
    else:
        where = "given, used as given" + (
            f" and by {', '.join(d.setting for d in settings.database_urls)}"
            if settings.database_urls
            else " by every duty"
        )
    print(f"Postgres  {found.databases.address} ({where})")
    print(f"ready in {elapsed:.1f} s; data and logs under {settings.home}")
    print("next: iotrack topics apply, iotrack status")
    return 0


def _down(settings: Settings, args: argparse.Namespace) -> int:
    stopped = runtime.down(settings, nodes=args.nodes)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing local was running")
    return 0


def _topics_apply(settings: Settings, args: argparse.Namespace) -> int:
    found = runtime.endpoints(settings)
    client = admin.admin_client(found.kafka_admin())
    members = admin.parties(client)
    topics = deployed(members)
    reports = admin.apply(client, topics)
    width = max(len(r.topic.name) for r in reports)
    for report in reports:
        print(f"{report.topic.name:<{width}}  {report.outcome}")
        for difference in report.differences:
            print(f"{'':<{width}}    {difference}")
    drift = sum(r.outcome is admin.Outcome.DRIFT for r in reports)
    created = sum(r.outcome is admin.Outcome.CREATED for r in reports)
    print(f"{len(reports)} topics: {created} created, {drift} drifted (left unchanged)")
    acls = admin.apply_acls(client, topics, members)
    for acl in acls.extra:
        print(f"ACL not declared (left unchanged): {acl}")
    print(
        f"{len(acls.created) + len(acls.present)} ACLs for {len(members)} parties: "
        f"{len(acls.created)} created, {len(acls.extra)} not declared (left unchanged)"
    )
    return 1 if drift or acls.drift else 0


def _topics_list(settings: Settings, args: argparse.Namespace) -> int:
    found = runtime.endpoints(settings)
    client = admin.admin_client(found.kafka_admin())
    descriptions = admin.describe(client, admin.deployment(client))
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
    print_table(rows)
    return 0 if all(d.exists for d in descriptions) else 1


def _schemas_list(settings: Settings, args: argparse.Namespace) -> int:
    schemas = repository()
    rows = [("record", "version", "fingerprint", "topics")]
    for name, version in sorted(schemas.current.items()):
        carried = [t.name for t in CATALOG if name in t.schemas]
        rows.append((name, str(version.version), version.fingerprint_hex, ",".join(carried)))
    print_table(rows)
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


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from streams.ops.status import collect, render

    report = collect(settings, nodes=args.nodes)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        render(report)
    return 0 if report.healthy else 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``up``, ``down``, ``status``, ``topics`` and ``schemas`` to ``commands``."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return add_command(commands, name, help_text)

    for name, help_text, handler in (
        ("up", "start the local broker and database (unless given) and migrate", _up),
        ("down", "stop the local broker and database", _down),
        ("status", "broker, topics, database and migrations", _status),
    ):
        sub = command(name, help_text)
        sub.add_argument(
            "--nodes",
            type=int,
            default=None,
            help="local KRaft nodes (default: as many as the local cluster was made with, else 1)",
        )
        if name == "status":
            sub.add_argument("--json", action="store_true", help="print one JSON object")
        sub.set_defaults(handler=handler)

    topics = command("topics", "create and inspect the catalogued topics")
    actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("apply", help="create missing topics and ACLs, report drift").set_defaults(
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
