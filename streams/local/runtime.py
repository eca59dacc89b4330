"""Where the broker and the database are: given by the environment, or started locally.

With ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` unset, ``up`` starts a local broker / Postgres
under ``IOTRACK_HOME`` (idempotently) and ``down`` stops them; with them set, both use what they
are given and start nothing.

Each process connects to Postgres with the role of its duty: ``endpoints.database(Duty.API)``.
Locally that is the duty's own role and generated password; a given ``DATABASE_URL`` is used as
it is for every duty, unless ``DATABASE_URL_<DUTY>`` gives that duty its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streams.local.kafka import LocalKafka
from streams.local.postgres import DB_NAME, LocalPostgres
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from streams.ops.settings import Secret, Settings, redact_url


def _on_database(url: Secret, name: str | None) -> Secret:
    if name is None:
        return url
    return Secret(urlsplit(url.reveal())._replace(path=f"/{name}").geturl())


@dataclass(frozen=True)
class Databases:
    """The URL of each duty: the local cluster's role per duty, or what the environment gives.

    ``name`` picks another database on the same server (the tests' and benchmarks' scratch
    databases); None is the one configured."""

    local: LocalPostgres | None
    given: Secret | None = None
    overrides: Mapping[Duty, Secret] = field(default_factory=dict)
    name: str | None = None

    def url(self, duty: Duty) -> Secret:
        """Where ``duty`` connects, with its credentials."""
        if self.local is not None:
            return self.local.url(duty, self.name or DB_NAME)
        given = self.overrides.get(duty, self.given)
        if given is None:
            raise ValueError("neither a local nor a given database")
        return _on_database(given, self.name)

    @property
    def address(self) -> str:
        """Where the database is, without any password, for messages."""
        if self.local is not None:
            return self.local.address(self.name or DB_NAME)
        assert self.given is not None  # noqa: S101 - one of the two is always set
        return redact_url(_on_database(self.given, self.name).reveal())

    def on(self, name: str) -> Databases:
        """The same server's database ``name``."""
        return dataclasses.replace(self, name=name)


@dataclass(frozen=True)
class Endpoints:
    """Addresses of the broker and database in use, and whether iotrack runs them itself."""

    bootstrap: str
    databases: Databases
    kafka_local: bool
    postgres_local: bool

    def database(self, duty: Duty) -> Secret:
        """The database URL for a process of this duty (its own role, never a superuser)."""
        return self.databases.url(duty)

    def on_database(self, name: str) -> Endpoints:
        """The same endpoints with the database ``name`` on the same server."""
        return dataclasses.replace(self, databases=self.databases.on(name))


def local_kafka(settings: Settings, nodes: int = 1) -> LocalKafka:
    """The local cluster manager for these settings."""
    return LocalKafka(
        settings.home, nodes=nodes, base_port=settings.kafka_port, heap=settings.kafka_heap
    )


def local_postgres(settings: Settings) -> LocalPostgres:
    """The local database manager for these settings."""
    return LocalPostgres(settings.home, port=settings.postgres_port)


def databases(settings: Settings) -> Databases:
    """Where each duty connects, without starting or reading anything yet."""
    if settings.database_url is None:
        return Databases(local_postgres(settings))
    return Databases(None, settings.database_url, settings.database_urls)


def endpoints(settings: Settings, nodes: int = 1) -> Endpoints:
    """The endpoints in use, without starting anything."""
    bootstrap = settings.kafka_bootstrap or local_kafka(settings, nodes).bootstrap
    return Endpoints(
        bootstrap, databases(settings), settings.embedded_kafka, settings.embedded_postgres
    )


def up(settings: Settings, nodes: int = 1) -> Endpoints:
    """Start what runs locally (idempotent), then apply the database migrations (as the owner
    role) and the privileges of every duty."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.embedded_postgres:
        local_postgres(settings).start()
    if settings.embedded_kafka:
        local_kafka(settings, nodes).start()
    found = endpoints(settings, nodes)
    migrate(found.database(Duty.OWNER).reveal())
    return found


def create_database(found: Endpoints, name: str, *, migrated: bool = True) -> Endpoints:
    """A new database ``name`` on the same server with the same roles by duty, migrated unless
    told otherwise (for tests and benchmarks); the endpoints that reach it."""
    import psycopg2
    from psycopg2 import sql

    local = found.databases.local
    if local is not None:
        local.create_database(name)
    else:
        connection = psycopg2.connect(found.database(Duty.OWNER).reveal(), connect_timeout=10)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            connection.close()
    created = found.on_database(name)
    if migrated:
        migrate(created.database(Duty.OWNER).reveal())
    return created


def drop_database(found: Endpoints, name: str) -> None:
    """Drop the database ``name`` that :func:`create_database` made."""
    import psycopg2
    from psycopg2 import sql

    local = found.databases.local
    if local is not None:
        local.drop_database(name)
        return
    connection = psycopg2.connect(found.database(Duty.OWNER).reveal(), connect_timeout=10)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        connection.close()


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
