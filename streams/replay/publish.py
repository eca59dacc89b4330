"""``iotrack publish FILE.jsonl``: put events written in the replay format onto their topics.

Each event goes to the catalogued topic that carries its record type, keyed as the catalogue
says, through the idempotent producer; the order of the file is kept per partition. Used to
load mission paths, to feed a scenario to the running workers, and by the crash test.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, Message

from streams.errors import DeliveryError
from streams.replay.lines import read_events
from topics.clients import produce, producer
from topics.codec import Codec


def publish(bootstrap: str, codec: Codec, lines: Iterable[str], timeout_s: float = 60.0) -> int:
    """Produce every event of the lines; the number produced. DeliveryError if any is refused."""
    out = producer(bootstrap)
    failures: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(f"{message.topic()}: {error.str()}")

    count = 0
    for event in read_events(lines):
        topic = event.topic
        encoded = codec.encode(event.schema, event.value, topic=topic.name)
        produce(out, topic.name, topic.key_of(event.value), encoded, on_delivery)
        count += 1
    remaining = out.flush(timeout_s)
    if remaining or failures:
        raise DeliveryError(failures[0] if failures else f"{remaining} events not acknowledged")
    return count
