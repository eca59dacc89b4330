"""``iotrack replay``: the tracking core run in-process over a file of events (no Kafka).

Input: one event per line, ``{"type": "<Avro full name>", "value": {...}}``. The value is the
record in the Avro JSON encoding (a non-null union value wrapped as ``{"string": "..."}``), or
the same record as plain JSON (union values bare; optional fields and fields with defaults may
be left out). Timestamps are Unix milliseconds, UUIDs text. Blank lines and lines starting with
``#`` are skipped.

Output: one line per output, in the order the core produced them:
``{"topic": ..., "key": ..., "type": ..., "value": {...}}`` with the value in the Avro JSON
encoding; a tombstone has ``"type": null, "value": null``; an input the core refused becomes an
``iotrack.DeadLetter`` on the dead-letter topic, with the input line as its original bytes.
The same input always gives the same output, byte for byte.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from fastavro import json_writer

from processors.core import Channel, CoreState, Output, apply
from processors.ids import deterministic_uuid7
from processors.parties import Sender
from streams.replay.lines import InputEvent, read_events
from streams.workers.channels import topic_of
from topics import catalog, dead_letters
from topics.schemas import SchemaRepository, repository


def _dead_letter(event: InputEvent, output: Output) -> dict[str, Any]:
    detail = output.value or {}
    if "record" in detail:
        # An input kept to wait and given up on later: its own line, not the current one.
        kept: dict[str, Any] = detail["record"]
        record_type = str(detail["record_type"])
        line = json.dumps({"type": record_type, "value": kept}, sort_keys=True).encode()
        at, cause = int(kept["occurred_at"]), str(kept["event_id"])
        topic = catalog.input_topic(record_type, Sender.of(str(detail["sender"])))
    else:
        line, topic = event.raw, event.topic
        at, cause = int(event.value["occurred_at"]), str(event.value["event_id"])
    return dead_letters.value(
        # Its own id, derived from the refused input's (not the input's id itself).
        event_id=deterministic_uuid7(at, "dead-letter", cause),
        source="iotrack-core",
        occurred_at=at,
        original_value=line,
        reason=str(detail.get("reason", "refused")),
        error_kind=str(detail.get("error_kind", "Refused")),
        source_topic=topic.name,
    )


def _encode_json(schemas: SchemaRepository, name: str, value: dict[str, Any]) -> Any:
    buffer = io.StringIO()
    json_writer(buffer, schemas.get(name).parsed, [value])
    return json.loads(buffer.getvalue())


def render(event: InputEvent, output: Output, schemas: SchemaRepository) -> str:
    """One output line."""
    topic = topic_of(output)
    if output.channel is Channel.REFUSALS or (
        output.channel is Channel.REPLIES and output.schema is None
    ):
        name: str | None = "iotrack.DeadLetter"
        letter = _dead_letter(event, output)
        value: Any = _encode_json(schemas, "iotrack.DeadLetter", letter)
        key: str | None = (
            output.key if output.channel is Channel.REPLIES else topic.key_of(letter).decode()
        )
    else:
        name = output.schema
        key = (
            output.key
            if output.value is None or output.channel is Channel.REPLIES
            else topic.key_of(output.value).decode()
        )
        value = (
            None
            if output.value is None or name is None
            else _encode_json(schemas, name, output.value)
        )
    return json.dumps(
        {"topic": topic.name, "key": key, "type": name, "value": value},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def replay(lines: Iterable[str], state: CoreState | None = None) -> Iterator[str]:
    """Run the core over the input lines; yield output lines."""
    schemas = repository()
    state = state or CoreState()
    for event in read_events(lines, schemas):
        state, outputs = apply(state, event.schema, event.value, event.sender)
        for output in outputs:
            yield render(event, output, schemas)
