"""`iotrack up`, `topics apply`, `status`, `down` as a newcomer runs them, in an empty home."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.local.processes import free_port, process_alive
from streams.ops.duties import Duty
from tests.integration.embedded import embedded_env

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


def test_up_apply_status_down_in_an_empty_home(tmp_path):
    env = embedded_env(tmp_path / "home")
    try:
        first = _run(env, "up")
        assert first.returncode == 0, first.stderr
        assert "(local)" in first.stdout
        again = _run(env, "up")
        assert again.returncode == 0, "up is idempotent"

        applied = _run(env, "topics", "apply")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "created" in applied.stdout

        status = _run(env, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Apache Kafka 4." in status.stdout
        assert "PostgreSQL" in status.stdout
        assert "0001_processed_events" in status.stdout
        for line in status.stdout.splitlines():
            if "iotrack.iot-state.v1" in line or "verdicts.by-itu" in line:
                assert " compact " in f" {line} "
        report = json.loads(_run(env, "status", "--json").stdout)
        cleanup = {t["name"]: t["cleanup_policy"] for t in report["topics"]}
        assert cleanup["iotrack.iot-state.v1"] == "compact"
        assert cleanup["iotrack.reads.raw.v1"] == "delete"
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
