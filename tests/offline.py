"""The core run offline, as ``iotrack replay`` runs it: each record taken to come from the party
whose channel its kind belongs on (``claimed_sender``)."""

from __future__ import annotations

from processors.core import CoreState, Output, apply
from processors.core.authority import claimed_sender
from processors.events import Record


def apply_claimed(
    state: CoreState, record_type: str, record: Record
) -> tuple[CoreState, list[Output]]:
    """``apply`` with the sender the record's own claims name."""
    return apply(state, record_type, record, claimed_sender(record_type, record))
