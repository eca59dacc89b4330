"""The environment of an `iotrack` subprocess on its own embedded default, and stopping what such
subprocesses started, whatever happened to the test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from streams.local.kafka import LocalKafka
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port

CHECKOUT = Path(__file__).resolve().parents[2]


def embedded_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any given broker, database or registry, with its
    own IOTRACK_HOME and free ports (``extra`` overrides, e.g. a port chosen beforehand)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SCHEMA_REGISTRY_URL")
    }
    env.update(
        IOTRACK_HOME=str(home),
        IOTRACK_KAFKA_PORT=str(free_port()),
        IOTRACK_POSTGRES_PORT=str(free_port()),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


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
