"""The dead letter for a record a consumer could not use: where it came from, why, its bytes."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Message

from processors.ids import deterministic_uuid7
from topics.catalog import DEAD_LETTERS
from topics.codec import Codec


def value(
    *,
    event_id: str,
    source: str,
    occurred_at: int,
    original_value: bytes,
    reason: str,
    error_kind: str,
    original_key: bytes | None = None,
    source_topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    reader_id: str | None = None,
) -> dict[str, Any]:
    """An ``iotrack.DeadLetter`` value: every producer of dead letters builds it here."""
    return {
        "event_id": event_id,
        "source": source,
        "occurred_at": occurred_at,
        "original_key": original_key,
        "original_value": original_value,
        "reason": reason,
        "error_kind": error_kind,
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "reader_id": reader_id,
    }


def for_record(
    codec: Codec,
    record_type: str,
    record: dict[str, Any],
    *,
    topic: str,
    reason: str,
    error_kind: str,
    source: str,
) -> tuple[bytes, bytes]:
    """Key and encoded ``iotrack.DeadLetter`` for a record a consumer kept and gave up on later
    (it waited for an IOT_ID that never came): its bytes encoded again from the record, and no
    position (the record it came in was long committed)."""
    letter = value(
        event_id=deterministic_uuid7(
            int(record["occurred_at"]), "dead-letter", str(record["event_id"])
        ),
        source=source,
        occurred_at=int(record["occurred_at"]),
        original_value=codec.encode(record_type, record, topic=topic),
        reason=reason,
        error_kind=error_kind,
        source_topic=topic,
    )
    encoded = codec.encode("iotrack.DeadLetter", letter, topic=DEAD_LETTERS.name)
    return DEAD_LETTERS.key_of(letter), encoded


def for_message(
    codec: Codec, message: Message, *, reason: str, error_kind: str, source: str
) -> tuple[bytes, bytes]:
    """Key and encoded ``iotrack.DeadLetter`` for ``message``; its id is derived from the
    record's position, so dead-lettering the same record again gives the same id."""
    now = int(time.time() * 1000)
    letter = value(
        event_id=deterministic_uuid7(
            now,
            "dead-letter",
            str(message.topic()),
            str(message.partition()),
            str(message.offset()),
        ),
        source=source,
        occurred_at=now,
        original_key=message.key(),
        original_value=message.value() or b"",
        reason=reason,
        error_kind=error_kind,
        source_topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
    )
    encoded = codec.encode("iotrack.DeadLetter", letter, topic=DEAD_LETTERS.name)
    return DEAD_LETTERS.key_of(letter), encoded
