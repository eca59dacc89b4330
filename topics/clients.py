"""confluent-kafka clients for the catalogued topics, configured in one place.

Every client signs in as one principal: a :class:`KafkaConnection` (where the cluster is, how
to reach it, whose credentials) gives the configuration, and ``producer``, ``edge_producer``,
``consumer`` and ``admin_client`` build the clients from it. No other module writes
``bootstrap.servers`` or a SASL setting.

Consumer groups and transactional ids are named after their principal
(``KafkaConnection.own``: ``service.core.tracking``), because the broker's ACLs give each
principal the groups and transactional ids that start with its name and a dot, and no others.

Every producer is idempotent with ``acks=all``: a retried send is never written twice, and a
record is acknowledged only once every in-sync replica has it. ``produce`` hands a record to
a producer, waiting for room when its local queue is full instead of failing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

from processors.parties import Sender
from topics.secret import Secret

DeliveryCallback = Callable[[KafkaError | None, Message], None]
QUEUE_FULL_POLL_S = 0.05
"""How long ``produce`` serves delivery reports before trying again when the queue is full."""
BROKER_GRACE_S = 3.0
"""How long no broker may be reachable before a client counts as having lost the cluster (a
reconnection after a broker's restart takes a second or two)."""
REFUSED_FOR_GOOD = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
    }
)
"""Broker answers that sending the same record again cannot change: it is refused for good."""


def refused_for_good(error: KafkaError) -> bool:
    """Whether ``error`` refuses a record for good (too large, malformed), not for now."""
    return error.code() in REFUSED_FOR_GOOD


class ClientWatch:
    """What librdkafka's statistics and error callbacks tell of one client: whether it reaches a
    broker, and, for a consumer, how many records wait on each topic and since when none was
    taken. Pass :meth:`config` into the client's configuration; the owner of a consumer calls
    :meth:`took` for the records it takes. Thread-safe (librdkafka calls back on the thread that
    polls: while the owner is stuck outside ``poll``, statistics stop, which is why the owner
    also says when it starts working on what it took, :meth:`working`)."""

    def __init__(self, also: Callable[[str], None] | None = None, interval_ms: int = 1000) -> None:
        self._also = also
        self.interval_ms = interval_ms
        self._lock = threading.Lock()
        self._reached: bool | None = None
        self._unreachable_since: float | None = None
        self._error: str | None = None
        self._lag: dict[str, int] = {}
        self._waiting_since: float | None = None
        self._taken_at = time.monotonic()
        self._working_since: float | None = None
        self._heard_at = time.monotonic()

    def config(self) -> dict[str, Any]:
        """The configuration entries that feed this watch."""
        return {
            "statistics.interval.ms": self.interval_ms,
            "stats_cb": self.on_statistics,
            "error_cb": self.on_error,
        }

    def on_error(self, error: KafkaError) -> None:
        """librdkafka's ``error_cb``: connection failures, all brokers down, fatal errors."""
        with self._lock:
            self._error = error.str()
            if error.code() == KafkaError._ALL_BROKERS_DOWN and self._unreachable_since is None:
                self._reached = False
                self._unreachable_since = time.monotonic()

    def on_statistics(self, raw: str) -> None:
        """librdkafka's ``stats_cb``: brokers' states and each partition's position and end."""
        try:
            stats: dict[str, Any] = json.loads(raw)
        except ValueError:
            return
        reached = any(
            isinstance(b, dict) and b.get("state") == "UP"
            for b in (stats.get("brokers") or {}).values()
        )
        lag = {topic: _lag(data) for topic, data in (stats.get("topics") or {}).items()}
        now = time.monotonic()
        with self._lock:
            self._heard_at = now
            if reached:
                self._unreachable_since = None
            elif self._unreachable_since is None:
                self._unreachable_since = now
            self._reached = reached
            waiting = sum(lag.values())
            if waiting and not sum(self._lag.values()):
                self._waiting_since = now
            self._lag = lag
        if self._also is not None:
            self._also(raw)

    def working(self) -> None:
        """The owner starts working on records it took (until :meth:`took`)."""
        with self._lock:
            self._working_since = time.monotonic()

    def took(self, records: int = 1) -> None:
        """The owner is done with ``records`` records it took from its consumer (progress)."""
        with self._lock:
            self._working_since = None
            if records:
                self._taken_at = time.monotonic()

    def stuck_s(self) -> float:
        """How long the owner has been working on what it took last (0 when it is not)."""
        with self._lock:
            since = self._working_since
        return 0.0 if since is None else time.monotonic() - since

    def quiet_s(self) -> float:
        """How long since the last statistics (since the watch was made, before the first):
        librdkafka gives them only while its owner polls, so a long silence means the owner's
        loop stopped polling."""
        with self._lock:
            heard = self._heard_at
        return time.monotonic() - heard

    def unreachable(self, grace_s: float = BROKER_GRACE_S) -> str | None:
        """Why no broker is reached (for longer than ``grace_s``), or None when one is."""
        with self._lock:
            since, error = self._unreachable_since, self._error
        if since is None or time.monotonic() - since < grace_s:
            return None
        detail = f" (last error: {error})" if error else ""
        return f"no broker reachable for {time.monotonic() - since:.0f} s{detail}"

    def waiting(self) -> int:
        """Records that wait on the consumer's topics (0 before the first statistics)."""
        with self._lock:
            return sum(self._lag.values())

    def stalled_s(self) -> float:
        """How long records have waited with none taken (0 while nothing waits)."""
        with self._lock:
            if not sum(self._lag.values()) or self._waiting_since is None:
                return 0.0
            return time.monotonic() - max(self._taken_at, self._waiting_since)


