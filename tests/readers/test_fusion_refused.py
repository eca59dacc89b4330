"""A fused passage the broker refuses for good (too large) is dead-lettered with its bytes and
the reason, and fusion goes on; one refused for now (a timeout) still stops the commit, so the
reads behind it are fused again after a restart. No broker: the producer is a stand-in that
answers as the broker would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError

from readers.fusion_worker import FusionWorker
from topics.catalog import DEAD_LETTERS, PASSAGES
from topics.clients import KafkaConnection
from topics.codec import SingleObjectCodec, plain
from topics.examples import example
from topics.schemas import repository
from topics.secret import Secret

NOWHERE = KafkaConnection("127.0.0.1:1", "service.fusion", Secret("nobody-answers"))
"""A broker that is not there, signed in to as the party would be."""
CODEC = SingleObjectCodec()


class _Sent:
    def __init__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._topic, self._key, self._value = topic, key, value

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value


class _Broker:
    """A producer whose broker answers ``passages`` with ``error`` and takes the rest."""

    def __init__(self, error: KafkaError) -> None:
        self.error = error
        self.pending: list[tuple[_Sent, Callable[[KafkaError | None, Any], None]]] = []
        self.written: list[_Sent] = []

    def produce(self, topic: str, *, value: bytes, key: Any = None, on_delivery: Any) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        self.pending.append((_Sent(topic, raw_key, value), on_delivery))

    def flush(self, timeout: float = 0) -> int:
        pending, self.pending = self.pending, []
        for sent, report in pending:
            if sent.topic() == PASSAGES.name:
                report(self.error, sent)
            else:
                self.written.append(sent)
                report(None, sent)
        return 0


@pytest.fixture
def worker():
    found = FusionWorker(NOWHERE, CODEC)
    yield found
    found.consumer.close()


def test_a_passage_refused_for_good_is_dead_lettered_and_fusion_goes_on(worker):
    broker = _Broker(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Message size too large"))
    worker.producer = broker
    passage = example(repository().get("iotrack.Passage"))
    worker._produce_passages([passage])
    worker.commit()  # no RuntimeError: nothing waits to be sent again
    [letter] = [plain(CODEC.decode(s.value()).value) for s in broker.written]
    assert [s.topic() for s in broker.written] == [DEAD_LETTERS.name]
    assert letter["error_kind"] == "PassageRefused"
    assert letter["source_topic"] == PASSAGES.name
    assert letter["reason"].startswith("the broker refused a fused passage for good: ")
    encoded = CODEC.encode("iotrack.Passage", passage, topic=PASSAGES.name)
    assert letter["original_value"] == encoded
    assert worker.stats.dead_letters == 1
    assert worker.stats.dead_letter_reasons == {"PassageRefused": 1}


def test_a_passage_refused_for_now_stops_the_commit(worker):
    worker.producer = _Broker(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"))
    worker._produce_passages([example(repository().get("iotrack.Passage"))])
    with pytest.raises(RuntimeError, match="the broker refused fused output"):
        worker.commit()
    assert worker.stats.dead_letters == 0
