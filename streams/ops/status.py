"""``iotrack status``: what runs where and how clients sign in, every catalogued topic, the ACLs
and their drift, the database and its migrations, and the readiness of each long-running process
of this ``IOTRACK_HOME`` (those that serve ``/ready`` register themselves:
:mod:`streams.ops.running`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from processors.parties import Sender
from streams.errors import StreamsError
from streams.local import runtime
from streams.local.kafka import kafka_version
from streams.ops import running
from streams.ops.duties import Duty
from streams.ops.migrations import applied_migrations, server_version
from streams.ops.settings import Settings
from topics import admin
from topics.admin import TopicDescription
from topics.catalog import deployed
from topics.errors import TopicsError


@dataclass
class StatusReport:
    """Everything ``status`` found; ``problems`` says what is down and how to fix it."""

    kafka_address: str
    kafka_local: bool
    kafka_version: str | None = None
    brokers: int = 0
    security: str = ""
    """How clients reach and sign in (``SASL_PLAINTEXT SCRAM-SHA-512``)."""
    acls: int | None = None
    """How many ACLs the broker has (None: not read)."""
    acls_missing: list[str] = field(default_factory=list)
    """Declared ACLs the broker lacks ('iotrack topics apply' makes them)."""
    acls_extra: list[str] = field(default_factory=list)
    """ACLs on the broker that no declaration makes."""
    topics: list[TopicDescription] = field(default_factory=list)
    postgres_address: str = ""
    postgres_local: bool = True
    postgres_version: str | None = None
    migrations: list[str] = field(default_factory=list)
    processes: list[running.Running] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "kafka": {
                "address": self.kafka_address,
                "local": self.kafka_local,
                "version": self.kafka_version,
                "brokers": self.brokers,
                "security": self.security,
                "acls": {
                    "count": self.acls,
                    "missing": self.acls_missing,
                    "not_declared": self.acls_extra,
                },
            },
            "topics": [
                {
                    "name": d.topic.name,
                    "exists": d.exists,
                    "partitions": d.partitions,
                    "cleanup_policy": d.configs.get("cleanup.policy"),
                    "replication": d.replication,
                }
                for d in self.topics
            ],
            "postgres": {
                "address": self.postgres_address,
                "local": self.postgres_local,
                "version": self.postgres_version,
                "migrations": self.migrations,
            },
            "processes": [p.as_json() for p in self.processes],
            "problems": self.problems,
        }


def _ask_kafka(report: StatusReport, found: runtime.Endpoints, party: Sender | None) -> None:
    if party is not None:
        try:
            report.brokers = admin.broker_count(admin.admin_client(found.kafka(party)), 10)
        except (TopicsError, StreamsError) as exc:
            report.problems.append(f"Kafka at {found.bootstrap} does not answer: {exc}")
        report.security += f" (topics and ACLs: see 'iotrack status'; asked as {party})"
        return
    try:
        client = admin.admin_client(found.kafka_admin())
        report.brokers = admin.broker_count(client, timeout=10)
        members = admin.parties(client)
        topics = deployed(members)
        report.topics = admin.describe(client, topics)
    except (TopicsError, StreamsError) as exc:
        report.problems.append(f"Kafka at {found.bootstrap} does not answer: {exc}")
        return
    try:
        acls = admin.compare_acls(client, topics, members)
        report.acls = len(admin.broker_acls(client))
        report.acls_missing = [str(a) for a in acls.created]
        report.acls_extra = [str(a) for a in acls.extra]
    except TopicsError as exc:  # a credential that may not describe ACLs
        report.security += f" (ACLs not shown: {exc})"


def collect(
    settings: Settings, nodes: int | None = None, *, party: Sender | None = None
) -> StatusReport:
    """Ask the broker and the database; nothing is started or changed.

    As the administrator by default (``iotrack status``: topics, their configurations, ACLs);
    as ``party`` when given, for a process that must not hold the administrator's secret (the
    web console, in the query API): then the brokers, Postgres and the processes only."""
    found = runtime.endpoints(settings, nodes)
    report = StatusReport(
        found.bootstrap,
        found.kafka_local,
        postgres_address=found.databases.address,
        postgres_local=found.postgres_local,
    )
    local = found.brokers.local
    if local is not None:
        report.security = f"{local.protocol} SCRAM-SHA-512, a principal per party"
    else:
        given = settings.kafka_security
        report.security = f"{given.protocol} {given.mechanism}"
    if found.kafka_local and not runtime.local_kafka(settings, nodes).running():
        report.problems.append("the local Kafka broker is not running: start it with 'iotrack up'")
    else:
        # The Kafka protocol does not report a release; the local jars tell ours.
        report.kafka_version = kafka_version() if found.kafka_local else None
        _ask_kafka(report, found, party)
    if found.postgres_local and not runtime.local_postgres(settings).running():
        report.problems.append("the local Postgres is not running: start it with 'iotrack up'")
    else:
        try:
            # Read-only, as the API's role: status changes nothing.
            url = found.database(Duty.API).reveal()
            report.postgres_version = server_version(url)
            report.migrations = [
                f"{m.version}_{m.name} (applied {m.applied_at:%Y-%m-%d %H:%M:%S %Z})"
                for m in applied_migrations(url)
            ]
        except StreamsError as exc:
            report.problems.append(f"Postgres does not answer: {exc}")
    report.processes = running.processes(settings.home)
    for process in report.processes:
        if not process.ready:
            report.problems.append(
                f"{process.name} (pid {process.pid}) is not ready: {process.reason}"
            )
    return report


def render(report: StatusReport) -> None:
    """Print the report for a person."""
    where = "local" if report.kafka_local else "given"
    version = report.kafka_version or ("unknown" if report.kafka_local else "not reported")
    print(
        f"Kafka      {report.kafka_address} ({where}), Apache Kafka {version}, "
        f"{report.brokers} broker(s)"
    )
    print(f"  security   {report.security}")
    if report.acls is not None:
        drift = (
            f"{len(report.acls_missing)} declared but missing (run 'iotrack topics apply'), "
            f"{len(report.acls_extra)} not declared"
        )
        print(f"  ACLs       {report.acls} on the broker; drift: {drift}")
        for acl in report.acls_extra:
            print(f"    not declared: {acl}")
    if report.topics:
        width = max(len(d.topic.name) for d in report.topics)
        print(f"  {'topic':<{width}}  partitions  cleanup   replicas")
        for d in report.topics:
            if d.exists:
                cleanup = d.configs.get("cleanup.policy", "?")
                name, partitions, replicas = d.topic.name, d.partitions, d.replication
                print(f"  {name:<{width}}  {partitions:>10}  {cleanup:<8}  {replicas:>8}")
            else:
                print(f"  {d.topic.name:<{width}}  missing (run 'iotrack topics apply')")
    where = "local" if report.postgres_local else "given"
    print(f"Postgres   {report.postgres_address} ({where}), {report.postgres_version or 'unknown'}")
    if report.migrations:
        print("  migrations applied:")
        for line in report.migrations:
            print(f"    {line}")
    if report.processes:
        width = max(len(p.name) for p in report.processes)
        print("Processes")
        for process in report.processes:
            state = "ready" if process.ready else "NOT READY"
            print(
                f"  {process.name:<{width}}  pid {process.pid:<7}  {process.url:<22}  {state}: "
                f"{process.reason}"
            )
    for problem in report.problems:
        print(f"problem: {problem}")
