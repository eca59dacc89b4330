"""Sending one record and waiting until the broker has it."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams.errors import DeliveryError
from topics.catalog import Topic


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
    try:
        producer.produce(
            topic.name,
            value=value,
            key=key,
            on_delivery=lambda err, msg: outcome.append((err, msg)),
        )
    except KafkaException as exc:  # refused before sending: what the broker said of the topic
        raise DeliveryError(
            f"{topic.name}: broker refused the record: {exc.args[0].str()}"
        ) from exc
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
