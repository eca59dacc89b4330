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
    """Hand one record to ``out``; while its queue is full, serve delivery reports and retry."""
    while True:
        try:
            if on_delivery is None:
                out.produce(topic, key=key, value=value)
            else:
                out.produce(topic, key=key, value=value, on_delivery=on_delivery)
            return
        except BufferError:
            out.poll(QUEUE_FULL_POLL_S)
