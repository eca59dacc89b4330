"""Fusion's commit outlives a broker outage: a commit the group coordinator cannot take now
(moved, still loading after the brokers came back) is made at the next round instead of ending
fusion, and nothing is committed past passages the broker has not acknowledged yet. Found by the
cluster fault test with two of three brokers away and back (tests/integration/
test_cluster_faults.py): "Coordinator load in progress" ended fusion's thread, and no passage
was made again until the process was restarted. No broker: stand-ins answer as it would."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from readers.fusion_worker import FusionWorker
from topics.catalog import RAW_READS
from topics.clients import KafkaConnection
from topics.codec import SingleObjectCodec
from topics.secret import Secret

NOWHERE = KafkaConnection("127.0.0.1:1", "service.fusion", Secret("nobody-answers"))
CODEC = SingleObjectCodec()


class _Coordinator:
    """A consumer whose group coordinator refuses the first commits with ``refusals``."""

    def __init__(self, *refusals: KafkaError) -> None:
        self.refusals = list(refusals)
        self.committed: list[list[TopicPartition]] = []

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False
        if self.refusals:
            raise KafkaException(self.refusals.pop(0))
        self.committed.append(offsets)


class _Producer:
    """A producer with ``in_flight`` records the broker has not acknowledged."""

    def __init__(self, in_flight: int = 0) -> None:
        self.in_flight = in_flight

    def flush(self, timeout: float = 0) -> int:
        return self.in_flight


@pytest.fixture
def worker():
    found = FusionWorker(NOWHERE, CODEC)
    real = found.consumer
    found._next_offset = {0: 120, 3: 7}  # reads taken from two partitions
    yield found
    real.close()


def _offsets(committed: list[TopicPartition]) -> dict[int, int]:
    assert {tp.topic for tp in committed} == {RAW_READS.name}
    return {tp.partition: tp.offset for tp in committed}


@pytest.mark.parametrize(
    "refusal",
    [
        KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS, "Coordinator load in progress"),
        KafkaError(KafkaError.NOT_COORDINATOR, "Not coordinator"),
        KafkaError(KafkaError._TRANSPORT, "Broker transport failure"),
    ],
)
def test_a_commit_the_coordinator_cannot_take_now_is_made_at_the_next_round(worker, refusal):
    coordinator: Any = _Coordinator(refusal)
    worker.consumer, worker.producer = coordinator, _Producer()
    worker.commit()  # no exception: fusion goes on
    assert coordinator.committed == []
    assert worker.stats.errors == 1
    worker.commit()
    [committed] = coordinator.committed
    assert _offsets(committed) == {0: 120, 3: 7}


def test_any_other_commit_failure_still_stops_fusion(worker):
    coordinator: Any = _Coordinator(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "denied"))
    worker.consumer, worker.producer = coordinator, _Producer()
    with pytest.raises(KafkaException, match="denied"):
        worker.commit()


def test_nothing_is_committed_past_passages_not_acknowledged_yet(worker):
    coordinator: Any = _Coordinator()
    producer = _Producer(in_flight=3)
    worker.consumer, worker.producer = coordinator, producer
    worker.commit()
    assert coordinator.committed == [], "a restart now fuses those reads again"
    producer.in_flight = 0
    worker.commit()
    [committed] = coordinator.committed
    assert _offsets(committed) == {0: 120, 3: 7}
