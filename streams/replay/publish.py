"""``iotrack publish FILE.jsonl``: put events written in the replay format onto their topics.

Each event goes to the catalogued topic that carries its record type from its sender, keyed as
the catalogue says, through the idempotent producer of that sender: each line is sent signed in
as the party it comes from (its ``"from"``, else the party whose channel it belongs on), so the
broker refuses a line its party may not send. The order of the file is kept per partition.
Used to load mission paths, to feed a scenario to the running workers, and by the crash test.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, Message, Producer

from processors.parties import Sender
from streams.errors import DeliveryError
from streams.replay.lines import read_events
from topics.clients import Connect, produce, producer
from topics.codec import Codec


def publish(connect: Connect, codec: Codec, lines: Iterable[str], timeout_s: float = 60.0) -> int:
    """Produce every event of the lines as its sender (``connect(sender)``: its connection);
    the number produced. DeliveryError if any is refused."""
    producers: dict[Sender, Producer] = {}
    failures: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(f"{message.topic()}: {error.str()}")

    count = 0
    for event in read_events(lines):
        topic = event.topic
        encoded = codec.encode(event.schema, event.value, topic=topic.name)
        out = producers.get(event.sender)
        if out is None:
            out = producers[event.sender] = producer(connect(event.sender))
        produce(out, topic.name, topic.key_of(event.value), encoded, on_delivery)
        count += 1
    remaining = sum(out.flush(timeout_s) for out in producers.values())
    if remaining or failures:
        raise DeliveryError(failures[0] if failures else f"{remaining} events not acknowledged")
    return count
