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
``IOTRACK_KAFKA_TLS``       ``1``: the local broker's client listener takes SASL over TLS
                            (``SASL_SSL``, a local CA); default SASL on loopback only
``IOTRACK_KAFKA_SECURITY``  a given cluster: ``SASL_SSL`` (default) or ``SASL_PLAINTEXT``
``IOTRACK_KAFKA_MECHANISM`` a given cluster: ``SCRAM-SHA-512`` (default), ``SCRAM-SHA-256``, or
                            ``PLAIN`` (over ``SASL_SSL`` only)
``IOTRACK_KAFKA_CA_FILE``   a given cluster: the CA (PEM) its brokers' certificates chain to;
                            unset: the system's CAs
``IOTRACK_KAFKA_USERNAME``  a given cluster: the one principal this process signs in as, with
``IOTRACK_KAFKA_PASSWORD``  its password (or both from ``IOTRACK_KAFKA_CREDENTIALS_FILE``)
``IOTRACK_KAFKA_CREDENTIALS_FILE`` a file (not readable by others) of two lines,
                            ``username=NAME`` and ``password=SECRET``
``IOTRACK_RETIRE_AFTER_DAYS`` days a definitive or closed IOT_ID stays on the state topics (7)
``IOTRACK_API_TOKENS_FILE``   the digests of ``iotrack api``'s bearer tokens, written by
                              ``iotrack api tokens add`` (``IOTRACK_HOME/secrets/api-tokens``)
``IOTRACK_WEBHOOK_ALLOWED_NETWORKS`` networks besides the global addresses webhooks may be
                              sent to (``10.1.0.0/16,127.0.0.1/32``; none)
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
from streams.subscriptions.destinations import Network, parse_networks
from topics.clients import Mechanism, Protocol
from topics.secret import Secret

__all__ = ["CHECKOUT", "Secret", "Settings", "load", "redact_url"]

CHECKOUT = Path(__file__).resolve().parents[2]


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
class KafkaSecurity:
    """How iotrack's clients reach and sign in to Kafka: on the local broker, its TLS switch
    (every principal's password is in IOTRACK_HOME); on a given cluster, its protocol, CA and
    the one credential this process was given."""

    tls: bool = False
    """The local broker's client listener over TLS (``IOTRACK_KAFKA_TLS``)."""
    protocol: Protocol = Protocol.SASL_SSL
    mechanism: Mechanism = Mechanism.SCRAM_SHA_512
    ca_file: Path | None = None
    username: str | None = None
    """A given cluster: the principal this process signs in as."""
    password: Secret | None = None


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
    api_tokens_file: Path = CHECKOUT / ".iotrack" / "secrets" / "api-tokens"
    webhook_allowed_networks: tuple[Network, ...] = ()
    """Networks webhooks may be sent to besides the global addresses (``destinations``)."""
    database_urls: Mapping[Duty, Secret] = field(default_factory=dict)
    """A given server's URL per duty (``DATABASE_URL_<DUTY>``); a duty not named uses
    ``database_url``."""
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    """How clients reach and sign in to the cluster."""
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


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_GIVEN_CLUSTER_ONLY = (
    "IOTRACK_KAFKA_SECURITY",
    "IOTRACK_KAFKA_MECHANISM",
    "IOTRACK_KAFKA_CA_FILE",
    "IOTRACK_KAFKA_USERNAME",
    "IOTRACK_KAFKA_PASSWORD",
    "IOTRACK_KAFKA_CREDENTIALS_FILE",
)


def _flag(env: Mapping[str, str], key: str) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ConfigError(f"{key}={raw!r}: expected 1 or 0")
    return raw in _TRUE


def _credentials_file(path: Path) -> tuple[str, Secret]:
    key = "IOTRACK_KAFKA_CREDENTIALS_FILE"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{key}={str(path)!r}: cannot read it ({exc.strerror})") from None
    if mode & 0o077:
        raise ConfigError(
            f"{key}={str(path)!r}: other users may read it (mode {mode & 0o777:o}): its password "
            "may be known; make it 0600 and have the password changed"
        )
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() in ("username", "password"):
            found[name.strip()] = value.strip()
    if not found.get("username") or not found.get("password"):
        raise ConfigError(
            f"{key}={str(path)!r}: expected two lines, username=NAME and password=SECRET"
        )
    return found["username"], Secret(found["password"])


