"""The tracking core's state as plain records, and back: what its worker keeps on its changelog.

The state is a set of entries, one record under one key each: ``iot:<IOT_ID>`` (a ``Tracked``),
``itu:<ITU key>`` (a unit's binding intervals), ``req:<request_id>`` (the IOT_ID a binding request
produced), ``path:<mission_path_id>``, ``seen:<principal>:<event_id>`` (an input remembered, as its
party's, so that a redelivery applies once), ``train:<train_id>``, ``decl:<MRN>`` (where a
declaration stands), ``park:iot:<IOT_ID>`` and ``park:path:<mission_path_id>`` (inputs waiting for
that IOT_ID or path), ``unres:<ITU key>`` (passages of a unit with no IOT_ID, kept for a late
binding), and ``meta`` (event time, what falls due next). Each kind of entry holds one record type
(``KINDS``), an Avro record of ``avro/iotrack.state.*``. The records are plain values, as the
codec takes and gives them once logical types are made plain (Unix milliseconds and ids as they
are, enum symbols as text, tuples and sets as lists, sets sorted), so nothing here imports an
Avro or Kafka library. The input events the state keeps (waiting inputs, kept passages) are
bytes in those records, written and read by the worker's codec, given as an ``InputCodec``.

Each type has a pair of functions, ``<type>_record(x)`` and ``<type>_from(record)``
(``tracking``: ITU identifiers, mission paths, positions, clearance, binding intervals, tracked
IOT_IDs; ``trains``: loading list items and answers, manifests, reasons, permissions, trains;
``arrival``: declarations, waiting inputs, kept passages), written out field by field: nothing
is read by reflection, and only these types come out.
``<type>_from(<type>_record(x)) == x`` for every state the core makes (``tests/processors/
test_snapshot.py`` runs random golden-like inputs through the core to show it). Adding a field
with a default to a state class is one field with that default in its schema (``iotrack schemas
archive NAME``, edit, ``iotrack schemas lock``) and one line in each of its two functions; a test
fails while a class and its schema do not have the same fields.

>>> class NoInputs:  # the worker gives its codec (streams.workers.changelog)
...     def encode(self, record_type, record): raise NotImplementedError
...     def decode(self, data): raise NotImplementedError
>>> state = CoreState()
>>> state.watermark = 1_795_600_000_000
>>> [(e.key, e.record_type) for e in changed(state, NoInputs())]
[('meta', 'iotrack.state.Meta')]
>>> restorer = Restorer(CoreConfig(), NoInputs())
>>> restorer.take("meta", "iotrack.state.Meta", meta_record(meta_of(state)))
>>> restorer.finish().watermark
1795600000000
>>> restorer.take("iot:x", "iotrack.state.Train", {})
Traceback (most recent call last):
    ...
processors.core.snapshot.SnapshotError: iot:x: the record is iotrack.state.Train; the key's ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from processors.binding import Ledger
from processors.core.snapshot.arrival import (
    declared_from,
    declared_record,
    parked_from,
    parked_record,
    unresolved_from,
    unresolved_record,
)
from processors.core.snapshot.plain import InputCodec, Plain, Record
from processors.core.snapshot.tracking import (
    Shared,
    interval_from,
    interval_record,
    path_from,
    path_record,
    tracked_from,
    tracked_record,
)
from processors.core.snapshot.trains import train_from, train_record
from processors.core.state import CoreConfig, CoreState
from processors.errors import ProcessorError

__all__ = [
    "KINDS",
    "META_KEY",
    "RECORD_TYPES",
    "Entry",
    "InputCodec",
    "Meta",
    "Plain",
    "Record",
    "Restorer",
    "SnapshotError",
    "changed",
    "entries_of",
    "meta_from",
    "meta_of",
    "meta_record",
    "shown",
]

KINDS: Mapping[str, str] = MappingProxyType(
    {
        "iot": "iotrack.state.TrackedIot",
        "itu": "iotrack.state.UnitBindings",
        "req": "iotrack.state.BindingRequest",
        "path": "iotrack.state.MissionPath",
        "seen": "iotrack.state.InputSeen",
        "train": "iotrack.state.Train",
        "decl": "iotrack.state.Declaration",
        "park": "iotrack.state.ParkedInputs",
        "unres": "iotrack.state.UnresolvedReads",
        "meta": "iotrack.state.Meta",
    }
)
"""Each kind of entry (the key's part before the first ``:``) and the record type it holds."""
RECORD_TYPES: Sequence[str] = tuple(KINDS.values())
"""The record types of the entries, as the catalogue lists them for the changelog topic."""
META_KEY = "meta"
_T = TypeVar("_T")
WAITED_FOR = ("iot", "path")
"""What a waiting input waits for: the kind of a ``park:`` entry's key after ``park:``."""


class SnapshotError(ProcessorError, ValueError):
    """An entry the core cannot take back: a key of no known kind, a record of another type
    than its key's kind holds, or a record without its type's fields."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One changelog entry: its key, its record type, and its record (None: the entry is gone)."""

    key: str
    record_type: str
    record: Record | None


# -- the meta entry ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meta:
    """What the state holds besides its entries (``iotrack.state.Meta``)."""

    watermark: int
    next_due: int | None
    applied_oldest: int | None
    entries: int | None = None
    """How many entries the state holds besides this one (None: not known, v1)."""


def meta_of(state: CoreState) -> Meta:
    return Meta(state.watermark, state.next_due, state.applied_oldest, entries_of(state))


def entries_of(state: CoreState) -> int:
    """How many entries the state has, the meta entry aside."""
    ledger = state.ledger
    return (
        len(state.iots)
        + len(ledger.intervals)
        + len(ledger.requests)
        + len(state.paths)
        + len(state.applied)
        + len(state.trains)
        + len(state.declarations)
        + len(state.parked)
        + len(state.unresolved)
    )


def meta_record(meta: Meta) -> Record:
    return {
        "watermark": meta.watermark,
        "next_due": meta.next_due,
        "applied_oldest": meta.applied_oldest,
        "entries": meta.entries,
    }


def meta_from(record: Plain) -> Meta:
    return Meta(
        record["watermark"], record["next_due"], record["applied_oldest"], record["entries"]
    )


# -- the entries of a state --------------------------------------------------------------------


def _entry(kind: str, name: str, record: Record | None) -> Entry:
    return Entry(f"{kind}:{name}", KINDS[kind], record)


def changed(state: CoreState, inputs: InputCodec) -> list[Entry]:
    """The entries of everything that changed since the last call (taking the state's changes),
    in a fixed order, then the meta entry; an entry gone (an IOT_ID retired, an input id
    forgotten, a wait over) has no record. ``inputs`` encodes the input events the state keeps."""
    changes = state.take_changes()
    entries: list[Entry] = []
    for iot_id in sorted(changes.iots):
        tracked = state.iots.get(iot_id)
        entries.append(_entry("iot", iot_id, None if tracked is None else tracked_record(tracked)))
    for key in sorted(changes.itus):
        found = state.ledger.intervals.get(key)
        record = None if found is None else {"intervals": [interval_record(i) for i in found]}
        entries.append(_entry("itu", key, record))
    for request_id in sorted(changes.requests):
        bound = state.ledger.requests.get(request_id)
        entries.append(_entry("req", request_id, None if bound is None else {"iot_id": bound}))
    for path_id in sorted(changes.paths):
        path = state.paths.get(path_id)
        entries.append(_entry("path", path_id, None if path is None else path_record(path)))
    for event_id in sorted(changes.applied):
        at = state.applied.get(event_id)
        entries.append(_entry("seen", event_id, None if at is None else {"at": at}))
    for train_id in sorted(changes.trains):
        train = state.trains.get(train_id)
        entries.append(_entry("train", train_id, None if train is None else train_record(train)))
    for mrn in sorted(changes.declarations):
        declared = state.declarations.get(mrn)
        record = None if declared is None else declared_record(declared)
        entries.append(_entry("decl", mrn, record))
    for key in sorted(changes.parked):
        waiting = state.parked.get(key)
        record = None if not waiting else {"inputs": [parked_record(p, inputs) for p in waiting]}
        entries.append(_entry("park", key, record))
    for key in sorted(changes.unresolved):
        reads = state.unresolved.get(key)
        record = None if not reads else {"reads": [unresolved_record(r, inputs) for r in reads]}
        entries.append(_entry("unres", key, record))
    entries.append(Entry(META_KEY, KINDS[META_KEY], meta_record(meta_of(state))))
    return entries


def shown(key: str) -> str:
    """A key as an error message gives it: as it is, or quoted and cut when it is long or holds
    what a log line should not (someone else may have written it).

    >>> shown("iot:01a2"), shown("iot:x\\nFORGED"), shown("itu:" + "A" * 300)[-6:]
    ('iot:01a2', "'iot:x\\\\nFORGED'", "AA'...")
    """
    if key.isprintable() and len(key) <= 200:
        return key
    return repr(key[:200]) + ("..." if len(key) > 200 else "")


def _some(items: Iterable[_T]) -> tuple[_T, ...]:
    """The items of an entry that holds a list: one at least (the core writes none empty)."""
    found = tuple(items)
    if not found:
        raise ValueError("an empty list (the core writes no such entry, it removes it)")
    return found


def _named(key_name: str, own: str) -> None:
    """Refuse a record under the key of another (an IOT_ID's record under another's key)."""
    if own != key_name:
        raise ValueError(f"the record is of {own}")


class Restorer:
    """Builds a state back from its entries, one ``take`` per entry (the latest record of each
    key, in any order), then ``finish``; ``inputs`` decodes the input events the state keeps."""

    def __init__(self, config: CoreConfig, inputs: InputCodec) -> None:
        self._state = CoreState(ledger=Ledger.empty(), config=config)
        self._inputs = inputs
        self._shared = Shared()
        self.meta: Meta | None = None
        self.entries = 0
        """Entries taken, the meta entry aside."""

    def take(self, key: str, record_type: str, record: Plain) -> None:
        """Take one entry; SnapshotError when its key, type or record is not one of the state's."""
        kind, colon, name = key.partition(":")
        expected = KINDS.get(kind)
        if expected is None or (kind == META_KEY) == bool(colon) or (colon and not name):
            raise SnapshotError(f"{shown(key)}: not a key of the core's state ({', '.join(KINDS)})")
        if record_type != expected:
            raise SnapshotError(
                f"{shown(key)}: the record is {record_type}; the key's kind ({kind}) holds "
                f"{expected}"
            )
        try:
            self._take(kind, name, record)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotError(
                f"{shown(key)}: the {record_type} record does not fit its type "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def _take(self, kind: str, name: str, record: Plain) -> None:
        state = self._state
        if kind == META_KEY:
            self.meta = meta_from(record)
            return
        self.entries += 1
        match kind:
            case "iot":
                tracked = tracked_from(record, self._shared)
                _named(name, tracked.iot_id)
                state.iots[tracked.iot_id] = tracked  # the key: the one str of the IOT_ID
            case "itu":
                shared = self._shared
                intervals = record["intervals"]
                state.ledger.intervals[name] = tuple(interval_from(i, shared) for i in intervals)
            case "req":
                shared = self._shared
                state.ledger.requests[shared.text(name)] = shared.text(record["iot_id"])
            case "path":
                path = path_from(record)
                _named(name, path.mission_path_id)
                state.paths[name] = path
            case "seen":
                state.applied[name] = record["at"]
            case "train":
                train = train_from(record)
                _named(name, train.train_id)
                state.trains[name] = train
            case "decl":
                state.declarations[name] = declared_from(record)
            case "park":
                waited, colon, waited_id = name.partition(":")
                if waited not in WAITED_FOR or not colon or not waited_id:
                    raise ValueError(f"a wait is for {' or '.join(WAITED_FOR)}:<id>, not {name!r}")
                state.parked[name] = _some(parked_from(p, self._inputs) for p in record["inputs"])
            case "unres":
                reads = record["reads"]
                state.unresolved[name] = _some(unresolved_from(r, self._inputs) for r in reads)

    def finish(self) -> CoreState:
        """The state restored; SnapshotError when entries came without the meta entry, which
        every batch writes, or not as many as it counts."""
        if self.meta is None:
            if self.entries:
                raise SnapshotError(f"{self.entries} entries and no {META_KEY} entry")
            return self._state
        if self.meta.entries is not None and self.meta.entries != self.entries:
            raise SnapshotError(
                f"{META_KEY}: the state had {self.meta.entries} entries, the changelog holds "
                f"{self.entries}: entries are missing or were written by another"
            )
        self._shared = Shared()  # what it held is shared by the state, or gone
        state = self._state
        state.watermark = self.meta.watermark
        state.next_due = self.meta.next_due
        state.applied_oldest = self.meta.applied_oldest
        state.take_changes()
        return state
