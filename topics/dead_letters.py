"""The dead letter for a record a consumer could not use: where it came from, why, its bytes."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Message

from processors.ids import deterministic_uuid7
from topics.catalog import DEAD_LETTERS
from topics.codec import Codec


def for_message(
    codec: Codec, message: Message, *, reason: str, error_kind: str, source: str
) -> tuple[bytes, bytes]:
    """Key and encoded ``iotrack.DeadLetter`` for ``message``; its id is derived from the
    record's position, so dead-lettering the same record again gives the same id."""
    now = int(time.time() * 1000)
    value: dict[str, Any] = {
        "event_id": deterministic_uuid7(
            now,
            "dead-letter",
            str(message.topic()),
            str(message.partition()),
            str(message.offset()),
        ),
        "source": source,
        "occurred_at": now,
        "original_key": message.key(),
        "original_value": message.value() or b"",
        "reason": reason,
        "error_kind": error_kind,
        "source_topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "reader_id": None,
    }
    encoded = codec.encode("iotrack.DeadLetter", value, topic=DEAD_LETTERS.name)
    return DEAD_LETTERS.key_of(value), encoded
