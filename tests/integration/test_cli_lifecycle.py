"""`iotrack up`, `topics apply`, `status`, `down` as a newcomer runs them, in an empty home."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from streams.local import runtime
from streams.local.processes import free_port, process_alive
from streams.ops.duties import Duty
from streams.ops.settings import load
from streams.ops.status import collect
from tests.integration.embedded import embedded_env
from topics.clients import admin_client
from topics.parties import API, CUSTOMS

IOTRACK = [sys.executable, "-m", "streams.cli"]
CHECKOUT = Path(__file__).resolve().parents[2]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IOTRACK, *args],
        env=env,
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _no_administrator(self: runtime.Endpoints) -> None:
    raise AssertionError("the administrator's credential was asked for")


def _private(path: Path, mode: int) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == mode


def test_up_apply_status_down_in_an_empty_home(tmp_path):
    home = tmp_path / "home"
    env = embedded_env(home)
    said: list[str] = []
    try:
        first = _run(env, "up")
        assert first.returncode == 0, first.stderr
        assert "(local) SASL_PLAINTEXT, SCRAM-SHA-512" in first.stdout
        again = _run(env, "up")
        assert again.returncode == 0, "up is idempotent"

        applied = _run(env, "topics", "apply")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "created" in applied.stdout
        assert "ACLs for 10 parties:" in applied.stdout
        assert "0 not declared" in applied.stdout

        status = _run(env, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Apache Kafka 4." in status.stdout
        assert "security   SASL_PLAINTEXT SCRAM-SHA-512" in status.stdout
        assert "0 declared but missing" in status.stdout
        assert "0 not declared" in status.stdout
        assert "PostgreSQL" in status.stdout
        assert "0001_processed_events" in status.stdout
        for line in status.stdout.splitlines():
            if "iotrack.iot-state.v1" in line or "verdicts.by-itu" in line:
                assert " compact " in f" {line} "
        report = json.loads(_run(env, "status", "--json").stdout)
        cleanup = {t["name"]: t["cleanup_policy"] for t in report["topics"]}
        assert cleanup["iotrack.iot-state.v1"] == "compact"
        assert cleanup["iotrack.reads.raw.v1"] == "delete"
        assert report["kafka"]["acls"]["count"] > 100
        assert report["kafka"]["acls"]["missing"] == report["kafka"]["acls"]["not_declared"] == []

        # The console's status (in the query API) is asked as the API, never as the
        # administrator: that process does not read the administrator's secret.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(runtime.Endpoints, "kafka_admin", _no_administrator)
            as_api = collect(load(env), party=API)
        assert as_api.brokers == 1
        assert [p for p in as_api.problems if "Kafka" in p] == []
        assert f"asked as {API}" in as_api.security

        # Credentials: one private file per principal, none of them ever printed or logged.
        secrets = home / "secrets" / "kafka"
        assert _private(secrets, 0o700)
        assert _private(home / "kafka", 0o700)
        assert _private(home / "kafka" / "node-1" / "server.properties", 0o600)
        principals = {p.name.removesuffix(".password") for p in secrets.iterdir()}
        assert {"iotrack-admin", "iotrack-broker", "customs", "gdf", "service.core"} <= principals
        assert all(_private(p, 0o600) for p in secrets.iterdir())

        added = _run(env, "parties", "add", "terminal", "psa-genova")
        assert added.returncode == 0, added.stderr
        secret = (secrets / "terminal.psa-genova.password").read_text().strip()
        assert _private(secrets / "terminal.psa-genova.password", 0o600)
        assert f"(shown this once; kept in {secrets}/terminal.psa-genova.password): {secret}" in (
            added.stdout
        )
        again = _run(env, "parties", "add", "terminal", "psa-genova")
        assert "has its credential already (kept)" in again.stdout
        assert "ACLs: 0 created" in again.stdout
        listed = _run(env, "parties", "list")
        assert "terminal.psa-genova" in listed.stdout, "found by its SCRAM user"

        # An ACL nobody declared (everyone may read the holds): drift, reported, left alone.
        client = admin_client(runtime.endpoints(load(env)).kafka_admin())
        extra = AclBinding(ResourceType.TOPIC, "iotrack.clearance.holds.v1",
                           ResourcePatternType.LITERAL, "User:*", "*", AclOperation.READ,
                           AclPermissionType.ALLOW)  # fmt: skip
        for future in client.create_acls([extra]).values():
            future.result(30)
        time.sleep(2)  # the broker's authorizer takes it from the metadata log
        drifted = _run(env, "topics", "apply")
        assert drifted.returncode == 1, drifted.stdout + drifted.stderr
        assert (
            "ACL not declared (left unchanged): User:* READ topic iotrack.clearance.holds.v1"
            in (drifted.stdout)
        )
        assert "not declared: User:* READ topic iotrack.clearance.holds.v1" in (
            _run(env, "status").stdout
        )
        said = [r.stdout + r.stderr for r in (first, again, applied, status, listed)] + [
            added.stderr
        ]
        passwords = [p.read_text().strip() for p in secrets.iterdir()]
        logs = [p.read_text(errors="replace") for p in (home / "kafka").rglob("*.log")]
        for password in passwords:
            assert not any(password in text for text in [*said, *logs]), "a password leaked"
    finally:
        down = _run(env, "down")
    assert down.returncode == 0, down.stderr
    assert "kafka" in down.stdout
    assert "postgres" in down.stdout
    pid_file = tmp_path / "home" / "kafka" / "node-1" / "kafka.pid"
    assert not pid_file.exists()
    after = _run(env, "status")
    assert after.returncode == 1
    assert "not running: start it with 'iotrack up'" in after.stdout


def _listening_socket() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


def test_a_busy_postgres_port_is_named_with_the_setting_that_moves_it(tmp_path):
    sock, port = _listening_socket()
    with sock:
        env = embedded_env(tmp_path / "home", IOTRACK_POSTGRES_PORT=str(port))
        result = _run(env, "up")
        _run(env, "down")
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.count("\n") == 0, "one sentence, not a traceback"
    assert f"port {port}" in message
    assert "IOTRACK_POSTGRES_PORT" in message


def test_a_busy_kafka_port_is_named_with_the_setting_that_moves_it(tmp_path):
    sock, port = _listening_socket()
    with sock:
        env = embedded_env(tmp_path / "home", IOTRACK_KAFKA_PORT=str(port))
        result = _run(env, "up")
        _run(env, "down")
    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "IOTRACK_KAFKA_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broker_that_dies_at_start_is_reported_with_its_log(tmp_path):
    from streams.errors import LocalServiceError
    from streams.local.kafka import LocalKafka

    class BrokenJvmKafka(LocalKafka):
        """The broker's JVM is given an option it does not know, so it exits at once."""

        def _java_command(self, java, node, main, *args):
            command = super()._java_command(java, node, main, *args)
            return (
                [java, "-XX:+NoSuchOptionAnywhere", *command[1:]]
                if main == "kafka.Kafka"
                else command
            )

    kafka = BrokenJvmKafka(tmp_path, base_port=free_port())
    with pytest.raises(LocalServiceError, match="exited during start-up") as caught:
        kafka.start(timeout=60)
    log = Path(str(caught.value.log_path))
    assert "NoSuchOptionAnywhere" in log.read_text(), "the log named is the one with the cause"
    assert not any(node.pid() for node in kafka.nodes)


def test_given_services_are_used_and_nothing_is_started(tmp_path, services):
    env = embedded_env(
        tmp_path / "home",
        KAFKA_BOOTSTRAP_SERVERS=services.bootstrap,
        IOTRACK_KAFKA_SECURITY="SASL_PLAINTEXT",
        IOTRACK_KAFKA_USERNAME="customs",
        IOTRACK_KAFKA_PASSWORD=services.kafka(CUSTOMS).password.reveal(),
        DATABASE_URL=services.database(Duty.OWNER).reveal(),
    )
    result = _run(env, "up")
    assert result.returncode == 0, result.stderr
    assert "(given)" in result.stdout
    assert "(local)" not in result.stdout
    assert not (tmp_path / "home" / "kafka").exists()
    assert not (tmp_path / "home" / "postgres").exists()
    assert _run(env, "down").stdout.strip() == "nothing local was running"


def test_pids_are_checked_against_the_command_line():
    assert process_alive(os.getpid(), "python") or process_alive(os.getpid(), "pytest")
    assert not process_alive(os.getpid(), "kafka.Kafka"), "a reused pid is not our broker"
