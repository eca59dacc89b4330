"""Counts and the oldest time per group over keyed entries, kept as entries change.

The Customs gauges (inputs waiting per kind, open holds per agency, each with its oldest) were
worked out by scanning every waiting input or open hold at each batch: with the 100,000 kept
passages the core allows, that scan took 17-49 ms of every batch (``bench`` note in
BENCHMARKS.md). Here a batch costs only what it changed: ``put`` replaces one key's entry, the
oldest per group comes from a heap whose stale entries are dropped when they reach its top.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    """What one key contributes: its group, how many it counts, its oldest time."""

    group: str
    count: int
    oldest: int


class OldestByGroup:
    """``put`` and ``drop`` entries by key; ``count(group)`` and ``oldest(group)`` at any time.

    >>> view = OldestByGroup()
    >>> view.put("a", Entry("iot_id", 2, 50)); view.put("b", Entry("iot_id", 1, 40))
    >>> view.count("iot_id"), view.oldest("iot_id")
    (3, 40)
    >>> view.drop("b"); view.count("iot_id"), view.oldest("iot_id")
    (2, 50)
    >>> view.drop("a"); view.count("iot_id"), view.oldest("iot_id")
    (0, None)
    """

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._counts: Counter[str] = Counter()
        self._heaps: dict[str, list[tuple[int, str]]] = {}

    def put(self, key: str, entry: Entry) -> None:
        """Make ``entry`` the key's (``drop`` first when it counts nothing)."""
        if entry.count <= 0:
            self.drop(key)
            return
        old = self._entries.get(key)
        self._forget(key)
        self._entries[key] = entry
        self._counts[entry.group] += entry.count
        if old is None or old.group != entry.group or old.oldest != entry.oldest:
            heap = self._heaps.setdefault(entry.group, [])
            heapq.heappush(heap, (entry.oldest, key))
            if len(heap) > 2 * len(self._entries) + 64:  # too many stale entries: rebuild
                self._rebuild(entry.group)

    def drop(self, key: str) -> None:
        """The key counts no more."""
        self._forget(key)

    def count(self, group: str) -> int:
        """The sum of the counts of the group's entries."""
        return self._counts[group]

    def oldest(self, group: str) -> int | None:
        """The oldest time of the group's entries; None when it has none."""
        heap = self._heaps.get(group, [])
        while heap:
            at, key = heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry.group == group and entry.oldest == at:
                return at
            heapq.heappop(heap)
        return None

    def groups(self) -> set[str]:
        """Every group that has ever had an entry."""
        return set(self._counts) | set(self._heaps)

    def _forget(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._counts[old.group] -= old.count

    def _rebuild(self, group: str) -> None:
        heap = [(e.oldest, k) for k, e in self._entries.items() if e.group == group]
        heapq.heapify(heap)
        self._heaps[group] = heap
