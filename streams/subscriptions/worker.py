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
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from confluent_kafka import OFFSET_END, KafkaError, Message, TopicPartition

from streams.errors import StreamsError
from streams.http.pool import ReadPool
from streams.ops import metrics
from streams.subscriptions.model import TOPICS, Context, Topic, data_for, event_of, matches
from streams.subscriptions.store import Row, Store
from streams.subscriptions.webhooks import RetryPolicy, Sender
from topics import catalog
from topics.clients import KafkaConnection, consumer
from topics.codec import Codec, plain

LOG = logging.getLogger("iotrack.subscriptions")
GROUP = "delivery"
"""Its consumer group, named after its principal (``service.subscriptions.delivery``); it
assigns its partitions itself and keeps its positions in Postgres."""
SOURCES: dict[Topic, catalog.Topic] = {
    "deviations": catalog.DEVIATIONS,
    "verdicts": catalog.CLEARANCE_BY_ITU,
    "trains": catalog.TRAINS,
}
TOPIC_OF = {source.name: topic for topic, source in SOURCES.items()}
BATCH = 500


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
    """Kafka -> each matching subscription's queue, exactly once into the queues."""

    def __init__(self, connection: KafkaConnection, store: Store, codec: Codec) -> None:
        """``connection``: the delivery worker's own (``service.subscriptions``)."""
        self.store = store
        self.codec = codec
        self.consumer = consumer(connection, GROUP, **{"fetch.wait.max.ms": 50})
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
            return set()
        # Suspended subscriptions go on queueing: resumed, they deliver from where they stopped.
        subscriptions = self.subscriptions(0.0)
        queued: list[tuple[str, str, str, str, Any, datetime | None]] = []
        positions: dict[tuple[str, int], int] = {}
        newest = 0
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    metrics.ERRORS.labels("subscriptions", "consumer").inc()
                continue
            topic_name, partition = str(message.topic()), int(message.partition() or 0)
            positions[(topic_name, partition)] = int(message.offset() or 0) + 1
            stamp = message.timestamp()[1]
            newest = max(newest, stamp)
            queued += self._queue(message, subscriptions)
        touched = self.store.record(queued, positions)
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
        try:
            event = event_of(
                topic, plain(self.codec.decode(value, topic=str(message.topic())).value)
            )
        except Exception:  # a record nobody can read: counted, and the worker goes on
            LOG.warning(
                "undecodable record at %s[%s]@%s",
                message.topic(),
                message.partition(),
                message.offset(),
            )
            metrics.ERRORS.labels("subscriptions", "decode").inc()
            return []
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


class DeliveryWorker:
    """The fan-out and the webhook senders."""

    def __init__(
        self,
        connection: KafkaConnection,
        database_url: str,
        codec: Codec,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._lock = lock(database_url)
        self.pool = ReadPool(database_url, size=6, read_only=False, name="iotrack-subscriptions")
        self.store = Store(self.pool)
        self.policy = policy or RetryPolicy()
        self.fanout = Fanout(connection, self.store, codec)
        self.client = httpx.Client(follow_redirects=False)
        self.senders: dict[str, Sender] = {}

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
                sender = Sender(self.store, subscription, self.policy, self.client)
                self.senders[sid] = sender
                sender.start()

    def run(self, stop: threading.Event) -> None:
        self.fanout.assign()
        while not stop.is_set():
            try:
                touched = self.fanout.step()
                self.fanout.progress.error = None
            except Exception as exc:
                LOG.exception("the delivery worker's batch failed; retrying")
                self.fanout.progress.error = f"{type(exc).__name__}: {exc}"[:300]
                self._rewind()
                stop.wait(1.0)
                continue
            self.reconcile()
            for sid in touched:
                if sid in self.senders:
                    self.senders[sid].wake.set()

    def _rewind(self) -> None:
        """After a failed batch: back to the stored positions (nothing was queued)."""
        stored = self.store.positions()
        for (topic, partition), offset in stored.items():
            self.fanout.consumer.seek(TopicPartition(topic, partition, offset))

    def ready(self) -> tuple[bool, str]:
        progress = self.fanout.progress
        if progress.error:
            return False, progress.error
        if time.monotonic() - progress.polled_at > 10:
            return False, "no poll of the topics for more than 10 s"
        if not self.pool.healthy():
            return False, "the database is unavailable"
        return True, "reading the topics and delivering"

    def close(self) -> None:
        for sender in self.senders.values():
            sender.stop.set()
            sender.wake.set()
        for sender in self.senders.values():
            sender.thread.join(self.policy.timeout_s + 1)
        self.fanout.consumer.close()
        self.client.close()
        self.pool.close()
        self._lock.close()


def topics_read() -> tuple[str, ...]:
    """The topics the worker reads, in the order of :data:`streams.subscriptions.model.TOPICS`."""
    return tuple(SOURCES[t].name for t in TOPICS)
