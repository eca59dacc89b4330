"""Where the broker and the database are: given by the environment, or started locally.

With ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` unset, ``up`` starts a local broker / Postgres
under ``IOTRACK_HOME`` (idempotently) and ``down`` stops them; with them set, both use what they
are given and start nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.local.kafka import LocalKafka
from streams.local.postgres import LocalPostgres
from streams.ops.migrations import migrate
from streams.ops.settings import Secret, Settings


@dataclass(frozen=True)
class Endpoints:
    """Addresses of the broker and database in use, and whether iotrack runs them itself."""

    bootstrap: str
    database_url: Secret
    kafka_local: bool
    postgres_local: bool


def local_kafka(settings: Settings, nodes: int = 1) -> LocalKafka:
    """The local cluster manager for these settings."""
    return LocalKafka(
        settings.home, nodes=nodes, base_port=settings.kafka_port, heap=settings.kafka_heap
    )


def local_postgres(settings: Settings) -> LocalPostgres:
    """The local database manager for these settings."""
    return LocalPostgres(settings.home, port=settings.postgres_port)


def endpoints(settings: Settings, nodes: int = 1) -> Endpoints:
    """The endpoints in use, without starting anything."""
    bootstrap = settings.kafka_bootstrap or local_kafka(settings, nodes).bootstrap
    database = settings.database_url or Secret(local_postgres(settings).url)
    return Endpoints(bootstrap, database, settings.embedded_kafka, settings.embedded_postgres)


def up(settings: Settings, nodes: int = 1) -> Endpoints:
    """Start what runs locally (idempotent), then apply the database migrations."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.embedded_postgres:
        local_postgres(settings).start()
    if settings.embedded_kafka:
        local_kafka(settings, nodes).start()
    found = endpoints(settings, nodes)
    migrate(found.database_url.reveal())
    return found


def down(settings: Settings, nodes: int = 1) -> list[str]:
    """Stop what runs locally; returns what was stopped. Given services are left alone."""
    stopped = []
    if settings.embedded_kafka:
        kafka = local_kafka(settings, nodes)
        if any(node.pid() for node in kafka.nodes):
            kafka.stop()
            stopped.append("kafka")
    if settings.embedded_postgres:
        postgres = local_postgres(settings)
        if postgres.running():
            postgres.stop()
            stopped.append("postgres")
    return stopped