def _kafka_security(env: Mapping[str, str], given: bool) -> KafkaSecurity:
    """The Kafka security settings: the local broker's TLS switch, or how to reach and sign in
    to a given cluster."""
    tls = _flag(env, "IOTRACK_KAFKA_TLS")
    if not given:
        stray = [k for k in _GIVEN_CLUSTER_ONLY if env.get(k, "").strip()]
        if stray:
            raise ConfigError(
                f"{stray[0]} is for a given cluster (KAFKA_BOOTSTRAP_SERVERS): the local broker's "
                "credentials are made under IOTRACK_HOME, and IOTRACK_KAFKA_TLS=1 puts it on TLS"
            )
        return KafkaSecurity(tls=tls)
    if tls:
        raise ConfigError(
            "IOTRACK_KAFKA_TLS is for the local broker: for a given cluster set "
            "IOTRACK_KAFKA_SECURITY=SASL_SSL (and IOTRACK_KAFKA_CA_FILE)"
        )
    raw = env.get("IOTRACK_KAFKA_SECURITY", "").strip().upper() or "SASL_SSL"
    try:
        protocol = Protocol(raw)
    except ValueError:
        raise ConfigError(
            f"IOTRACK_KAFKA_SECURITY={raw!r}: expected SASL_SSL or SASL_PLAINTEXT (iotrack "
            "signs in to every cluster)"
        ) from None
    raw = env.get("IOTRACK_KAFKA_MECHANISM", "").strip().upper() or "SCRAM-SHA-512"
    try:
        mechanism = Mechanism(raw)
    except ValueError:
        raise ConfigError(
            f"IOTRACK_KAFKA_MECHANISM={raw!r}: expected SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
        ) from None
    if mechanism is Mechanism.PLAIN and protocol is not Protocol.SASL_SSL:
        raise ConfigError(
            "IOTRACK_KAFKA_MECHANISM=PLAIN sends the password itself: only with "
            "IOTRACK_KAFKA_SECURITY=SASL_SSL"
        )
    ca = env.get("IOTRACK_KAFKA_CA_FILE", "").strip()
    ca_file = Path(ca).expanduser() if ca else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"IOTRACK_KAFKA_CA_FILE={ca!r}: no such file")
    if ca_file is not None and protocol is not Protocol.SASL_SSL:
        raise ConfigError("IOTRACK_KAFKA_CA_FILE needs IOTRACK_KAFKA_SECURITY=SASL_SSL")
    username = env.get("IOTRACK_KAFKA_USERNAME", "").strip() or None
    password = env.get("IOTRACK_KAFKA_PASSWORD", "") or None
    credentials = env.get("IOTRACK_KAFKA_CREDENTIALS_FILE", "").strip()
    if credentials and (username or password):
        raise ConfigError(
            "IOTRACK_KAFKA_CREDENTIALS_FILE and IOTRACK_KAFKA_USERNAME/PASSWORD both given: use one"
        )
    secret = Secret(password) if password else None
    if credentials:
        username, secret = _credentials_file(Path(credentials).expanduser())
    elif bool(username) != bool(password):
        missing = "IOTRACK_KAFKA_PASSWORD" if username else "IOTRACK_KAFKA_USERNAME"
        raise ConfigError(f"{missing} is missing: the username and password come together")
    return KafkaSecurity(
        protocol=protocol,
        mechanism=mechanism,
        ca_file=ca_file.resolve() if ca_file else None,
        username=username,
        password=secret,
    )


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
        kafka_security=_kafka_security(env, bootstrap is not None),
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
            or home.resolve() / "secrets" / "api-tokens"
        ).expanduser(),
        console_idle_s=idle_minutes * 60.0,
        webhook_allowed_networks=parse_networks(env.get("IOTRACK_WEBHOOK_ALLOWED_NETWORKS", "")),
        grafana_url=_http_url(env, "IOTRACK_GRAFANA_URL", "http://127.0.0.1:3000"),
        core_metrics_url=_http_url(
            env, "IOTRACK_CORE_METRICS_URL", "http://127.0.0.1:9300/metrics"
        ),
    )
