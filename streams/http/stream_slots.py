"""How many event streams (``text/event-stream``) one server keeps open: its connections are
for gate checks first.

A stream holds its connection for as long as its client stays, and a connection busy with an
answer is never evicted (:mod:`streams.http.server`), so without a bound 64 open browser tabs or
subscription streams would leave a gate clerk nothing but 503. Streams take at most ``total``
of the server's connections, and one holder (a token's name) at most ``per_holder`` of them;
a stream over either bound is refused with 503 and ``Retry-After`` before it starts (an
``EventSource`` tries again by itself), and the requests go on.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import AsyncIterator

from streams.http.access import Principal
from streams.http.errors import Unavailable

TOTAL = 32
"""Streams one server keeps at most: half of its 64 connections."""
PER_HOLDER = 8
"""Streams one token's holder keeps at most."""


class TooManyStreams(Unavailable):
    """Every stream slot, or every one of this holder's, is taken (HTTP 503, Retry-After)."""


class StreamSlots:
    """The open streams, counted in all and per holder."""

    def __init__(self, total: int = TOTAL, per_holder: int = PER_HOLDER) -> None:
        self.total = total
        self.per_holder = per_holder
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()

    def open(self) -> int:
        """How many streams are open now."""
        with self._lock:
            return sum(self._open.values())

    def hold(self, who: Principal, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``body`` in a slot of ``who``'s, given back when the stream ends, however it ends
        (finished, the client gone, or never started); TooManyStreams when there is none."""
        holder = f"{who.role.value}:{who.name}"
        with self._lock:
            if sum(self._open.values()) >= self.total:
                raise TooManyStreams(
                    f"{self.total} event streams are open, the most this server keeps beside "
                    "its requests: try again later"
                )
            if self._open[holder] >= self.per_holder:
                raise TooManyStreams(
                    f"this token has {self.per_holder} event streams open already, the most "
                    "one holder keeps: close one, or try again later"
                )
            self._open[holder] += 1
        given_back = threading.Event()

        def give_back() -> None:
            with self._lock:
                if not given_back.is_set():
                    given_back.set()
                    self._open[holder] -= 1
                    if self._open[holder] <= 0:
                        del self._open[holder]

        async def held() -> AsyncIterator[bytes]:
            try:
                async for chunk in body:
                    yield chunk
            finally:
                give_back()

        stream = held()
        # A stream whose answer never started (the client gone first) is never iterated, so
        # its ``finally`` never runs: the slot comes back when the stream is collected.
        weakref.finalize(stream, give_back)
        return stream
