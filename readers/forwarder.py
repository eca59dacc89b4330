"""The forwarder: spool -> idempotent producer -> broker, in order, deleting what was acknowledged.

The producer is idempotent with ``acks=all`` and an unlimited delivery timeout, so while the
broker is away librdkafka keeps retrying in order instead of failing messages; at most
``max_in_flight`` records are handed to it at once, the rest waits on disk. Every delivery report
is checked: only an acknowledged record leaves the spool. A record refused for now (a topic that
does not exist yet, a topic the reader may not write yet) stays in the spool and is retried after
a pause, and said so (``last_error``). A producer that failed fatally (the broker refused it an
idempotent producer id: the reader's ACLs were not there yet) is replaced by a new one from the
factory before the retry. A record refused for good (``MSG_SIZE_TOO_LARGE`` and the like, by the
client or the broker) is moved to the spool's quarantine with the reason, counted and logged, so
the records behind it drain (``iotrack reader quarantine list``/``show`` inspect it).

A record acknowledged by the broker just before the reader was killed, and not yet deleted, is
sent again after the restart with the same bytes: consumers recognise it by its ``event_id``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from readers.spool import Spool
from topics.clients import ClientWatch, produce, refused_for_good

log = logging.getLogger(__name__)


class Forwarder:
    """Drains a spool to the broker on its own thread (``start``) or in the caller's (``pump``)."""

    def __init__(
        self,
        spool: Spool,
        producer_factory: Callable[..., Producer],
        *,
        max_in_flight: int = 20000,
        retry_pause_s: float = 2.0,
    ) -> None:
        """``producer_factory`` is given the configuration entries of :attr:`watch` as
        keyword arguments (whether the broker is reachable)."""
        self.spool = spool
        self._factory = producer_factory
        self.watch = ClientWatch()
        self._producer = producer_factory(**self.watch.config())
        self.max_in_flight = max_in_flight
        self.retry_pause_s = retry_pause_s
        self._sent_up_to = 0
        self._in_flight: set[int] = set()
        self._acked: list[int] = []
        self._failed: dict[int, str] = {}
        self._fatal = False
        self._refused: dict[int, tuple[str, str]] = {}
        self._retry_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.quarantined = 0
        self.last_error: str | None = None
        self.last_quarantined: str | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The forwarding thread, once started."""
        return self._thread

    def _report(self, seq: int, topic: str) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._in_flight.discard(seq)
            if error is None:
                self._acked.append(seq)
            elif refused_for_good(error):
                self._refused[seq] = (topic, f"the broker refused it: {error.str()}")
            else:
                self._failed[seq] = error.str()
                self._fatal = self._fatal or error.fatal() or error.code() == KafkaError._FATAL

        return on_delivery

    def _quarantine(self, seq: int, topic: str, reason: str) -> None:
        if self.spool.quarantine(seq, reason):
            self.quarantined += 1
            self.last_quarantined = f"record {seq} for {topic}: {reason}"
            log.error(
                "spooled record %s for %s quarantined (%s): see 'iotrack reader quarantine "
                "show %s'",
                seq,
                topic,
                reason,
                seq,
            )

    def pump(self, wait_s: float = 0.05) -> int:
        """One round: hand new records to the producer, collect reports, forget acknowledged ones.

        Returns how many records are still in the spool or in flight.
        """
        now = time.monotonic()
        if self._failed and not self._in_flight and now >= self._retry_at:
            first = min(self._failed)
            self.last_error = f"record {first}: {self._failed[first]}"
            log.warning("the broker refused spooled records (%s); retrying", self.last_error)
            self._sent_up_to = first - 1
            self._failed.clear()
            if self._fatal:  # it sends nothing any more: a new one
                self._producer = self._factory(**self.watch.config())
                self._fatal = False
        if not self._failed:
            room = self.max_in_flight - len(self._in_flight)
            if room > 0:
                for record in self.spool.peek(after=self._sent_up_to, limit=room):
                    try:
                        produce(
                            self._producer,
                            record.topic,
                            record.key,
                            record.value,
                            self._report(record.seq, record.topic),
                        )
                    except KafkaException as exc:
                        error = exc.args[0] if exc.args else None
                        if not isinstance(error, KafkaError):
                            raise
                        if refused_for_good(error):
                            self._sent_up_to = record.seq
                            self._quarantine(record.seq, record.topic, f"refused: {error.str()}")
                            continue
                        # refused before sending for now (a fatal producer): retried after a pause
                        self._failed[record.seq] = error.str()
                        self._fatal = (
                            self._fatal or error.fatal() or error.code() == KafkaError._FATAL
                        )
                        break
                    self._in_flight.add(record.seq)
                    self._sent_up_to = record.seq
        self._producer.poll(wait_s)
        if self._refused:
            refused, self._refused = self._refused, {}
            for seq, (topic, reason) in sorted(refused.items()):
                self._quarantine(seq, topic, reason)
        if self._failed and not self._retry_at > now:
            self._retry_at = now + self.retry_pause_s
        if self._acked:
            acked, self._acked = self._acked, []
            self.spool.remove(acked)
            self.delivered += len(acked)
            self.last_error = None
        return len(self.spool)

    def drain(self, timeout_s: float) -> bool:
        """Pump until the spool is empty (True) or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pump(0.05) == 0 and not self._in_flight:
                return True
        return False

    def start(self) -> None:
        """Forward on a background thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="spool-forwarder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump(0.05)
            except Exception:  # the thread must not die silently; the spool keeps the records
                log.exception("forwarder round failed; retrying")
                time.sleep(self.retry_pause_s)

    def stop(self, flush_s: float = 10.0) -> None:
        """Stop the thread after a last attempt to deliver what is in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._producer.flush(flush_s)
        self._producer.poll(0)
        if self._acked:
            self.spool.remove(self._acked)
            self._acked = []
