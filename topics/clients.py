"""confluent-kafka producers and consumers for the catalogued topics, configured in one place.

Every producer is idempotent with ``acks=all``: a retried send is never written twice, and a
record is acknowledged only once every in-sync replica has it. ``produce`` hands a record to
a producer, waiting for room when its local queue is full instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer

DeliveryCallback = Callable[[KafkaError | None, Message], None]
QUEUE_FULL_POLL_S = 0.05
"""How long ``produce`` serves delivery reports before trying again when the queue is full."""


def producer(bootstrap: str, **extra: Any) -> Producer:
    """An idempotent producer (``acks=all``): a retried send is never written twice."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "log_level": 3,  # errors only; retries of a starting broker are not news
        **extra,
    }
    return Producer(config)


def edge_producer(bootstrap: str, **extra: Any) -> Producer:
    """The edge's producer: idempotent, every replica acknowledges, never gives up on its own."""
    return producer(
        bootstrap,
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


def consumer(bootstrap: str, group: str, **extra: Any) -> Consumer:
    """A consumer of committed records only (``read_committed``: the core writes in
    transactions) that commits nothing by itself: its owner keeps its position."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "log_level": 3,
        **extra,
    }
    return Consumer(config)


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
