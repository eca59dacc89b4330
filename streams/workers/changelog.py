"""The tracking core's changelog: its state as versioned Avro records on a private compacted topic.

Each batch's transaction holds, with its outputs and input offsets, one record per state entry
that changed (``processors.core.snapshot``: key ``KIND:id``, value an ``iotrack.state.*``
record, null when the entry is gone) and the ``meta`` record. Values go through the project's
codec like every other contract: the writer schema's fingerprint travels with every record, so
a changelog written by an earlier version of a state schema (kept in ``avro/history/``) is read
by the current one. The input events the state keeps inside its entries (an input waiting for
its IOT_ID or mission path, a passage kept for a late binding) go through the same codec as on
their own topics (``KeptInputs``), with their own writer's fingerprint.

At start the core reads the topic to its end and rebuilds its state from the latest record of
each key. It takes nothing it cannot read: bytes that are not Avro, a writer schema it does not
know, a record of another type than its key's kind holds, a key of no kind, a record without its
type's fields, an input kept in an entry that is not Avro or not of the type the entry names,
entries without the meta record, or not as many as it counts (from version 2 of
``iotrack.state.Meta``) all stop the restore with a ``ChangelogError`` naming the topic,
partition and offset. Skipping such a record would lose state without a word (a hold, a
binding, a waiting release, a train's permission); the core does not start instead.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from processors.core import CoreConfig, CoreState
from processors.core.snapshot import META_KEY, Plain, Restorer, SnapshotError, changed, shown
from streams.errors import StreamsError
from topics import catalog
from topics.codec import Codec, SingleObjectCodec, plain
from topics.errors import DecodeError, TopicsError
from topics.schemas import repository

log = logging.getLogger(__name__)

FIX = (
    "the core does not start on a changelog it cannot read in full; see README, "
    "'The tracking core's changelog'"
)


class ChangelogError(StreamsError):
    """A changelog record the core cannot restore its state from, or a changelog that does not
    hold a whole state; the message names the topic, partition and offset."""

    def __init__(self, topic: str, partition: int, offset: int, problem: str) -> None:
        super().__init__(f"{topic}[{partition}]@{offset}: {problem}; {FIX}")
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Stored:
    """One record as read from the changelog: key, value, and where it is."""

    key: bytes
    value: bytes
    partition: int
    offset: int


@cache
def _has_logical_types(record_type: str) -> bool:
    """Whether a decoded record of this type holds values ``plain`` turns back (UUIDs,
    timestamps); the state's own records hold none, so most are taken as decoded."""
    try:
        expanded = repository().get(record_type).expanded
    except TopicsError:
        return True  # not ours: the restorer refuses it by its type
    return '"logicalType"' in json.dumps(expanded)


class KeptInputs:
    """The input events the state keeps (an input waiting for its IOT_ID or mission path, a
    passage kept for a late binding) through the worker's codec, as on their own topics: the
    ``processors.core.snapshot.InputCodec`` of the changelog. Bytes that are not a record of
    ``avro/`` are a ValueError, which the restore reports as the entry's."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.topic = catalog.CORE_CHANGELOG.name

    def encode(self, record_type: str, record: Plain) -> bytes:
        return self.codec.encode(record_type, record, topic=self.topic)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        try:
            decoded = self.codec.decode(data, topic=self.topic)
        except DecodeError as exc:
            problem = str(exc).removeprefix(f"{self.topic}: ")
            raise ValueError(f"the input it keeps: {problem}") from exc
        value: dict[str, Any] = plain(decoded.value)
        return decoded.schema, value


def changelog_records(state: CoreState, codec: Codec) -> list[tuple[bytes, bytes | None]]:
    """The changelog records of everything that changed since the last batch, and the meta
    record: (key, value), the value None for an entry gone."""
    topic = catalog.CORE_CHANGELOG.name
    return [
        (
            entry.key.encode(),
            None
            if entry.record is None
            else codec.encode(entry.record_type, entry.record, topic=topic),
        )
        for entry in changed(state, KeptInputs(codec))
    ]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector off while a starting core reads its changelog and rebuilds its
    state, and the state kept out of the collector's later passes. A restore makes millions of
    objects that all live on, none in a reference cycle (frozen values in the state's dicts);
    with the collector on, each of its full passes walks every one made so far, about a quarter
    of the restore's time at 100,000 IOT_IDs (BENCHMARKS.md, "The core's restart"). What was
    garbage before is collected first, so none of it is kept; once the block completes,
    ``gc.freeze`` moves every object then alive to the permanent generation, which the passes
    skip. Frozen objects are still freed as soon as nothing refers to them (reference counting
    does not depend on the collector): an IOT_ID's state replaced later goes as it did."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()  # only once the state is whole: a failed read is collected as usual
    finally:
        if enabled:
            gc.enable()


def restore(
    records: Iterable[Stored], codec: Codec | None = None, config: CoreConfig | None = None
) -> CoreState:
    """A core state from the latest record of every key; ChangelogError on the first record it
    cannot take, or when the records do not make a whole state."""
    codec = codec or SingleObjectCodec()
    topic = catalog.CORE_CHANGELOG.name
    started = time.perf_counter()
    restorer = Restorer(config or CoreConfig(), KeptInputs(codec))
    meta: Stored | None = None
    last: Stored | None = None
    for stored in records:
        where = f"{topic}[{stored.partition}]@{stored.offset}"
        try:
            key = stored.key.decode("utf-8")
        except UnicodeDecodeError:
            raise ChangelogError(
                topic, stored.partition, stored.offset, f"key {stored.key[:40]!r} is not UTF-8"
            ) from None
        try:
            decoded = codec.decode(stored.value, topic=where)
        except DecodeError as exc:
            problem = str(exc).removeprefix(f"{where}: ")
            raise ChangelogError(
                topic, stored.partition, stored.offset, f"{shown(key)}: {problem}"
            ) from exc
        value = plain(decoded.value) if _has_logical_types(decoded.schema) else decoded.value
        try:
            restorer.take(key, decoded.schema, value)
        except SnapshotError as exc:
            raise ChangelogError(topic, stored.partition, stored.offset, str(exc)) from exc
        if key == META_KEY:
            meta = stored
        if last is None or stored.offset > last.offset:
            last = stored
    try:
        state = restorer.finish()
    except SnapshotError as exc:
        at = meta or last
        assert at is not None  # noqa: S101 - finish refuses only when entries were taken
        raise ChangelogError(topic, at.partition, at.offset, str(exc)) from exc
    log.info(
        "restored the core's state from %s: %d entries (%d IOT_IDs, %d trains) in %.2f s",
        topic,
        restorer.entries,
        len(state.iots),
        len(state.trains),
        time.perf_counter() - started,
    )
    return state
