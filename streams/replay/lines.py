"""The replay format: one event per line, ``{"type": "<Avro full name>", "value": {...}}``.

The value is the record in the Avro JSON encoding (a non-null union value wrapped as
``{"string": "..."}``), or the same record as plain JSON (union values bare; optional fields and
fields with defaults may be left out). Timestamps are Unix milliseconds, UUIDs text. Blank lines
and lines starting with ``#`` are skipped. ``iotrack replay`` and ``iotrack publish`` read it;
the demo and the tests write it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastavro import json_reader

from processors.ids import deterministic_uuid7
from streams.errors import StreamsError
from topics.codec import SingleObjectCodec, plain
from topics.errors import TopicsError
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


class ReplayInputError(StreamsError):
    """A line of the replay file is not a well-formed event; the message gives the line."""


@dataclass(frozen=True)
class InputEvent:
    """One parsed input line."""

    line: int
    schema: str
    value: dict[str, Any]
    raw: bytes


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
    if not isinstance(document, dict) or set(document) != {"type", "value"}:
        raise ReplayInputError(f'line {number}: expected {{"type": ..., "value": {{...}}}}')
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
    return InputEvent(number, name, plain(value), stripped.encode())


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
