"""The local broker's other security modes, as the command line starts them: TLS on the client
listener (``IOTRACK_KAFKA_TLS=1``), three nodes talking SCRAM between themselves, and a home made
before authentication existed."""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.errors import DeliveryError
from streams.kafka.reading import read_committed
from streams.kafka.sending import produce_sync
from streams.local import runtime
from streams.ops.settings import load
from streams.replay.publish import publish
from tests.integration.embedded import embedded_env
from topics import admin, catalog
from topics.clients import KafkaConnection, Protocol, admin_client, producer
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import CORE, CUSTOMS, GDF
from topics.schemas import repository

CHECKOUT = Path(__file__).resolve().parents[2]
CODEC = SingleObjectCodec()
PATHS = (CHECKOUT / "deploy" / "mission-paths.jsonl").read_text().splitlines()


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_tls_on_the_client_listener(tmp_path):
    env = embedded_env(tmp_path / "home", IOTRACK_KAFKA_TLS="1")
    try:
        up = _run(env, "up")
        assert up.returncode == 0, up.stderr
        assert "(local) SASL_SSL" in up.stdout
        assert _run(env, "topics", "apply").returncode == 0
        status = _run(env, "status")
        assert "security   SASL_SSL SCRAM-SHA-512" in status.stdout, status.stdout
        found = runtime.endpoints(load(env))
        customs = found.kafka(CUSTOMS)
        assert customs.protocol is Protocol.SASL_SSL
        assert customs.ca_file is not None
        assert customs.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert publish(found.kafka, CODEC, PATHS) > 0, "Customs publishes over TLS"
        assert read_committed(found.kafka(GDF), catalog.MISSION_PATHS), "the GdF reads"
        # Without the local CA the broker's certificate is not trusted; without TLS, no talk.
        said: list[KafkaError] = []
        untrusting = admin_client(
            KafkaConnection(
                customs.bootstrap, customs.username, customs.password, customs.protocol
            ),
            error_cb=said.append,
        )
        with pytest.raises(KafkaException):
            untrusting.list_topics(timeout=5)
        untrusting.poll(1)
        assert any(e.code() == KafkaError._SSL for e in said), said
        plain = KafkaConnection(customs.bootstrap, customs.username, customs.password)
        with pytest.raises(KafkaException):
            admin_client(plain).list_topics(timeout=5)
        # Running with TLS, it is not silently taken for the plain listener.
        ports = {k: env[k] for k in ("IOTRACK_KAFKA_PORT", "IOTRACK_POSTGRES_PORT")}
        without = _run(embedded_env(tmp_path / "home", **ports), "up")
        assert without.returncode == 1
        assert "stop it ('iotrack down') to switch" in without.stderr
    finally:
        assert _run(env, "down").returncode == 0


def _free_for_three_nodes() -> int:
    """A first port whose three client and three controller ports (+100) are free now, below
    the kernel's ephemeral range: a node dialling a peer's port in that range before the peer
    listens can be given that very port as its own source and connect to itself, and the peer
    then cannot bind it (seen here: "Address already in use", a SASL answer "unrelated to Sasl
    request"). `iotrack up`'s default ports (19092...) are below it too."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    while True:
        base = rng.randrange(20000, low - 200)
        try:
            with contextlib.ExitStack() as held:
                for port in (*range(base, base + 3), *range(base + 100, base + 103)):
                    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base


def test_three_nodes_replicate_and_talk_scram_between_themselves(tmp_path):
    env = embedded_env(
        tmp_path / "home",
        IOTRACK_KAFKA_HEAP="384m",
        IOTRACK_KAFKA_PORT=str(_free_for_three_nodes()),
    )
    try:
        up = _run(env, "up", "--nodes", "3")
        assert up.returncode == 0, up.stderr
        applied = _run(env, "topics", "apply")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        found = runtime.endpoints(load(env), nodes=3)
        client = admin_client(found.kafka_admin())
        assert admin.broker_count(client) == 3
        [iot_state] = admin.describe(client, [catalog.IOT_STATE])
        assert iot_state.replication == 3, "replicated: the brokers fetch from each other"
        value = CODEC.encode("iotrack.IotState", example(repository().get("iotrack.IotState")))
        produce_sync(producer(found.kafka(CORE)), catalog.IOT_STATE, b"k", value)
        assert read_committed(found.kafka(GDF), catalog.IOT_STATE)
        with pytest.raises(DeliveryError, match=r"(?i)authoriz"):
            produce_sync(producer(found.kafka(GDF)), catalog.IOT_STATE, b"k", value, timeout=15)
        status = _run(env, "status", "--nodes", "3")
        assert "3 broker(s)" in status.stdout, status.stdout
        assert "0 declared but missing" in status.stdout
    finally:
        assert _run(env, "down", "--nodes", "3").returncode == 0
