"""The environment of `iotrack` subprocesses, brokers set up for tests as `iotrack up` does, and
stopping what such subprocesses started, whatever happened to the test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from processors.parties import Sender
from streams.local.kafka import LocalKafka
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.local.runtime import Brokers, Databases, Endpoints
from streams.ops.admission import admit
from streams.ops.duties import Duty
from topics.parties import STANDING

CHECKOUT = Path(__file__).resolve().parents[2]


def embedded_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any given broker, database or registry, with its
    own IOTRACK_HOME and free ports (``extra`` overrides, e.g. a port chosen beforehand)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SCHEMA_REGISTRY_URL")
        and not k.startswith("IOTRACK_KAFKA_")
    }
    env.update(
        IOTRACK_HOME=str(home),
        IOTRACK_KAFKA_PORT=str(free_port()),
        IOTRACK_POSTGRES_PORT=str(free_port()),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def cli_env(services: Endpoints, party: Sender | None = None, **extra: str) -> dict[str, str]:
    """The environment of an `iotrack` subprocess using the session's broker and database.

    On the session's local services it is their embedded default (their IOTRACK_HOME and ports):
    the command signs in as each party it plays, from that home's password files, as it would
    on a machine's own `iotrack up`. On a given cluster it gets one credential, ``party``'s (the
    administrator's when None), as a process there would."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SCHEMA_REGISTRY_URL")
        and not k.startswith("IOTRACK_")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    local_kafka, local_postgres = services.brokers.local, services.databases.local
    if local_kafka is not None:
        env["IOTRACK_HOME"] = str(local_kafka.root.parent)
        env["IOTRACK_KAFKA_PORT"] = str(local_kafka.nodes[0].broker_port)
    else:
        connection = services.kafka(party) if party is not None else services.kafka_admin()
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=connection.bootstrap,
            IOTRACK_KAFKA_SECURITY=str(connection.protocol),
            IOTRACK_KAFKA_MECHANISM=str(connection.mechanism),
            IOTRACK_KAFKA_USERNAME=connection.username,
            IOTRACK_KAFKA_PASSWORD=connection.password.reveal(),
        )
        if connection.ca_file is not None:
            env["IOTRACK_KAFKA_CA_FILE"] = str(connection.ca_file)
    if local_postgres is not None:
        if local_kafka is None or local_postgres.root.parent != local_kafka.root.parent:
            env["IOTRACK_HOME"] = str(local_postgres.root.parent)
        env["IOTRACK_POSTGRES_PORT"] = str(local_postgres.port)
    elif services.databases.given is not None:
        env["DATABASE_URL"] = services.database(Duty.OWNER).reveal()
    env.update(extra)
    return env


def own_broker(
    kafka: LocalKafka, parties: Iterable[Sender] = (), databases: Databases | None = None
) -> Endpoints:
    """The endpoints of a broker a test started itself, set up as `iotrack up` and
    `iotrack parties add` would: every standing party's credential, ``parties`` admitted, the
    catalogued topics and their ACLs."""
    kafka.ensure_credentials(p.principal for p in STANDING)
    found = Endpoints(
        Brokers(kafka.bootstrap, kafka), databases or Databases(None), postgres_local=False
    )
    admit(found, parties)
    return found


def stop_embedded(env: dict[str, str], timeout_s: float = 180.0) -> list[str]:
    """Stop the broker and database of ``env``'s home: ``iotrack down``, then, should it fail or
    hang, each service directly. Returns what ``iotrack down`` could not stop."""
    home = Path(env["IOTRACK_HOME"])
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "down"],
            cwd=CHECKOUT,
            env=env,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    left = []
    kafka = LocalKafka(home, base_port=int(env["IOTRACK_KAFKA_PORT"]))
    if any(node.pid() is not None for node in kafka.nodes):
        left.append("broker")
        kafka.stop()
    postgres = LocalPostgres(home, port=int(env["IOTRACK_POSTGRES_PORT"]))
    if postgres.running():
        left.append("database")
        postgres.stop()
    return left


@contextlib.contextmanager
def embedded_home(home: Path, **extra: str) -> Iterator[dict[str, str]]:
    """:func:`embedded_env`, and at the end, passed or failed, everything its subprocesses
    left running in that home stopped."""
    env = embedded_env(home, **extra)
    try:
        yield env
    finally:
        stop_embedded(env)


def stop_child(process: subprocess.Popen, wait_s: float = 30.0) -> None:  # type: ignore[type-arg]
    """SIGTERM ``process`` and wait for it; SIGKILL it if it has not exited by then."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
