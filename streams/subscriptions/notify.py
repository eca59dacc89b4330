"""Wake the streams (SSE) of ``iotrack api`` when the delivery worker queued notifications:
one thread LISTENs on the worker's Postgres channel and sets the waiting streams' events."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from streams.subscriptions.store import NOTIFY_CHANNEL

LOG = logging.getLogger("iotrack.subscriptions")


class Notifier:
    """LISTEN on :data:`NOTIFY_CHANNEL`; a stream holds :meth:`listening` while it runs."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as db:
                    db.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for note in db.notifies(timeout=1.0):
                            self._wake(note.payload)
            except psycopg.Error as exc:
                LOG.warning("streams: LISTEN lost (%s); again in 1 s", exc)
                self._stop.wait(1.0)

    def _wake(self, subscription_id: str) -> None:
        with self._lock:
            waiting = list(self._waiters.get(subscription_id, ()))
        for loop, event in waiting:
            loop.call_soon_threadsafe(event.set)

    @contextmanager
    def listening(self, subscription_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever notifications are queued for the subscription, for as long as
        the block runs (clear it before reading the queue: nothing queued after is missed)."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[subscription_id].add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiters[subscription_id].discard(entry)
                if not self._waiters[subscription_id]:
                    del self._waiters[subscription_id]
