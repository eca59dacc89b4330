"""How a long-running iotrack process is asked to stop: SIGINT (Ctrl-C) or SIGTERM set one event.

The workers watch the event and finish their batch, so a stop never cuts a transaction in half.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(then: Callable[[], None] | None = None) -> threading.Event:
    """An event that SIGINT or SIGTERM sets from now on; ``then`` also runs on the signal (it
    must return at once: it runs in the signal handler)."""
    stop = threading.Event()

    def handle(*_: object) -> None:
        stop.set()
        if then is not None:
            then()

    for number in STOP_SIGNALS:
        signal.signal(number, handle)
    return stop


@contextmanager
def stopped_by_signals() -> Iterator[threading.Event]:
    """An event that SIGINT or SIGTERM sets while the block runs; the handlers from before the
    block are back after it."""
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    try:
        yield stop_on_signals()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
