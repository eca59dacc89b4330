"""The environment of an `iotrack` subprocess on its own embedded default."""

from __future__ import annotations

import os
from pathlib import Path

from streams.local.processes import free_port


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
