"""What the snapshot's records are: plain values as the codec takes and gives them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Record = dict[str, Any]
"""A plain record of one of the ``iotrack.state`` types (or a type they embed): Unix
milliseconds as ints, ids as text, enum symbols as text, tuples and sets as lists."""
Plain = Mapping[str, Any]
"""A record as read back: any mapping with the record's fields."""
