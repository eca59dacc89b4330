"""Deterministic, time-ordered event ids.

An event that describes a physical fact (a sensor read from a device payload, a passage fused
from reads) gets the same id every time it is derived, so a device that resends, a reader that
replays its spool, or a fusion worker that restarts produces the same ``event_id`` and every
consumer recognises the duplicate. The id has the UUIDv7 layout (48-bit Unix milliseconds,
version 7, RFC 4122 variant), so ids still sort by time; the remaining 74 bits come from a
SHA-256 of the parts that identify the fact instead of from a random source.
"""

from __future__ import annotations

import hashlib
import uuid

_MS_MASK = (1 << 48) - 1


def deterministic_uuid7(unix_ms: int, *parts: str) -> str:
    """A UUIDv7-shaped id for the fact identified by ``parts`` at ``unix_ms``.

    >>> a = deterministic_uuid7(1_790_000_000_000, "GATE1-L2", "payload-17", "0")
    >>> a == deterministic_uuid7(1_790_000_000_000, "GATE1-L2", "payload-17", "0")
    True
    >>> a != deterministic_uuid7(1_790_000_000_000, "GATE1-L2", "payload-17", "1")
    True
    >>> uuid.UUID(a).version
    7
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    random_bits = int.from_bytes(digest[:10], "big") >> 6  # 74 bits
    rand_a = random_bits >> 62
    rand_b = random_bits & ((1 << 62) - 1)
    value = ((unix_ms & _MS_MASK) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))
