"""Where the broker and the database are: given by the environment, or started locally.

With ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` unset, ``up`` starts a local broker / Postgres
under ``IOTRACK_HOME`` (idempotently) and ``down`` stops them; with them set, both use what they
are given and start nothing.

Each process connects to Postgres with the role of its duty: ``endpoints.database(Duty.API)``.
Locally that is the duty's own role and generated password; a given ``DATABASE_URL`` is used as
it is for every duty, unless ``DATABASE_URL_<DUTY>`` gives that duty its own.

Each process signs in to Kafka as the party it plays: ``endpoints.kafka(CORE)``. Locally that is
the party's own principal and password (made at ``iotrack up`` for the standing parties, at
``iotrack parties add`` for the others; the command line may read any of them); administration
(``up``, ``topics apply``, ``parties add``, ``status``) signs in as the one administrator,
``endpoints.kafka_admin()``. A given cluster is reached with the one credential the process was
given (``IOTRACK_KAFKA_USERNAME``...), whichever party it plays: the cluster decides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from processors.parties import Sender
from streams.errors import ConfigError, LocalServiceError
from streams.local.kafka import ADMIN, LocalKafka, formatted_nodes
from streams.local.passwords import MissingPassword, PasswordFiles
from streams.local.postgres import DB_NAME, LocalPostgres
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from streams.ops.settings import Secret, Settings, redact_url
from topics.clients import KafkaConnection
from topics.parties import ADMITTED_KINDS, STANDING


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
class Brokers:
    """The Kafka cluster in use and how each party signs in to it: the local cluster's own
    principal per party, or the one credential a given cluster's process was given.

    ``parties`` (tests against a given cluster): a password per party that the tests made on
    it as its administrator, used instead of the one given credential."""

    bootstrap: str
    local: LocalKafka | None = None
    given: KafkaConnection | None = None
    parties: PasswordFiles | None = None

    @property
    def passwords(self) -> PasswordFiles | None:
        """Where each party's password is kept, if anywhere (the local home's files)."""
        return self.local.passwords if self.local is not None else self.parties

    def kafka(self, party: Sender) -> KafkaConnection:
        """How a process playing ``party`` signs in."""
        return self._connection(party.principal, party)

    def admin(self) -> KafkaConnection:
        """How administration signs in: the local cluster's administrator, or the given
        credential (which must be allowed to create topics, ACLs and credentials)."""
        if self.local is not None:
            return self._connection(ADMIN, None)
        return self._given("administration")

    def _given(self, what: str) -> KafkaConnection:
        if self.given is None:
            raise ConfigError(
                f"KAFKA_BOOTSTRAP_SERVERS is given but no credential for {what}: set "
                "IOTRACK_KAFKA_USERNAME and IOTRACK_KAFKA_PASSWORD, or "
                "IOTRACK_KAFKA_CREDENTIALS_FILE"
            )
        return self.given

    def _connection(self, principal: str, party: Sender | None) -> KafkaConnection:
        try:
            if self.local is not None:
                return self.local.connection(principal)
            if self.parties is not None:
                given = self._given(principal)
                return dataclasses.replace(
                    given, username=principal, password=self.parties.read(principal)
                )
        except MissingPassword:
            if party is not None and party.kind in ADMITTED_KINDS:
                raise LocalServiceError(
                    f"{party} has no Kafka credential yet: admit it with 'iotrack parties add "
                    f"{party.kind} {party.name}'"
                ) from None
            raise LocalServiceError(
                f"no Kafka credential for {principal} yet: run 'iotrack up' first"
            ) from None
        return self._given(principal)


@dataclass(frozen=True)
class Endpoints:
    """Addresses of the broker and database in use, and whether iotrack runs them itself."""

    brokers: Brokers
    databases: Databases
    postgres_local: bool

    @property
    def bootstrap(self) -> str:
        """The brokers' addresses, for messages."""
        return self.brokers.bootstrap

    @property
    def kafka_local(self) -> bool:
        return self.brokers.local is not None

    def kafka(self, party: Sender) -> KafkaConnection:
        """How a process playing ``party`` signs in to Kafka."""
        return self.brokers.kafka(party)

    def kafka_admin(self) -> KafkaConnection:
        """How administration signs in to Kafka."""
        return self.brokers.admin()

    def database(self, duty: Duty) -> Secret:
        """The database URL for a process of this duty (its own role, never a superuser)."""
        return self.databases.url(duty)

    def on_database(self, name: str) -> Endpoints:
        """The same endpoints with the database ``name`` on the same server."""
        return dataclasses.replace(self, databases=self.databases.on(name))


def local_kafka(settings: Settings, nodes: int | None = None) -> LocalKafka:
    """The local cluster manager for these settings: ``nodes`` nodes, by default as many as
    the cluster in ``IOTRACK_HOME`` was made with (1 for a new one)."""
    return LocalKafka(
        settings.home,
        nodes=nodes if nodes is not None else formatted_nodes(settings.home),
        base_port=settings.kafka_port,
        heap=settings.kafka_heap,
        tls=settings.kafka_security.tls,
    )


def brokers(settings: Settings, nodes: int | None = None) -> Brokers:
    """The cluster in use and its credentials, without starting or reading anything yet."""
    if settings.kafka_bootstrap is None:
        local = local_kafka(settings, nodes)
        return Brokers(local.bootstrap, local)
    security = settings.kafka_security
    given = None
    if security.username is not None and security.password is not None:
        given = KafkaConnection(
            settings.kafka_bootstrap,
            security.username,
            security.password,
            security.protocol,
            security.mechanism,
            security.ca_file,
        )
    return Brokers(settings.kafka_bootstrap, given=given)


def local_postgres(settings: Settings) -> LocalPostgres:
    """The local database manager for these settings."""
    return LocalPostgres(settings.home, port=settings.postgres_port)


def databases(settings: Settings) -> Databases:
    """Where each duty connects, without starting or reading anything yet."""
    if settings.database_url is None:
        return Databases(local_postgres(settings))
    return Databases(None, settings.database_url, settings.database_urls)


def endpoints(settings: Settings, nodes: int | None = None) -> Endpoints:
    """The endpoints in use, without starting anything."""
    return Endpoints(brokers(settings, nodes), databases(settings), settings.embedded_postgres)


def up(settings: Settings, nodes: int | None = None) -> Endpoints:
    """Start what runs locally (idempotent), give every standing party its Kafka credential on
    the local cluster (made at the first ``up``), then apply the database migrations (as the
    owner role) and the privileges of every duty."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.embedded_postgres:
        local_postgres(settings).start()
    if settings.embedded_kafka:
        kafka = local_kafka(settings, nodes)
        kafka.start()
        kafka.ensure_credentials(p.principal for p in STANDING)
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


def down(settings: Settings, nodes: int | None = None) -> list[str]:
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
