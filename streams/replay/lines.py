"""The replay format: one event per line, ``{"type": "<Avro full name>", "value": {...}}``.

The value is the record in the Avro JSON encoding (a non-null union value wrapped as
``{"string": "..."}``), or the same record as plain JSON (union values bare; optional fields and
fields with defaults may be left out). Timestamps are Unix milliseconds, UUIDs text. Blank lines
and lines starting with ``#`` are skipped. ``iotrack replay`` and ``iotrack publish`` read it;
the demo and the tests write it.

A line may name the party it comes from, ``"from": "agency.phytosanitary"`` (a principal, see
``processors.parties``): ``iotrack publish`` sends it on that party's topic, and ``iotrack
replay`` hands it to the core as that party's. Without it, the party is the one whose channel an
event of its kind belongs on, read from its own claims: a hold's agency, a train's operator, a
consist's portal (its read point), the GdF for exits, fusion for passages, Customs otherwise.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastavro import json_reader

from processors.core.authority import claimed_sender
from processors.errors import ProcessorError
from processors.ids import deterministic_uuid7
from processors.parties import Sender
from streams.errors import StreamsError
from topics import catalog
from topics.catalog import Topic
from topics.codec import SingleObjectCodec, plain
from topics.errors import CatalogError, TopicsError
from topics.schemas import SchemaRepository, repository


class EventLines:
    """Writes events as lines of this format, each with an id derived from ``namespace`` and
    its number, so the same sequence of events always gets the same ids."""

    def __init__(self, namespace: str, source: str) -> None:
        self.namespace = namespace
        self.source = source
        self.count = 0

    def line(self, record: str, at: int, **fields: Any) -> str:
        """One ``iotrack.<record>`` event at Unix milliseconds ``at``, as a line."""
        self.count += 1
        value = {
            "event_id": deterministic_uuid7(at, self.namespace, str(self.count)),
            "source": self.source,
            "occurred_at": at,
            **fields,
        }
        return json.dumps({"type": f"iotrack.{record}", "value": value})


_KEYS = frozenset({"type", "value", "from"})


class ReplayInputError(StreamsError):
    """A line of the replay file is not a well-formed event; the message gives the line."""


@dataclass(frozen=True)
class InputEvent:
    """One parsed input line."""

    line: int
    schema: str
    value: dict[str, Any]
    raw: bytes
    sender: Sender
    """The party the event comes from: the line's ``"from"``, else the party whose channel an
    event of its kind belongs on, read from its own claims (``default_sender``)."""

    @property
    def topic(self) -> Topic:
        """The topic the event goes on: its sender's for its record type, else the first that
        carries it (a type no party sends, which the core refuses)."""
        try:
            return catalog.input_topic(self.schema, self.sender)
        except CatalogError:
            return catalog.topic_for_schema(self.schema)


def _sender(number: int, schema: str, value: dict[str, Any], named: object) -> Sender:
    if named is not None:
        try:
            return Sender.of(str(named))
        except ProcessorError as exc:
            raise ReplayInputError(f'line {number}: "from": {exc}') from exc
    return claimed_sender(schema, value)


def _avro_json(schema: Any, document: Any) -> dict[str, Any]:
    records = list(json_reader(io.StringIO(json.dumps(document)), schema))
    if len(records) != 1 or not isinstance(records[0], dict):
        raise ValueError("not one record")
    return records[0]


def parse_line(
    number: int, text: str, schemas: SchemaRepository, codec: SingleObjectCodec
) -> InputEvent | None:
    """One input line as an event; None for blank and comment lines."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    try:
        document = json.loads(stripped)
    except ValueError as exc:
        raise ReplayInputError(f"line {number}: not JSON: {exc}") from exc
    except RecursionError as exc:
        raise ReplayInputError(f"line {number}: not JSON: nested too deeply") from exc
    if not isinstance(document, dict) or not {"type", "value"} <= set(document) <= _KEYS:
        raise ReplayInputError(
            f'line {number}: expected {{"type": ..., "value": {{...}}}} and maybe "from"'
        )
    name = document["type"]
    if name not in schemas.current:
        raise ReplayInputError(f"line {number}: unknown record type {name!r}")
    version = schemas.get(name)
    try:
        value = _avro_json(version.parsed, document["value"])
    except Exception as first:  # not the Avro JSON encoding: try the plain form
        try:
            value = codec.decode(codec.encode(name, document["value"])).value
        except TopicsError as second:
            raise ReplayInputError(
                f"line {number}: {name} value is neither Avro JSON ({first}) nor plain JSON "
                f"({second})"
            ) from second
    record = plain(value)
    sender = _sender(number, name, record, document.get("from"))
    return InputEvent(number, name, record, stripped.encode(), sender)


def read_events(
    lines: Iterable[str], schemas: SchemaRepository | None = None
) -> Iterator[InputEvent]:
    """Parse every line; ReplayInputError stops at the first bad one."""
    schemas = schemas or repository()
    codec = SingleObjectCodec(schemas)
    for number, text in enumerate(lines, start=1):
        event = parse_line(number, text, schemas, codec)
        if event is not None:
            yield event
