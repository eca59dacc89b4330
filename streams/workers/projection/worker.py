"""The Postgres projection: public topics -> tables, exactly once, paused by a database outage.

The projection keeps its position per partition in ``consumer_positions`` and writes it in the
same database transaction as the rows a batch changes; on start it seeks every partition to
that position. Kafka offsets are never committed, so a kill at any moment leaves the tables
and the position consistent, and a restart applies each record once. A tombstone deletes its
row. The outputs are read ``read_committed``: the tracking core writes them in transactions.

Writes are batched: a batch's statements (in record order) are rendered client-side and sent
to the server a few hundred at a time, so a batch of 500 records costs a handful of round
trips. When the database goes away (``OperationalError``/``InterfaceError``), the batch in
flight is dropped with its transaction, one line is logged, and the projection reconnects with
backoff and seeks back to the positions stored with the last committed batch: nothing is lost
or applied twice. ``rebuild`` truncates the projected tables and the positions in one
transaction and projects the topics again from their beginning up to their current end.

Each table is a function of one topic's records for one key, applied in that key's partition
order, so the tables do not depend on how partitions interleave: a restart and a rebuild give
the same content. History tables (state transitions, every manifest version, permissions,
loading lists) keep what they saw; once the broker has compacted a state topic it holds only
each key's newest record, and a rebuild then yields what the topics still hold (a lifted hold,
for instance, without the details of its placing).

A record that cannot be used (bytes that do not decode, a record of a type its topic does not
carry, a field Postgres refuses, such as a NUL in a hold's reason; a tombstone whose key is not
what its topic's keys look like) does not stop the projection: it goes to the dead-letter topic
with its topic, partition, offset and reason (flushed before the batch commits), is logged and
counted (``iotrack_dead_letters_total{processor="projection"}``), its rows are rolled back to a
savepoint, and the rest of the batch and the position are committed as usual.

One projection writes a database at a time: it holds a Postgres advisory lock keyed by its
consumer name for as long as it runs (and ``rebuild`` takes the same lock before it
truncates), so a second ``iotrack project`` or a ``projection rebuild`` while one runs is
refused with a clear message instead of interleaving its writes. This also makes commit order
match the order of the ``deviations.seq`` numbers the API paginates on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence

import psycopg2
import psycopg2.extensions
from confluent_kafka import KafkaError, Message, Producer, TopicPartition

from streams.ops import metrics
from streams.workers.projection.lock import (
    LOCK_WAIT_S,
    ProjectionError,
    ProjectionLockError,
    lock,
    truncate_tables,
)
from streams.workers.projection.rows import (
    STATEMENTS_PER_ROUND_TRIP,
    Statement,
    execute_all,
    statements,
)
from streams.workers.projection.tables import CONSUMER, TOPICS
from topics import catalog, dead_letters
from topics.clients import ClientWatch, KafkaConnection, consumer, produce, producer
from topics.codec import Codec, plain
from topics.errors import DecodeError

LOG = logging.getLogger("iotrack.projection")

_OUTAGE = (psycopg2.OperationalError, psycopg2.InterfaceError)
_RECORD_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError)
"""What Postgres answers to a record it cannot store (a value out of range or of the wrong
form, a constraint); other errors (a missing column, permissions) stop the projection."""


class Projection:
    """Consume the projected topics and keep the tables and the position together."""

    def __init__(
        self,
        connection: KafkaConnection,
        database_url: str,
        codec: Codec,
        consumer_name: str = CONSUMER,
        topics: Sequence[catalog.Topic] = TOPICS,
        *,
        max_backoff_s: float = 5.0,
        lock_wait_s: float = LOCK_WAIT_S,
    ) -> None:
        self.codec = codec
        self.name = consumer_name
        self.topics = topics
        self.applied = 0
        self.undecodable = 0
        """Records whose bytes did not decode (dead-lettered, counted among ``dead_lettered``)."""
        self.dead_lettered = 0
        self.outages = 0
        self.max_backoff_s = max_backoff_s
        self.lock_wait_s = lock_wait_s
        self._url = database_url
        self._connection = connection
        self._producer: Producer | None = None
        self._at_end: set[tuple[str, int]] = set()
        self._partitions = sum(t.partitions for t in topics)
        self._caught_up = threading.Event()
        self._caught_up_since = 0.0
        self.watch = ClientWatch(also=metrics.lag_from_statistics(connection.own(consumer_name)))
        """Whether the consumer reaches the broker, how far behind it is (readiness)."""
        self.database_lost: tuple[float, str] | None = None
        """Since when (monotonic) and why the database is unavailable, while it is."""
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        try:
            self.db = self._connect()
        except psycopg2.Error as exc:
            raise ProjectionError(f"cannot connect to the database: {exc}".strip()) from exc
        try:
            lock(self.db, consumer_name, lock_wait_s)
        except BaseException:
            self.db.close()
            raise
        # The positions are kept in Postgres: the group (named after the projection's
        # principal) is only where the lag metric's statistics come from.
        self.consumer = consumer(
            connection,
            consumer_name,
            **{
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                **self.watch.config(),
            },
        )

    def _connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            self._url,
            connect_timeout=10,
            application_name=self.name,
            # A dead server is noticed within seconds, not after the kernel's TCP timeout.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )

    def caught_up(self, for_s: float = 0.0) -> bool:
        """True once every partition has been read to its end (and nothing newer applied),
        and has stayed so for ``for_s`` seconds (so records committed just before the call
        have had time to be fetched)."""
        return self._caught_up.is_set() and time.monotonic() - self._caught_up_since >= for_s

    def _positions(self) -> dict[tuple[str, int], int]:
        with self.db, self.db.cursor() as cursor:
            cursor.execute(
                "SELECT topic, partition, next_offset FROM consumer_positions WHERE consumer = %s",
                (self.name,),
            )
            return {(t, p): o for t, p, o in cursor.fetchall()}

    def _assign(self) -> None:
        known = self._positions()
        self._at_end.clear()
        self._caught_up.clear()
        self.consumer.assign(
            [
                TopicPartition(t.name, p, known.get((t.name, p), 0))
                for t in self.topics
                for p in range(t.partitions)
            ]
        )

    def apply_batch(self, messages: Sequence[Message]) -> None:
        """Write a batch's rows and the new positions in one database transaction; a record
        that cannot be written is dead-lettered and its position still advances."""
        positions: dict[tuple[str, int], int] = {}
        counted: dict[str, int] = {}
        types: dict[str, int] = {}
        records: list[tuple[Message, list[Statement], str]] = []
        rejected: list[tuple[Message, BaseException]] = []
        for message in messages:
            topic, partition = str(message.topic()), int(message.partition() or 0)
            positions[(topic, partition)] = int(message.offset() or 0) + 1
            raw = message.value()
            schema = ""
            try:
                if raw is None:
                    value = None
                else:
                    decoded = self.codec.decode(raw, topic=topic)
                    value, schema = plain(decoded.value), decoded.schema
            except DecodeError as exc:  # not a record of ours: dead-lettered, never guessed
                self.undecodable += 1
                rejected.append((message, exc))
                continue
            try:
                found = statements(topic, message.key() or b"", value, schema)
            except Exception as exc:  # a malformed record, whatever its fault: dead-lettered
                rejected.append((message, exc))
                continue
            records.append((message, found, schema or "tombstone"))
        position_statements: list[Statement] = [
            (
                "INSERT INTO consumer_positions (consumer, topic, partition, next_offset) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (consumer, topic, partition) "
                "DO UPDATE SET next_offset = EXCLUDED.next_offset",
                (self.name, topic, partition, offset),
            )
            for (topic, partition), offset in positions.items()
        ]
        with self.db, self.db.cursor() as cursor:
            written = self._write(cursor, records, rejected)
            execute_all(cursor, position_statements)
            self._dead_letter(rejected)  # flushed before the positions commit
        for message, _found, record_type in written:
            topic = str(message.topic())
            counted[topic] = counted.get(topic, 0) + 1
            types[record_type] = types.get(record_type, 0) + 1
        self.applied += len(messages) - len(rejected)
        for topic, count in counted.items():
            metrics.PROJECTION_APPLIED.labels(topic).inc(count)
        for record_type, count in types.items():
            metrics.EVENTS_IN.labels("projection", record_type).inc(count)
        newest = max((m.timestamp()[1] for m in messages), default=0) / 1000
        metrics.PROJECTION_LAG.set(max(0.0, time.time() - newest) if newest > 0 else 0.0)

    def _write(
        self,
        cursor: psycopg2.extensions.cursor,
        records: list[tuple[Message, list[Statement], str]],
        rejected: list[tuple[Message, BaseException]],
    ) -> list[tuple[Message, list[Statement], str]]:
        """Write the records' rows in the open transaction; those that fail are moved to
        ``rejected``. All at once first; when that fails, record by record under a savepoint
        so that only the failing records are left out."""
        rendered: list[tuple[Message, list[bytes], str]] = []
        for message, found, record_type in records:
            try:  # rendered client-side: a NUL in a text value fails here, per record
                rendered.append(
                    (message, [cursor.mogrify(sql, ps) for sql, ps in found], record_type)
                )
            except _OUTAGE:
                raise
            except (psycopg2.Error, ValueError, TypeError) as exc:
                rejected.append((message, exc))
        flat = [
            b"SAVEPOINT batch",
            *(sql for _m, sqls, _t in rendered for sql in sqls),
            b"RELEASE SAVEPOINT batch",
        ]
        try:
            for start in range(0, len(flat), STATEMENTS_PER_ROUND_TRIP):
                cursor.execute(b";".join(flat[start : start + STATEMENTS_PER_ROUND_TRIP]))
            return [(m, [], t) for m, _sqls, t in rendered]
        except _RECORD_ERRORS:
            cursor.execute("ROLLBACK TO SAVEPOINT batch")
        written: list[tuple[Message, list[Statement], str]] = []
        for message, sqls, record_type in rendered:
            cursor.execute("SAVEPOINT record")
            try:
                if sqls:
                    cursor.execute(b";".join(sqls))
            except _RECORD_ERRORS as exc:
                cursor.execute("ROLLBACK TO SAVEPOINT record")
                rejected.append((message, exc))
                continue
            cursor.execute("RELEASE SAVEPOINT record")
            written.append((message, [], record_type))
        return written

    def _dead_letter(self, rejected: list[tuple[Message, BaseException]]) -> None:
        """Send the records that could not be written to the dead-letter topic and wait for
        the broker to have them (so a committed position never skips an unrecorded record)."""
        if not rejected:
            return
        if self._producer is None:
            self._producer = producer(self._connection)
        for message, exc in rejected:
            reason = f"{type(exc).__name__}: {str(exc).strip()}"[:1000]
            LOG.warning(
                "projection: %s[%s]@%s cannot be projected (%s); sent to %s",
                message.topic(),
                message.partition(),
                message.offset(),
                reason,
                catalog.DEAD_LETTERS.name,
            )
            key, value = dead_letters.for_message(
                self.codec,
                message,
                reason=reason,
                error_kind=type(exc).__name__,
                source=self.name,
            )
            produce(self._producer, catalog.DEAD_LETTERS.name, key, value)
            self.dead_lettered += 1
            metrics.DEAD_LETTERS.labels("projection", type(exc).__name__).inc()
        if self._producer.flush(30) != 0:
            raise ProjectionError(
                f"cannot send {len(rejected)} dead letters to {catalog.DEAD_LETTERS.name}: "
                "is the broker up? The batch was not committed"
            )

    def _take(self, batch: Sequence[Message]) -> list[Message]:
        """The records of a consumed batch; end-of-partition events update ``caught_up``."""
        messages = []
        for message in batch:
            where = (str(message.topic()), int(message.partition() or 0))
            error = message.error()
            if error is None:
                messages.append(message)
                self._at_end.discard(where)
            elif error.code() == KafkaError._PARTITION_EOF:
                self._at_end.add(where)
        return messages

    def _resume(self, exc: Exception, stop: threading.Event) -> None:
        """Wait for the database, reconnect, and seek back to the stored positions."""
        self.outages += 1
        self._caught_up.clear()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        LOG.warning(
            "projection paused: the database is unavailable (%s); the batch in flight was "
            "rolled back, retrying with backoff up to %.0f s, then resuming from the stored "
            "positions",
            detail,
            self.max_backoff_s,
        )
        paused = time.monotonic()
        self.database_lost = (paused, detail)
        delay = 0.2
        with contextlib.suppress(psycopg2.Error):
            self.db.close()
        waited_for_lock = False
        while not stop.is_set():
            try:
                self.db = self._connect()
                # The lock went with the old session: take it again before writing. While the
                # server still keeps the old session (a network cut it has not noticed) or
                # another projection has started meanwhile, wait: never write alongside it.
                lock(self.db, self.name, 0)
                self._assign()
            except _OUTAGE:
                pass
            except ProjectionLockError:
                with contextlib.suppress(psycopg2.Error):
                    self.db.close()
                if not waited_for_lock:
                    waited_for_lock = True
                    LOG.warning(
                        "projection waiting to resume: another session holds its lock (the "
                        "one from before the outage, or another projection)"
                    )
            else:
                LOG.warning(
                    "projection resumed after %.1f s from the stored positions",
                    time.monotonic() - paused,
                )
                self.database_lost = None
                return
            stop.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)

    def run(
        self,
        stop: threading.Event,
        *,
        exit_when_idle_s: float | None = None,
        until_end: bool = False,
    ) -> int:
        """Project until ``stop`` (or idle that long, or, with ``until_end``, until every
        partition has been read to its end); the number of records applied."""
        self.thread = threading.current_thread()
        try:
            self._run(stop, exit_when_idle_s, until_end)
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc}"[:300]
            raise
        return self.applied

    def _run(self, stop: threading.Event, exit_when_idle_s: float | None, until_end: bool) -> None:
        try:
            self._assign()
            idle_since = time.monotonic()
            while not stop.is_set():
                try:
                    messages = self._take(self.consumer.consume(500, timeout=0.2))
                    if messages:
                        self.watch.working()
                        self.apply_batch(messages)
                        self.watch.took(len(messages))
                        idle_since = time.monotonic()
                    else:
                        self.watch.took(0)  # nothing in hand
                    if len(self._at_end) == self._partitions:
                        if not self._caught_up.is_set():
                            self._caught_up_since = time.monotonic()
                            self._caught_up.set()
                        metrics.PROJECTION_LAG.set(0)
                        if until_end:
                            break
                    else:
                        self._caught_up.clear()
                    if (
                        not messages
                        and exit_when_idle_s is not None
                        and time.monotonic() - idle_since >= exit_when_idle_s
                    ):
                        break
                except _OUTAGE as exc:
                    self._resume(exc, stop)
                    idle_since = time.monotonic()
        finally:
            self.close()

    def close(self) -> None:
        """Let go of the broker and the database (and so of the lock)."""
        self.consumer.close()
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
        with contextlib.suppress(psycopg2.Error):
            self.db.close()

    def truncate(self) -> None:
        """Empty the projected tables and this projection's positions, in one transaction,
        under the lock this projection holds. Sequences are not restarted: a deviation cursor
        handed out before still reaches every row recorded after it (again, once)."""
        truncate_tables(self.db, self.name)


def rebuild(
    connection: KafkaConnection,
    database_url: str,
    codec: Codec,
    consumer_name: str = CONSUMER,
    stop: threading.Event | None = None,
    *,
    lock_wait_s: float = LOCK_WAIT_S,
) -> Projection:
    """Take the projection's lock (ProjectionLockError, naming what to stop, while another
    projection runs), truncate the projected tables and positions, then project every topic
    from its beginning to its current end; the projection that did it (``applied``,
    ``dead_lettered``)."""
    projection = Projection(connection, database_url, codec, consumer_name, lock_wait_s=lock_wait_s)
    try:
        projection.truncate()
    except BaseException:
        projection.close()
        raise
    projection.run(stop or threading.Event(), until_end=True)
    return projection
