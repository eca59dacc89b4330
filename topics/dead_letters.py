"""The dead letter for a record a consumer could not use: where it came from, why, its bytes.

A dead letter always fits the broker, whatever it carries: the original value is kept whole up
to :data:`MAX_ORIGINAL_BYTES` and cut there beyond (``original_size`` and ``original_sha256``
describe the whole, so the input can still be recognised), the key up to
:data:`MAX_KEY_BYTES`, the reason up to :data:`MAX_REASON_CHARS`. A payload of 2 MB that a reader
refuses would otherwise make a dead letter the broker refuses for good (``MSG_SIZE_TOO_LARGE``),
and the records behind it would wait forever.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from confluent_kafka import Message

from processors.ids import deterministic_uuid7
from topics.catalog import DEAD_LETTERS
from topics.codec import Codec

MAX_ORIGINAL_BYTES = 64 * 1024
"""Bytes of the original value a dead letter keeps (the broker takes 1 MB per record)."""
MAX_KEY_BYTES = 1024
MAX_REASON_CHARS = 2000


def cut_reason(reason: str) -> str:
    """``reason`` at most :data:`MAX_REASON_CHARS` long, marked when cut, and encodable (a lone
    surrogate from a payload's ``\\ud800`` escape is replaced).

    >>> len(cut_reason("x" * 3000)), cut_reason("x" * 3000)[-11:]
    (2000, 'x ... (cut)')
    >>> cut_reason("bad \\ud800")
    'bad \\\\ud800'
    """
    text = reason.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= MAX_REASON_CHARS:
        return text
    return text[: MAX_REASON_CHARS - 10] + " ... (cut)"


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
    """An ``iotrack.DeadLetter`` value: every producer of dead letters builds it here, so every
    dead letter is bounded (see the module's doc).

    >>> letter = value(event_id="0", source="s", occurred_at=0, original_value=b"x" * 70000,
    ...                reason="r", error_kind="E")
    >>> len(letter["original_value"]), letter["original_size"], letter["original_sha256"][:8]
    (65536, 70000, 'bca09f4a')
    """
    return {
        "event_id": event_id,
        "source": source,
        "occurred_at": occurred_at,
        "original_key": None if original_key is None else original_key[:MAX_KEY_BYTES],
        "original_value": original_value[:MAX_ORIGINAL_BYTES],
        "reason": cut_reason(reason),
        "error_kind": cut_reason(error_kind)[:200],
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "reader_id": reader_id,
        "original_size": len(original_value),
        "original_sha256": hashlib.sha256(original_value).hexdigest(),
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
