"""What the snapshot's records are: plain values as the codec takes and gives them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

Record = dict[str, Any]
"""A plain record of one of the ``iotrack.state`` types (or a type they embed): Unix
milliseconds as ints, ids as text, enum symbols as text, tuples and sets as lists."""
Plain = Mapping[str, Any]
"""A record as read back: any mapping with the record's fields."""


class InputCodec(Protocol):
    """How the inputs the state keeps (one waiting for its IOT_ID or path, a passage kept for a
    late binding) become bytes and back: the worker's own codec (``streams.workers.changelog``),
    so that each is encoded as on its own topic, its writer schema named in its bytes."""

    def encode(self, record_type: str, record: Plain) -> bytes:
        """The bytes of a plain record of ``record_type`` (an ``avro/`` record)."""
        ...

    def decode(self, data: bytes) -> tuple[str, Record]:
        """The record type and plain record of bytes ``encode`` wrote (by any version of the
        record's schema); ValueError when they are not such bytes."""
        ...
