"""A dead letter always fits the broker, whatever it carries, and still names what it carried."""

from __future__ import annotations

import hashlib
import os

from topics import dead_letters
from topics.codec import SingleObjectCodec, plain

CODEC = SingleObjectCodec()
BROKER_LIMIT = 1024 * 1024  # message.max.bytes of a default broker


def test_a_dead_letter_of_a_large_payload_fits_the_broker_and_keeps_its_size_and_hash():
    payload = os.urandom(2 * 1024 * 1024)
    letter = dead_letters.value(
        event_id="01a21287-8100-7cc2-a637-e1c3eb23c4b9",
        source="ocr@GATE-1",
        occurred_at=1_795_600_000_000,
        original_value=payload,
        original_key=b"k" * 100_000,
        reason="not JSON: " + "x" * 1_000_000,
        error_kind="PayloadError",
    )
    encoded = CODEC.encode("iotrack.DeadLetter", letter, topic="iotrack.dead-letters.v1")
    assert len(encoded) < 100 * 1024 < BROKER_LIMIT
    back = plain(CODEC.decode(encoded).value)
    assert back["original_value"] == payload[: dead_letters.MAX_ORIGINAL_BYTES]
    assert back["original_size"] == len(payload)
    assert back["original_sha256"] == hashlib.sha256(payload).hexdigest()
    assert len(back["original_key"]) == dead_letters.MAX_KEY_BYTES
    assert back["reason"].startswith("not JSON: x")
    assert back["reason"].endswith("(cut)")


def test_a_small_payload_is_kept_whole_and_a_reason_with_a_lone_surrogate_encodes():
    letter = dead_letters.value(
        event_id="01a21287-8100-7cc2-a637-e1c3eb23c4b9",
        source="ocr@GATE-1",
        occurred_at=1_795_600_000_000,
        original_value=b'{"device_id": "\\ud800"}',
        reason="device_id: '\ud800' is not text",
        error_kind="PayloadError",
    )
    back = plain(CODEC.decode(CODEC.encode("iotrack.DeadLetter", letter)).value)
    assert back["original_value"] == b'{"device_id": "\\ud800"}'
    assert back["original_size"] == len(back["original_value"])
    assert back["reason"] == "device_id: '\\ud800' is not text"