def _lag(topic: Any) -> int:
    """Records a consumer has still to take on one topic, from its statistics: per partition the
    end it may read (the last stable offset) minus its position."""
    total = 0
    if not isinstance(topic, dict):
        return 0
    for partition, numbers in (topic.get("partitions") or {}).items():
        if partition == "-1" or not isinstance(numbers, dict):
            continue
        end = numbers.get("ls_offset", -1)
        if not isinstance(end, int) or end < 0:
            end = numbers.get("hi_offset", -1)
        position = numbers.get("app_offset", -1)
        if isinstance(end, int) and isinstance(position, int) and min(end, position) >= 0:
            total += max(0, end - position)
    return total


class Protocol(StrEnum):
    """How a client reaches the brokers: SASL over plain TCP (loopback, a private network) or
    over TLS. There is no unauthenticated protocol."""

    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class Mechanism(StrEnum):
    """The SASL mechanism: SCRAM (the password never crosses the wire), or PLAIN over TLS for
    a managed cluster that offers nothing else."""

    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    PLAIN = "PLAIN"


@dataclass(frozen=True)
class KafkaConnection:
    """One principal's way into the cluster; its password never shows in ``repr``.

    >>> c = KafkaConnection("127.0.0.1:19092", "service.core", Secret("s3cret"))
    >>> c
    KafkaConnection(bootstrap='127.0.0.1:19092', username='service.core', password=Secret('***'), \
protocol=<Protocol.SASL_PLAINTEXT: 'SASL_PLAINTEXT'>, \
mechanism=<Mechanism.SCRAM_SHA_512: 'SCRAM-SHA-512'>, ca_file=None)
    >>> c.own("tracking")
    'service.core.tracking'
    >>> c.config()["sasl.username"], c.config()["security.protocol"]
    ('service.core', 'SASL_PLAINTEXT')
    """

    bootstrap: str
    username: str
    password: Secret
    protocol: Protocol = Protocol.SASL_PLAINTEXT
    mechanism: Mechanism = Mechanism.SCRAM_SHA_512
    ca_file: Path | None = None
    """The CA that signed the brokers' certificates (SASL_SSL); None: the system's CAs."""

    def own(self, name: str) -> str:
        """A consumer group or transactional id of this principal: its name, a dot, ``name``
        (the ACLs grant each principal the ones with its prefix)."""
        return f"{self.username}.{name}"

    def config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka's configuration for this principal, with ``extra`` on top."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": str(self.protocol),
            "sasl.mechanism": str(self.mechanism),
            "sasl.username": self.username,
            "sasl.password": self.password.reveal(),
        }
        if self.protocol is Protocol.SASL_SSL:
            # librdkafka's own OpenSSL (in the wheel) knows no CA store: "probe" finds the
            # system's, when no CA file is named.
            config["ssl.ca.location"] = str(self.ca_file) if self.ca_file else "probe"
        config.update(extra)
        return config


Connect = Callable[[Sender], KafkaConnection]
"""Gives the connection of a party (``runtime.Endpoints.kafka``)."""


def producer(connection: KafkaConnection, **extra: Any) -> Producer:
    """An idempotent producer (``acks=all``): a retried send is never written twice."""
    return Producer(
        connection.config(
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "log_level": 3,  # errors only; retries of a starting broker are not news
                **extra,
            }
        )
    )


def edge_producer(connection: KafkaConnection, **extra: Any) -> Producer:
    """The edge's producer: idempotent, every replica acknowledges, never gives up on its own."""
    return producer(
        connection,
        **{
            "message.timeout.ms": 0,  # 0 = no limit: an outage delays delivery, it does not fail it
            "batch.num.messages": 10000,
            "compression.type": "lz4",
            # Connection errors during an outage repeat every few ms; /health and the spool size
            # report the outage instead.
            "log_level": 0,
            **extra,
        },
    )


def consumer(connection: KafkaConnection, group: str, **extra: Any) -> Consumer:
    """A consumer in this principal's group ``group`` (``connection.own(group)``) of committed
    records only (``read_committed``: the core writes in transactions) that commits nothing by
    itself: its owner keeps its position."""
    return Consumer(
        connection.config(
            **{
                "group.id": connection.own(group),
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "log_level": 3,
                **extra,
            }
        )
    )


def admin_client(connection: KafkaConnection, **extra: Any) -> AdminClient:
    """An admin client signed in as ``connection``'s principal."""
    # librdkafka's own connection logs would repeat what the errors raised by callers say.
    return AdminClient(connection.config(**{"socket.timeout.ms": 10000, "log_level": 0, **extra}))


def produce(
    out: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    on_delivery: DeliveryCallback | None = None,
) -> None:
    """Hand one record to ``out``; while its queue is full, serve delivery reports and retry.
    A record the client refuses at once (larger than ``message.max.bytes``) raises
    ``KafkaException``: :func:`refused_for_good` tells it from a passing failure."""
    while True:
        try:
            if on_delivery is None:
                out.produce(topic, key=key, value=value)
            else:
                out.produce(topic, key=key, value=value, on_delivery=on_delivery)
            return
        except BufferError:
            out.poll(QUEUE_FULL_POLL_S)
