"""Shared fixtures: a real Kafka broker and a real Postgres for the integration tests.

With ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` set, the tests use them (the database URL
for every duty, and to create the scratch databases some tests use; the cluster with the
administrator's credential given as ``IOTRACK_KAFKA_USERNAME``/``PASSWORD``, with which the
session makes a SCRAM credential for every party it plays, kept in its temporary home).
Otherwise one local broker, with SASL/SCRAM and ACLs as ``iotrack up`` makes it, and one local
Postgres are started for the whole session, on free loopback ports, in a temporary
``IOTRACK_HOME`` outside the checkout, and stopped at the end. Either way the catalogued topics
and their ACLs exist before the first test, as ``iotrack topics apply`` makes them; each test
signs in as the party it plays (``services.kafka(CORE)``), the set-up as the administrator.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from streams.local import runtime
from streams.local.kafka import LocalKafka, ensure_scram
from streams.local.passwords import PRINCIPAL_NAME, PasswordFiles
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.ops.admission import admit
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from streams.ops.settings import Secret, load
from topics.admin import admin_client
from topics.parties import STANDING

# Every process a test starts is stopped by the end of the run: checked there (tests/leftovers.py).
pytest_plugins = ("tests.leftovers",)

# No example database: `make check` writes nothing into the tree.
settings.register_profile(
    "iotrack", database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("iotrack")


@pytest.fixture(scope="session")
def services() -> Iterator[runtime.Endpoints]:
    """Endpoints of a running broker and database, started here unless given. The local
    Postgres has its roles by duty: each test connects as the duty it plays
    (``services.database(Duty.API)``), as the processes do."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    home = Path(tempfile.mkdtemp(prefix="iotrack-test-"))
    kafka = None if bootstrap else LocalKafka(home, base_port=free_port(), heap="512m")
    postgres = None if database else LocalPostgres(home, port=free_port())
    try:
        if postgres is not None:
            postgres.start()
        if kafka is not None:
            bootstrap = kafka.start()
        assert bootstrap
        if kafka is not None:
            kafka.ensure_credentials(p.principal for p in STANDING)
            brokers = runtime.Brokers(bootstrap, kafka)
        else:
            given = runtime.brokers(load()).given
            assert given is not None, "a given cluster needs its administrator's credential"
            files = PasswordFiles(home / "secrets" / "kafka", names=PRINCIPAL_NAME)
            ensure_scram(admin_client(given), files, (p.principal for p in STANDING))
            brokers = runtime.Brokers(bootstrap, given=given, parties=files)
        databases = runtime.Databases(postgres, Secret(database) if database else None)
        found = runtime.Endpoints(brokers, databases, postgres is not None)
        admit(found, [])
        migrate(found.database(Duty.OWNER).reveal())
        yield found
    finally:
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(home, ignore_errors=True)
