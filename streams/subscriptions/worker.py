"""``iotrack subscriptions run``: the delivery worker.

It reads the subscribed topics (deviations, verdicts by unit, trains) from its own position,
kept in Postgres: for each batch it queues a notification for every subscription the event
matches (cut to what the subscription's party may read) and moves its position, in one
transaction, so a kill (even SIGKILL) loses and repeats nothing. A new deployment starts at the
topics' end: subscriptions are for what happens from now on. Beside it, one
:class:`~streams.subscriptions.webhooks.Sender` per active webhook subscription delivers the
queue; streams (SSE) are served by ``iotrack api`` from the same queues.

It is its own process, not part of ``iotrack run``: it talks to the parties' servers (slow,
down, hostile), which must never hold up the tracking core's transactions, and it needs other
credentials (writer of the subscription tables, reader of the public topics). One worker per
database at a time (an advisory lock). Its ``/health``, ``/ready`` and ``/metrics`` are served
on ``--port``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from confluent_kafka import OFFSET_END, KafkaError, Message, TopicPartition

from streams.errors import StreamsError
from streams.http.pool import ReadPool
from streams.ops import metrics
from streams.ops import readiness as checks
from streams.ops.readiness import Check, Readiness
from streams.subscriptions.destinations import Destinations
from streams.subscriptions.model import TOPICS, Context, Topic, data_for, event_of, matches
from streams.subscriptions.store import Row, Store
from streams.subscriptions.webhooks import RetryPolicy, Sender
from topics import catalog, dead_letters
from topics.clients import ClientWatch, KafkaConnection, consumer, produce, producer
from topics.codec import Codec, plain
from topics.errors import DecodeError, UnexpectedRecordTypeError

LOG = logging.getLogger("iotrack.subscriptions")
GROUP = "delivery"
"""Its consumer group, named after its principal (``service.subscriptions.delivery``); it
assigns its partitions itself and keeps its positions in Postgres."""
SOURCE = "iotrack-subscriptions"
"""The ``source`` of the dead letters it writes."""
SOURCES: dict[Topic, catalog.Topic] = {
    "deviations": catalog.DEVIATIONS,
    "verdicts": catalog.CLEARANCE_BY_ITU,
    "trains": catalog.TRAINS,
}
TOPIC_OF = {source.name: topic for topic, source in SOURCES.items()}
BATCH = 500
POLL_BOUND_S = 10.0
RETAIN_S = 7 * 86400.0
"""How long queued notifications (once delivered, or when only streamed) and delivery log
entries are kept: a stream can resume from a week back."""
PRUNE_EVERY_S = 60.0
"""A worker that has not polled its topics for this long is not ready."""
_UNREADABLE = (DecodeError, KeyError, TypeError, ValueError)
"""What a record nobody can read raises: its bytes, or its shape, are not what its topic
carries (dead-lettered; any other error is the worker's and retried)."""


class SubscriptionWorkerError(StreamsError):
    """The delivery worker cannot start or go on (another runs, the database is away)."""


def lock(database_url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """Hold the delivery worker's advisory lock on a connection of its own (until closed)."""
    try:
        connection = psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise SubscriptionWorkerError(f"cannot connect to the database: {exc}") from exc
    found = connection.execute(
        "SELECT pg_try_advisory_lock(hashtextextended('iotrack-subscriptions', 0))"
    ).fetchone()
    if not found or not found[0]:
        connection.close()
        raise SubscriptionWorkerError(
            "another delivery worker ('iotrack subscriptions run') serves this database; "
            "stop it first"
        )
    return connection


@dataclass
class Progress:
    """What the worker did, for /ready and the tests."""

    polled_at: float = 0.0
    records: int = 0
    queued: int = 0
    error: str | None = None


class Fanout:
    """Kafka -> each matching subscription's queue, exactly once into the queues.

    A record nobody can read (bytes that do not decode, a record of another type than its
    topic's) goes to the dead-letter topic with its topic, partition, offset and reason, flushed
    before the batch's positions are stored, is logged and counted, and the worker goes on."""

    def __init__(self, connection: KafkaConnection, store: Store, codec: Codec) -> None:
        """``connection``: the delivery worker's own (``service.subscriptions``)."""
        self.store = store
        self.codec = codec
        self.watch = ClientWatch()
        self.consumer = consumer(
            connection, GROUP, **{"fetch.wait.max.ms": 50, **self.watch.config()}
        )
        self._connection = connection
        self._producer: Any = None
        self.dead_lettered = 0
        self.progress = Progress()
        self._positions: dict[tuple[str, int], int] = {}
        self._subscriptions: list[Row] = []
        self._loaded_at = 0.0

    def assign(self) -> None:
        """Start where the stored positions say; at the topics' end for partitions without."""
        stored = self.store.positions()
        assignment = []
        for source in SOURCES.values():
            for partition in range(source.partitions):
                offset = stored.get((source.name, partition))
                if offset is None:
                    _, high = self.consumer.get_watermark_offsets(
                        TopicPartition(source.name, partition), timeout=30
                    )
                    offset = high if high >= 0 else OFFSET_END
                    self._positions[(source.name, partition)] = max(0, offset)
                assignment.append(TopicPartition(source.name, partition, offset))
        if self._positions:
            self.store.record((), self._positions)
        self.consumer.assign(assignment)

    def subscriptions(self, max_age_s: float = 0.5) -> list[Row]:
        """The subscriptions, re-read at most every ``max_age_s`` (the API changes them)."""
        if time.monotonic() - self._loaded_at > max_age_s:
            self._subscriptions = self.store.all()
            self._loaded_at = time.monotonic()
        return self._subscriptions

    def step(self, timeout_s: float = 0.2) -> set[str]:
        """One batch: consumed, matched, queued with the new positions; the subscriptions
        that got notifications."""
        first = self.consumer.poll(timeout_s)
        # What else is there already, without waiting for a batch to fill.
        messages = [] if first is None else [first, *self.consumer.consume(BATCH - 1, 0)]
        self.progress.polled_at = time.monotonic()
        if not messages:
            metrics.SUBSCRIPTION_LAG.set(0)
            self.watch.took(0)  # nothing in hand (a batch that failed before is done with)
            return set()
        self.watch.working()
        # Suspended subscriptions go on queueing: resumed, they deliver from where they stopped.
        subscriptions = self.subscriptions(0.0)
        queued: list[tuple[str, str, str, str, Any, datetime | None]] = []
        positions: dict[tuple[str, int], int] = {}
        newest = 0
        refused: list[tuple[Message, Exception]] = []
        taken = 0
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    metrics.ERRORS.labels("subscriptions", "consumer").inc()
                continue
            taken += 1
            topic_name, partition = str(message.topic()), int(message.partition() or 0)
            positions[(topic_name, partition)] = int(message.offset() or 0) + 1
            stamp = message.timestamp()[1]
            newest = max(newest, stamp)
            try:
                queued += self._queue(message, subscriptions)
            except _UNREADABLE as exc:
                refused.append((message, exc))
        self._dead_letter(refused)  # on the broker before the positions move past them
        touched = self.store.record(queued, positions)
        self.watch.took(taken)
        self.progress.records += len(messages)
        self.progress.queued += len(queued)
        metrics.SUBSCRIPTION_LAG.set(max(0.0, time.time() - newest / 1000) if newest else 0)
        return touched

    def _queue(
        self, message: Message, subscriptions: Iterable[Row]
    ) -> list[tuple[str, str, str, str, Any, datetime | None]]:
        value = message.value()
        topic = TOPIC_OF[str(message.topic())]
        if value is None:
            return []  # a tombstone: a unit or train no longer tracked
        decoded = self.codec.decode(value, topic=str(message.topic()))
        expected = SOURCES[topic].schemas
        if decoded.schema not in expected:
            raise UnexpectedRecordTypeError(
                f"{message.topic()}: a {decoded.schema} where {', '.join(expected)} is expected"
            )
        event = event_of(topic, plain(decoded.value))
        published = datetime.fromtimestamp(message.timestamp()[1] / 1000, tz=UTC)
        wanted = [s for s in subscriptions if s.topic == topic]
        context = Context()
        if topic == "verdicts" and any(
            s.filters.get("nodes") or s.filters.get("mrns") for s in wanted
        ):
            node, mrns = self.store.context(event.data.get("iot_id"))
            context = Context(node, mrns)
        found: list[tuple[str, str, str, str, Any, datetime | None]] = []
        for subscription in wanted:
            if matches(subscription.owner, topic, subscription.filters, event, context):
                found.append(
                    (
                        subscription.subscription_id,
                        event.event_id,
                        event.event_type,
                        event.key,
                        data_for(subscription.owner, event),
                        published,
                    )
                )
                metrics.SUBSCRIPTION_QUEUED.labels(topic).inc()
        return found

    def _dead_letter(self, refused: list[tuple[Message, Exception]]) -> None:
        if not refused:
            return
        if self._producer is None:
            self._producer = producer(self._connection)
        for message, exc in refused:
            reason = f"{type(exc).__name__}: {str(exc).strip()}"
            LOG.warning(
                "subscriptions: %s[%s]@%s cannot be read (%s); sent to %s",
                message.topic(),
                message.partition(),
                message.offset(),
                reason[:300],
                catalog.DEAD_LETTERS.name,
            )
            key, letter = dead_letters.for_message(
                self.codec, message, reason=reason, error_kind=type(exc).__name__, source=SOURCE
            )
            produce(self._producer, catalog.DEAD_LETTERS.name, key, letter)
            metrics.DEAD_LETTERS.labels("subscriptions", type(exc).__name__).inc()
            self.dead_lettered += 1
        if self._producer.flush(30) != 0:
            raise SubscriptionWorkerError(
                f"cannot send {len(refused)} dead letters to {catalog.DEAD_LETTERS.name}: is "
                "the broker up? The batch was not recorded"
            )

    def close(self) -> None:
        self.consumer.close()
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None


class DeliveryWorker:
    """The fan-out and the webhook senders."""

    def __init__(
        self,
        connection: KafkaConnection,
        database_url: str,
        codec: Codec,
        policy: RetryPolicy | None = None,
        destinations: Destinations | None = None,
        *,
        retain_s: float = RETAIN_S,
    ) -> None:
        self._lock = lock(database_url)
        self.retain_s = retain_s
        self._pruned_at = float("-inf")
        self.pool = ReadPool(database_url, size=6, read_only=False, name="iotrack-subscriptions")
        self.store = Store(self.pool)
        self.policy = policy or RetryPolicy()
        self.fanout = Fanout(connection, self.store, codec)
        self.destinations = destinations or Destinations()
        self.senders: dict[str, Sender] = {}
        self.thread: threading.Thread | None = None
        """The thread ``run`` runs on, once it runs."""

    def reconcile(self) -> None:
        """A sender for every active webhook subscription; none for the others."""
        wanted = {
            s.subscription_id: s
            for s in self.fanout.subscriptions()
            if s.status == "ACTIVE" and s.url
        }
        for sid, sender in list(self.senders.items()):
            if sid not in wanted or not sender.thread.is_alive():
                sender.stop.set()
                sender.wake.set()
                del self.senders[sid]
        for sid, subscription in wanted.items():
            if sid not in self.senders:
                sender = Sender(self.store, subscription, self.policy, self.destinations)
                self.senders[sid] = sender
                sender.start()

    def run(self, stop: threading.Event) -> None:
        self.thread = threading.current_thread()
        self.fanout.assign()
        rewind = False
        while not stop.is_set():
            try:
                if rewind:  # the failed batch again, from the stored positions
                    self._rewind()
                    rewind = False
                touched = self.fanout.step()
                self.reconcile()
                self._prune_now_and_then()
                self.fanout.progress.error = None
            except Exception as exc:  # the database or the broker away: said, and retried
                LOG.exception("the delivery worker's batch failed; retrying")
                self.fanout.progress.error = f"{type(exc).__name__}: {exc}"[:300]
                rewind = True
                stop.wait(1.0)
                continue
            for sid in touched:
                if sid in self.senders:
                    self.senders[sid].wake.set()

    def _prune_now_and_then(self) -> None:
        """What is past the retention goes, once every :data:`PRUNE_EVERY_S`."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_S:
            return
        events, deliveries = self.store.prune(datetime.now(UTC) - timedelta(seconds=self.retain_s))
        self._pruned_at = time.monotonic()
        metrics.SUBSCRIPTION_PRUNED.labels("subscription_events").inc(events)
        metrics.SUBSCRIPTION_PRUNED.labels("subscription_deliveries").inc(deliveries)
        if events or deliveries:
            LOG.info(
                "pruned %d queued notifications and %d delivery log entries", events, deliveries
            )

    def _rewind(self) -> None:
        """After a failed batch: back to the stored positions (nothing was queued)."""
        stored = self.store.positions()
        for (topic, partition), offset in stored.items():
            self.fanout.consumer.seek(TopicPartition(topic, partition, offset))

    def readiness(
        self,
        stall_s: float = checks.STALL_S,
        max_lag: int = checks.MAX_LAG_RECORDS,
    ) -> Readiness:
        """Alive while the thread of :meth:`run` runs; ready while its batches succeed, it polls
        the topics, takes what waits there and keeps up, and the database and the broker
        answer."""
        topics = ", ".join(topics_read())

        def batches() -> Check:
            error = self.fanout.progress.error
            if error:
                return checks.failed("batch", f"the last batch failed: {error}")
            return checks.passed("batch", "queueing")

        def polling() -> Check:
            quiet = time.monotonic() - self.fanout.progress.polled_at
            if quiet > POLL_BOUND_S:
                return checks.failed("poll", f"no poll of the topics for {quiet:.0f} s")
            return checks.passed("poll", "reading the topics")

        def database() -> Check:
            if self.pool.healthy():
                return checks.passed("database", "the database answers")
            return checks.failed("database", "the database is unavailable")

        return Readiness(
            "subscriptions",
            [
                batches,
                polling,
                database,
                checks.broker(self.fanout.watch),
                checks.progress(self.fanout.watch, topics, stall_s),
                checks.lag(self.fanout.watch, topics, max_lag),
            ],
            [checks.thread_alive("delivery_thread", lambda: self.thread)],
            kind="subscriptions",
        )

    def ready(self) -> tuple[bool, str]:
        """(ready, reason): see :meth:`readiness`."""
        ok, found = self.readiness().ready()
        return ok, checks.reasons(found)

    def close(self) -> None:
        for sender in self.senders.values():
            sender.stop.set()
            sender.wake.set()
        for sender in self.senders.values():
            sender.thread.join(self.policy.timeout_s + 1)
        self.fanout.close()
        self.pool.close()
        self._lock.close()


def topics_read() -> tuple[str, ...]:
    """The topics the worker reads, in the order of :data:`streams.subscriptions.model.TOPICS`."""
    return tuple(SOURCES[t].name for t in TOPICS)
