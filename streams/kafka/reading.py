"""Reading what is on a topic: one record at a position, every committed record, whether a group
has consumed everything."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from streams.errors import DeliveryError
from streams.kafka.sending import Delivered
from topics.catalog import Topic
from topics.clients import KafkaConnection, consumer


def read_at(connection: KafkaConnection, delivered: Delivered, timeout: float = 30.0) -> Message:
    """The record stored at ``delivered``'s position (no consumer group is joined)."""
    reader = consumer(connection, "point-read", **{"enable.partition.eof": False, "log_level": 0})
    try:
        reader.assign([TopicPartition(delivered.topic, delivered.partition, delivered.offset)])
        message = reader.poll(timeout)
    finally:
        reader.close()
    if message is None:
        raise DeliveryError(f"{delivered}: nothing to read within {timeout:.0f} s")
    error = message.error()
    if error is not None:
        raise DeliveryError(f"{delivered}: {error.str()}")
    return message


def committed_up_to_end(connection: KafkaConnection, group: str, topics: Sequence[Topic]) -> bool:
    """Whether the consumer group ``group`` (its whole id: another principal's, looked at by
    the administrator) has committed every record now in ``topics`` (written without
    transactions, so a partition's end is its last record plus one)."""
    probe = consumer(connection, "probe", **{"group.id": group, "log_level": 0})
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


def read_committed(
    connection: KafkaConnection, topic: Topic, timeout: float = 30.0
) -> list[Message]:
    """Every committed record now in ``topic``, tombstones included.

    Every non-empty partition is read until its end-of-partition event: offsets cannot tell the
    end, because transactional commit markers take offsets that are never delivered. Records
    come in offset order per partition, not across partitions. Any error other than the end of
    a partition is raised: an early stop would silently return a part of the topic.
    """
    reader = consumer(
        connection,
        "reader-of-record",
        **{"isolation.level": "read_committed", "enable.partition.eof": True, "log_level": 0},
    )
    found: list[Message] = []
    try:
        pending: set[int] = set()
        start = []
        for partition in range(topic.partitions):
            low, high = reader.get_watermark_offsets(
                TopicPartition(topic.name, partition), timeout=timeout
            )
            if high > low:
                pending.add(partition)
                start.append(TopicPartition(topic.name, partition, low))
        reader.assign(start)
        while pending:
            message = reader.poll(timeout)
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
        reader.close()
    return found
