"""What the core keeps because inputs arrive in any order, as plain records and back: the state
of each declaration (for IOT_IDs bound to its MRN later), inputs waiting for the IOT_ID or
mission path they refer to, and passages of units with no IOT_ID kept for a late binding
(``processors.core.waiting``). One ``<type>_record`` / ``<type>_from`` pair per type, field by
field (``processors.core.snapshot`` says why).

A waiting input or a kept passage is an input event: its record goes through the worker's codec
(``InputCodec``) as it would on its own topic, and comes back only as a record of its declared
type that ``processors.events.parse`` takes, the state's text made again from the typed event.
"""

from __future__ import annotations

from processors.core.snapshot.plain import InputCodec, Plain, Record
from processors.core.state import Declared, Parked, UnresolvedRead, record_text
from processors.events import CoreInput, Input, Passage, parse
from processors.parties import Sender

PASSAGE = "iotrack.Passage"


def declared_record(declared: Declared) -> Record:
    return {"state": declared.state, "at": declared.at, "event_id": declared.event_id}


def declared_from(record: Plain) -> Declared:
    return Declared(record["state"], record["at"], record["event_id"])


def _input(inputs: InputCodec, data: bytes, record_type: str) -> Input:
    """The typed input of bytes that must hold a record of ``record_type``."""
    found, value = inputs.decode(data)
    if found != record_type:
        raise ValueError(f"the input kept is an {found} record, its entry says {record_type}")
    return parse(found, value)


def parked_record(parked: Parked, inputs: InputCodec) -> Record:
    return {
        "record_type": parked.record_type,
        "record": inputs.encode(parked.record_type, parked.record()),
        "sender": parked.sender,
        "event_id": parked.event_id,
        "occurred_at": parked.occurred_at,
        "expires_at": parked.expires_at,
        "waits_for": parked.waits_for,
    }


def parked_from(record: Plain, inputs: InputCodec) -> Parked:
    record_type = record["record_type"]
    event = _input(inputs, record["record"], record_type)
    if not isinstance(event, CoreInput):
        raise ValueError(f"{record_type} is not an input of the core")  # a raw read, say
    if (event.event_id, event.occurred_at) != (record["event_id"], record["occurred_at"]):
        raise ValueError(
            f"the input kept is {event.event_id} at {event.occurred_at}, its entry says "
            f"{record['event_id']} at {record['occurred_at']}"
        )
    sender = record["sender"]
    Sender.of(sender)  # UnknownParty (a ValueError) when it names no party
    return Parked(
        record_type=record_type,
        record_json=record_text(event),
        sender=sender,
        event_id=record["event_id"],
        occurred_at=record["occurred_at"],
        expires_at=record["expires_at"],
        waits_for=record["waits_for"],
    )


def unresolved_record(read: UnresolvedRead, inputs: InputCodec) -> Record:
    return {
        "passage": inputs.encode(PASSAGE, read.record()),
        "expires_at": read.expires_at,
    }


def unresolved_from(record: Plain, inputs: InputCodec) -> UnresolvedRead:
    passage = _input(inputs, record["passage"], PASSAGE)
    if not isinstance(passage, Passage):  # parse gives the class of the name it was given
        raise TypeError(f"{PASSAGE} parsed as {type(passage).__name__}")
    return UnresolvedRead(passage_json=record_text(passage), expires_at=record["expires_at"])
