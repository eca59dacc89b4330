"""Configuration, read once at start-up from the environment, typed; secrets stay secret.

=========================== ================================================================
key                         meaning
=========================== ================================================================
``KAFKA_BOOTSTRAP_SERVERS`` an existing Kafka cluster (host:port,...); unset: start a local one
``DATABASE_URL``            an existing Postgres (``postgresql://...``), used as given by every
                            duty; unset: start a local one, each duty with its own role
``DATABASE_URL_<DUTY>``     with ``DATABASE_URL``: this duty's own URL (``OWNER``, ``PROJECTION``,
                            ``API``, ``SUBSCRIPTIONS``; see ``streams.ops.duties``)
``SCHEMA_REGISTRY_URL``     use the Confluent framing through this registry; unset: single-object
``IOTRACK_HOME``            where local services keep data and logs (``<checkout>/.iotrack``)
``IOTRACK_KAFKA_PORT``      first loopback port of the local broker (default 19092)
``IOTRACK_POSTGRES_PORT``   loopback port of the local Postgres (default 15432)
``IOTRACK_KAFKA_HEAP``      Java heap of each local broker node (default ``512m``)
``IOTRACK_RETIRE_AFTER_DAYS`` days a definitive or closed IOT_ID stays on the state topics (7)
``IOTRACK_API_TOKENS_FILE``   bearer tokens of ``iotrack api`` (``deploy/api/tokens.dev``)
``IOTRACK_CONSOLE_IDLE_MINUTES`` minutes a web console session lasts unused (30; 12 h at most)
``IOTRACK_GRAFANA_URL``       where the console's dashboard links point (http://127.0.0.1:3000)
``IOTRACK_CORE_METRICS_URL``  the tracking core's ``/metrics``, read by the console for the
                              inputs it keeps waiting (http://127.0.0.1:9300/metrics)
=========================== ================================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from streams.errors import ConfigError
from streams.ops.duties import Duty

CHECKOUT = Path(__file__).resolve().parents[2]


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs; ``reveal()`` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact_url(url: str) -> str:
    """A URL with its password replaced by ``***``, for messages and status output.

    >>> redact_url("postgresql://app:hunter2@db:5432/iotrack")
    'postgresql://app:***@db:5432/iotrack'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True)
class Settings:
    """Everything iotrack reads from its environment."""

    home: Path
    kafka_bootstrap: str | None
    database_url: Secret | None
    schema_registry_url: str | None
    kafka_port: int
    postgres_port: int
    kafka_heap: str
    retire_after_days: float = 7.0
    api_tokens_file: Path = CHECKOUT / "deploy" / "api" / "tokens.dev"
    database_urls: Mapping[Duty, Secret] = field(default_factory=dict)
    """A given server's URL per duty (``DATABASE_URL_<DUTY>``); a duty not named uses
    ``database_url``."""
    console_idle_s: float = 30 * 60.0
    """How long a web console session lasts without a request."""
    grafana_url: str = "http://127.0.0.1:3000"
    core_metrics_url: str = "http://127.0.0.1:9300/metrics"

    @property
    def embedded_kafka(self) -> bool:
        """True when no cluster is given, so iotrack runs its own broker."""
        return self.kafka_bootstrap is None

    @property
    def embedded_postgres(self) -> bool:
        """True when no database is given, so iotrack runs its own Postgres."""
        return self.database_url is None


def _port(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
        raise ConfigError(f"{key}={raw!r}: expected a port number between 1024 and 65535")
    return int(raw)


def _database_url(env: Mapping[str, str], key: str) -> str | None:
    url = env.get(key, "").strip() or None
    if url is not None and urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"{key}={redact_url(url)!r}: expected postgresql://user[:password]@host:port/db"
        )
    return url


def _http_url(env: Mapping[str, str], key: str, default: str) -> str:
    url = env.get(key, "").strip() or default
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}={url!r}: expected an http:// or https:// URL")
    return url.rstrip("/")


_BOOTSTRAP = re.compile(r"^[\w.\-\[\]:]+:\d+(,[\w.\-\[\]:]+:\d+)*$")


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check the settings; ConfigError names the offending key.

    >>> load({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "IOTRACK_HOME": "/x"}).embedded_kafka
    False
    >>> load({"IOTRACK_KAFKA_PORT": "80"})
    Traceback (most recent call last):
    ...
    streams.errors.ConfigError: IOTRACK_KAFKA_PORT='80': expected a port number ... 65535
    """
    env = os.environ if env is None else env
    bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or None
    if bootstrap is not None and not _BOOTSTRAP.match(bootstrap):
        raise ConfigError(
            f"KAFKA_BOOTSTRAP_SERVERS={bootstrap!r}: expected host:port[,host:port...]"
        )
    database = _database_url(env, "DATABASE_URL")
    per_duty = {
        duty: Secret(url) for duty in Duty if (url := _database_url(env, duty.setting)) is not None
    }
    if per_duty and database is None:
        names = ", ".join(duty.setting for duty in per_duty)
        raise ConfigError(
            f"{names} given without DATABASE_URL: set DATABASE_URL to the server's URL (used by "
            "every duty not given its own), or unset them to use the local Postgres"
        )
    registry = env.get("SCHEMA_REGISTRY_URL", "").strip() or None
    if registry is not None and urlsplit(registry).scheme not in ("http", "https", "mock"):
        raise ConfigError(
            f"SCHEMA_REGISTRY_URL={registry!r}: expected an http(s):// or mock:// URL"
        )
    heap = env.get("IOTRACK_KAFKA_HEAP", "").strip() or "512m"
    if not re.fullmatch(r"\d+[mMgG]", heap):
        raise ConfigError(
            f"IOTRACK_KAFKA_HEAP={heap!r}: expected a Java heap size such as 512m or 1g"
        )
    home = Path(env.get("IOTRACK_HOME", "").strip() or CHECKOUT / ".iotrack").expanduser()
    retire = env.get("IOTRACK_RETIRE_AFTER_DAYS", "").strip() or "7"
    try:
        retire_days = float(retire)
    except ValueError:
        retire_days = -1.0
    if not 0 < retire_days <= 3650:
        raise ConfigError(
            f"IOTRACK_RETIRE_AFTER_DAYS={retire!r}: expected a number of days above 0"
        )
    idle = env.get("IOTRACK_CONSOLE_IDLE_MINUTES", "").strip() or "30"
    try:
        idle_minutes = float(idle)
    except ValueError:
        idle_minutes = -1.0
    if not 1 <= idle_minutes <= 720:
        raise ConfigError(
            f"IOTRACK_CONSOLE_IDLE_MINUTES={idle!r}: expected minutes from 1 to 720 (12 h)"
        )
    return Settings(
        home=home.resolve(),
        kafka_bootstrap=bootstrap,
        database_url=Secret(database) if database else None,
        database_urls=per_duty,
        schema_registry_url=registry,
        kafka_port=_port(env, "IOTRACK_KAFKA_PORT", 19092),
        postgres_port=_port(env, "IOTRACK_POSTGRES_PORT", 15432),
        kafka_heap=heap,
        retire_after_days=retire_days,
        api_tokens_file=Path(
            env.get("IOTRACK_API_TOKENS_FILE", "").strip()
            or CHECKOUT / "deploy" / "api" / "tokens.dev"
        ).expanduser(),
        console_idle_s=idle_minutes * 60.0,
        grafana_url=_http_url(env, "IOTRACK_GRAFANA_URL", "http://127.0.0.1:3000"),
        core_metrics_url=_http_url(
            env, "IOTRACK_CORE_METRICS_URL", "http://127.0.0.1:9300/metrics"
        ),
    )
