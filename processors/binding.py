"""The binding ledger: which IOT_ID an ITU identifier belongs to, and when.

Every binding is an interval ``[valid_from, valid_to)`` per ITU identifier, kept after it ends,
so the ledger answers "as of T" as well as "now". A unit (container, ILU, swap body, seal,
manifest goods id) has at most one active IOT_ID at a time, on any mission path; a request that
would give it a second one is refused. A carrier (plate, wagon) has as many as it carries.

ITU keys (``Itu.key``) have the form of the verdict-by-ITU topic's keys: ``KIND:value``, and
``KIND:country:value`` for plates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from processors.events import Itu
from processors.identifiers import KINDS
from processors.identifiers.itu import CHECKED_BY, is_carrier

NO_COUNTRY = "a plate needs the country it is registered in (ISO 3166 alpha-2)"


def check_itu(itu: Itu) -> str | None:
    """Why an ITU identifier is not acceptable, or None when it is.

    >>> check_itu(Itu("CONTAINER", "CSQU3054384"))
    'CSQU3054384: check digit is 4, expected 3'
    >>> check_itu(Itu("SWAP_BODY", " ")), check_itu(Itu("PLATE", "AB123CD", "IT"))
    ('SWAP_BODY: empty identifier', None)

    A plate is a carrier only with the country it is registered in: ``AB123CD`` may be an
    Italian truck or a German one, so a plate without its country names no carrier.

    >>> check_itu(Itu("PLATE", "AB123CD"))
    'PLATE AB123CD: a plate needs the country it is registered in (ISO 3166 alpha-2)'
    """
    module = CHECKED_BY.get(itu.kind)
    if module is None:
        return None if itu.value.strip() else f"{itu.kind}: empty identifier"
    if module == "plate" and not itu.country:
        return f"PLATE {itu.value}: {NO_COUNTRY}"
    try:
        if module == "plate":
            KINDS[module].validate(itu.value, country=itu.country)
        else:
            KINDS[module].validate(itu.value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Interval:
    """One binding of one ITU to one IOT_ID."""

    iot_id: str
    mission_path_id: str
    valid_from: int
    valid_to: int | None = None
    seen_at: int | None = None
    """A carrier's: the latest event time a gate read the unit on it since ``valid_from`` (None
    until one did), so that a read older than that, arriving late, does not move the unit."""

    @property
    def latest(self) -> int:
        """The event time the binding was last established or seen to hold."""
        return self.valid_from if self.seen_at is None else max(self.valid_from, self.seen_at)

    def active_at(self, at: int) -> bool:
        """Whether the binding holds at event time ``at``."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass
class Ledger:
    """Intervals per ITU key, and the IOT_ID each binding request produced."""

    intervals: dict[str, tuple[Interval, ...]]
    requests: dict[str, str]
    dirty: set[str] = field(default_factory=set)
    """ITU keys whose intervals changed since ``take_dirty``."""

    @classmethod
    def empty(cls) -> Ledger:
        return cls({}, {})

    def take_dirty(self) -> set[str]:
        """The ITU keys changed since the last call."""
        taken, self.dirty = self.dirty, set()
        return taken

    def active(self, key: str, at: int | None = None) -> list[Interval]:
        """Bindings of an ITU active at ``at`` (still open, when None)."""
        found = self.intervals.get(key, ())
        if at is None:
            return [i for i in found if i.valid_to is None]
        return [i for i in found if i.active_at(at)]

    def conflicts(
        self, keys: Iterable[str], at: int, *, besides: str | None = None
    ) -> list[tuple[str, Interval]]:
        """Bindings that binding ``keys`` from event time ``at`` on would overlap: a unit's (a
        container, ILU, swap body, seal or goods id) on any mission path, by another IOT_ID than
        ``besides``, that holds at ``at`` or later (open, or ended after ``at``). Judged by event
        time, not by what has arrived: a unit that left at 2 h was still bound at 1 h, however
        late the request of 1 h comes. A carrier (plate, wagon) carries several IOT_IDs at
        once and never conflicts.

        >>> ledger = Ledger.empty()
        >>> ledger.bind(["CONTAINER:X"], "A", "P", 10)
        >>> ledger.unbind(["CONTAINER:X"], "A", 20)
        >>> [i.iot_id for _, i in ledger.conflicts(["CONTAINER:X"], 15)]
        ['A']
        >>> ledger.conflicts(["CONTAINER:X"], 20), ledger.conflicts(["PLATE:IT:AB123CD"], 15)
        ([], [])
        """
        return [
            (key, interval)
            for key in keys
            if not is_carrier(key)
            for interval in self.intervals.get(key, ())
            if interval.iot_id != besides and (interval.valid_to is None or interval.valid_to > at)
        ]

    def carried(self, key: str) -> list[str]:
        """The IOT_IDs a carrier carries now (open intervals), in the order they were bound."""
        return [i.iot_id for i in self.active(key)]

    def bind(self, keys: Iterable[str], iot_id: str, mission_path_id: str, at: int) -> None:
        """Open an interval for each key."""
        for key in keys:
            self.intervals[key] = (
                *self.intervals.get(key, ()),
                Interval(iot_id, mission_path_id, at),
            )
            self.dirty.add(key)

    def seen(self, keys: Iterable[str], iot_id: str, at: int) -> None:
        """A gate read ``iot_id`` on each carrier of ``keys`` at ``at``: its open interval
        there was seen to hold then (``Interval.seen_at``)."""
        for key in keys:
            found = self.intervals.get(key, ())
            updated = tuple(
                replace(i, seen_at=at)
                if i.iot_id == iot_id and i.valid_to is None and at > i.latest
                else i
                for i in found
            )
            if updated != found:
                self.intervals[key] = updated
                self.dirty.add(key)

    def unbind(self, keys: Iterable[str], iot_id: str, at: int) -> None:
        """Close the open intervals of ``iot_id`` for each key at ``at``."""
        for key in keys:
            self.intervals[key] = tuple(
                replace(i, valid_to=at) if i.iot_id == iot_id and i.valid_to is None else i
                for i in self.intervals.get(key, ())
            )
            self.dirty.add(key)
