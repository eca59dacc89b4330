"""Thin confluent-kafka helpers: an idempotent producer with checked delivery, and a point read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from streams.errors import DeliveryError
from topics.catalog import Topic


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


@dataclass(frozen=True)
class Delivered:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


def produce_sync(
    producer: Producer,
    topic: Topic,
    key: bytes | None,
    value: bytes | None,
    timeout: float = 30.0,
) -> Delivered:
    """Produce one record and wait for its acknowledgement; DeliveryError when refused."""
    outcome: list[tuple[KafkaError | None, Message]] = []
    producer.produce(
        topic.name, value=value, key=key, on_delivery=lambda err, msg: outcome.append((err, msg))
    )
    producer.flush(timeout)
    if not outcome:
        raise DeliveryError(f"{topic.name}: no acknowledgement within {timeout:.0f} s")
    error, message = outcome[0]
    if error is not None:
        raise DeliveryError(f"{topic.name}: broker refused the record: {error.str()}")
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:
        raise DeliveryError(f"{topic.name}: acknowledgement without a position")
    return Delivered(topic.name, partition, offset)


def read_at(bootstrap: str, delivered: Delivered, timeout: float = 30.0) -> Message:
    """The record stored at ``delivered``'s position (no consumer group is joined)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "iotrack-point-read",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "log_level": 0,
        }
    )
    try:
        consumer.assign([TopicPartition(delivered.topic, delivered.partition, delivered.offset)])
        message = consumer.poll(timeout)
    finally:
        consumer.close()
    if message is None:
        raise DeliveryError(f"{delivered}: nothing to read within {timeout:.0f} s")
    error = message.error()
    if error is not None:
        raise DeliveryError(f"{delivered}: {error.str()}")
    return message


def committed_up_to_end(bootstrap: str, group: str, topics: Sequence[Topic]) -> bool:
    """Whether ``group`` has committed every record now in ``topics`` (written without
    transactions, so a partition's end is its last record plus one)."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
    try:
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        try:
            committed = probe.committed(partitions, timeout=10)
        except KafkaException:  # the group coordinator is still loading: not yet
            return False
        for part in committed:
            _low, high = probe.get_watermark_offsets(
                TopicPartition(part.topic, part.partition), timeout=10
            )
            if high > 0 and part.offset < high:
                return False
        return True
    finally:
        probe.close()


def read_committed(bootstrap: str, topic: Topic, timeout: float = 30.0) -> list[Message]:
    """Every committed record now in ``topic``, tombstones included.

    Every non-empty partition is read until its end-of-partition event: offsets cannot tell the
    end, because transactional commit markers take offsets that are never delivered. Records
    come in offset order per partition, not across partitions. Any error other than the end of
    a partition is raised: an early stop would silently return a part of the topic.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "iotrack-reader-of-record",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "log_level": 0,
        }
    )
    found: list[Message] = []
    try:
        pending: set[int] = set()
        start = []
        for partition in range(topic.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic.name, partition), timeout=timeout
            )
            if high > low:
                pending.add(partition)
                start.append(TopicPartition(topic.name, partition, low))
        consumer.assign(start)
        while pending:
            message = consumer.poll(timeout)
            if message is None:
                raise DeliveryError(
                    f"{topic.name}: partitions {sorted(pending)} gave no record and no end "
                    f"within {timeout:.0f} s"
                )
            if message.topic() != topic.name:
                continue
            error = message.error()
            if error is None:
                found.append(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                pending.discard(int(message.partition() or 0))
            elif error.fatal() or not error.retriable():
                raise DeliveryError(f"{topic.name}[{message.partition()}]: {error.str()}")
    finally:
        consumer.close()
    return found
