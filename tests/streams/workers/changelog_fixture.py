"""The committed changelog of the first version of the state schemas, and how it was made.

``tests/streams/workers/core-changelog-v1.jsonl`` holds the records the core worker wrote, one
batch per event, for the first 12 events of the golden scenario
``rail-held-unit-amended-then-departs`` (a train refused for a held unit, the hold still open),
with ``iotrack.state.*`` at version 1: one JSON object per line, ``offset``, ``key`` (text) and
``value`` (the record's bytes in base64; null for a tombstone). It was written once, by
``python -m tests.streams.workers.changelog_fixture``, and is never rewritten: it is what a
changelog of that release looks like to every later one. The command refuses to overwrite it.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from processors.core import CoreState, apply
from streams.replay.lines import InputEvent, read_events
from streams.workers.changelog import Stored, changelog_records
from topics.codec import SingleObjectCodec

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "core-changelog-v1.jsonl"
SCENARIO = HERE.parents[1] / "golden" / "rail-held-unit-amended-then-departs.in.jsonl"
CUT = 12
"""Events applied before the changelog was taken; the rest are applied after the restore."""


def events() -> list[InputEvent]:
    """The scenario's input events, in order."""
    return list(read_events(SCENARIO.read_text().splitlines()))


def read(path: Path = FIXTURE) -> list[Stored]:
    """The fixture as the worker reads the topic back: the latest record of each key."""
    latest: dict[bytes, Stored] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        key = record["key"].encode()
        if record["value"] is None:
            latest.pop(key, None)
        else:
            latest[key] = Stored(key, base64.b64decode(record["value"]), 0, record["offset"])
    return list(latest.values())


def main() -> int:
    if FIXTURE.exists():
        print(f"{FIXTURE} exists: it is the version-1 changelog and is never rewritten")
        return 1
    codec = SingleObjectCodec()
    state = CoreState()
    lines: list[str] = []
    for event in events()[:CUT]:
        state, _ = apply(state, event.schema, event.value, event.sender)
        for key, value in changelog_records(state, codec):
            encoded = None if value is None else base64.b64encode(value).decode()
            lines.append(json.dumps({"offset": len(lines), "key": key.decode(), "value": encoded}))
    FIXTURE.write_text("".join(line + "\n" for line in lines))
    print(f"wrote {FIXTURE}: {len(lines)} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
