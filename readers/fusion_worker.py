"""The fusion worker: raw reads from Kafka -> ``processors.fusion`` -> passages to Kafka.

Raw reads are keyed by read point, so every read of one lane arrives on one partition, in order.
Offsets are committed only after the passages they produced are acknowledged, and never past
the first read of a passage still open, so a restart replays exactly the reads that may still
matter. The same reads give the same passages with the same ids; to keep a replay from turning
the tail of an already emitted passage into a new one, each commit carries, as offset metadata,
when the last emitted passage of each lane on that partition ended (``FusionState.emitted_until``).

A record that does not decode, or is not a raw read, goes to the dead-letter topic with its
topic, partition, offset and reason, and the worker goes on. So does a fused passage the broker
refuses for good (too large: a lane read thousands of distinct codes within its window), with
the reads it came from named in the reason; the commit then moves past it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from processors.errors import MalformedRecord
from processors.events import RawRead, parse
from processors.fusion import FusionConfig, FusionState, LaneKey, advance, flush
from processors.ids import deterministic_uuid7
from topics import dead_letters
from topics.catalog import DEAD_LETTERS, PASSAGES, RAW_READS
from topics.clients import ClientWatch, KafkaConnection, consumer, producer, refused_for_good
from topics.codec import Codec, plain
from topics.errors import CatalogError, DecodeError, EncodeError

log = logging.getLogger(__name__)
SOURCE = "iotrack-fusion"
"""The ``source`` of the dead letters fusion writes."""
GROUP = "passages"
"""Fusion's consumer group, after its principal: ``service.fusion.passages``."""
# A lane quiet for this long (wall clock) closes its passage without waiting for a later read.
IDLE_FLUSH_S = 5.0
_METADATA_HORIZON_MS = 60 * 60 * 1000


_COMMIT_LATER = frozenset(
    {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._WAIT_COORD,
        KafkaError._ALL_BROKERS_DOWN,
    }
)


def _commit_later(error: KafkaError) -> bool:
    """Whether a failed commit is one the coordinator may take later (moved, loading, away)."""
    return error.retriable() or error.code() in _COMMIT_LATER


@dataclass
class FusionStats:
    """What the worker did (the metrics issue exposes these)."""

    reads: int = 0
    passages: int = 0
    dead_letters: int = 0
    repairs: dict[str, int] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    """Dead letters by kind of error."""
    errors: int = 0
    """Errors the consumer reported and the worker went on from."""


class FusionWorker:
    """Consume raw reads, fuse, produce passages; at-least-once with harmless replays."""

    def __init__(
        self,
        connection: KafkaConnection,
        codec: Codec,
        *,
        group: str = GROUP,
        config: FusionConfig | None = None,
        commit_every_s: float = 1.0,
        idle_flush_s: float = IDLE_FLUSH_S,
        statistics: Callable[[str], None] | None = None,
    ) -> None:
        """``statistics``: a librdkafka ``stats_cb`` for the consumer (every second), e.g. the
        lag metric of a shell that exports metrics."""
        self.codec = codec
        self.config = config or FusionConfig()
        self.commit_every_s = commit_every_s
        self.idle_flush_s = idle_flush_s
        self.state = FusionState()
        self.stats = FusionStats()
        # Each open passage (lane, id of its first read) -> where its first read is in the log.
        self._first_offset: dict[tuple[LaneKey, str], tuple[int, int]] = {}
        self._lane_partition: dict[LaneKey, int] = {}
        self._next_offset: dict[int, int] = {}
        self._failed: list[str] = []
        self._refused: list[tuple[Message, str]] = []
        self.watch = ClientWatch(also=statistics)
        """Whether the consumer reaches the broker, how far behind it is, since when it took
        nothing (readiness)."""
        self.thread: threading.Thread | None = None
        """The thread ``run`` runs on, once it runs."""
        self.error: str | None = None
        """Why ``run`` ended with an error, if it did."""
        self.group = connection.own(group)
        self.consumer = consumer(
            connection,
            group,
            **{
                "auto.offset.reset": "earliest",
                **self.watch.config(),
            },
        )
        self.producer = producer(connection)

    # -- assignment: pick up where the last commit left, including the emitted-until marks
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        emitted = dict(self.state.emitted_until)
        for committed in consumer.committed(partitions, timeout=30):
            if committed.metadata:
                try:
                    marks = json.loads(committed.metadata)
                except ValueError:
                    continue
                for lane, until in marks.items():
                    read_point, _, lane_name = lane.partition("|")
                    key = (read_point, lane_name)
                    emitted[key] = max(emitted.get(key, -1), int(until))
                    self._lane_partition[key] = committed.partition
        self.state = replace(self.state, emitted_until=emitted)

    def _deliver(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        if message.topic() == PASSAGES.name and refused_for_good(error):
            self._refused.append((message, error.str()))
        else:
            self._failed.append(f"{message.topic()}: {error.str()}")

    def _dead_letter_refused(self) -> None:
        """Passages the broker refused for good, dead-lettered with their (bounded) bytes."""
        refused, self._refused = self._refused, []
        for message, reason in refused:
            value = message.value() or b""
            now = int(time.time() * 1000)
            letter = dead_letters.value(
                event_id=deterministic_uuid7(now, "dead-letter", GROUP, str(len(value)), reason),
                source=GROUP,
                occurred_at=now,
                original_key=message.key(),
                original_value=value,
                reason=f"the broker refused a fused passage for good: {reason}",
                error_kind="PassageRefused",
                source_topic=PASSAGES.name,
            )
            encoded = self.codec.encode("iotrack.DeadLetter", letter, topic=DEAD_LETTERS.name)
            self.producer.produce(
                DEAD_LETTERS.name,
                value=encoded,
                key=DEAD_LETTERS.key_of(letter),
                on_delivery=self._deliver,
            )
            self.stats.dead_letters += 1
            reasons = self.stats.dead_letter_reasons
            reasons["PassageRefused"] = reasons.get("PassageRefused", 0) + 1
            log.error("fusion: %s; dead-lettered", letter["reason"])

    def _produce_passages(self, passages: Sequence[dict[str, Any]]) -> None:
        for passage in passages:
            value = self.codec.encode("iotrack.Passage", passage, topic=PASSAGES.name)
            self.producer.produce(
                PASSAGES.name, value=value, key=PASSAGES.key_of(passage), on_delivery=self._deliver
            )
            self.stats.passages += 1
            for evidence in passage["evidence"]:
                if evidence["repair"]:
                    outcome = evidence["repair"]
                    self.stats.repairs[outcome] = self.stats.repairs.get(outcome, 0) + 1

    def _dead_letter(self, message: Message, reason: str, kind: str) -> None:
        key, value = dead_letters.for_message(
            self.codec, message, reason=reason, error_kind=kind, source=SOURCE
        )
        self.producer.produce(DEAD_LETTERS.name, value=value, key=key, on_delivery=self._deliver)
        self.stats.dead_letters += 1
        reasons = self.stats.dead_letter_reasons
        reasons[kind] = reasons.get(kind, 0) + 1

    def handle(self, message: Message) -> None:
        """Decode one raw read, fuse it, produce what closed."""
        partition, offset = int(message.partition() or 0), int(message.offset() or 0)
        self._next_offset[partition] = offset + 1
        where = f"{message.topic()}[{partition}]@{offset}"
        try:
            decoded = self.codec.decode(message.value() or b"", topic=where)
            is_read = decoded.schema == "iotrack.RawRead"
            read = parse(decoded.schema, plain(decoded.value)) if is_read else None
        except (DecodeError, MalformedRecord) as exc:
            self._dead_letter(message, str(exc), type(exc).__name__)
            return
        if not isinstance(read, RawRead):
            self._dead_letter(
                message,
                f"{where}: a {decoded.schema} on the raw reads topic",
                "UnexpectedRecordTypeError",
            )
            return
        key = (read.read_point_id, read.lane or "")
        self._lane_partition[key] = partition
        self.state, passages = advance(self.state, read, self.config)
        for passage in self.state.open.get(key, ()):
            self._first_offset.setdefault((key, passage.first_event_id), (partition, offset))
        self._forget_closed()
        self.stats.reads += 1
        try:
            self._produce_passages(passages)
        except (EncodeError, CatalogError) as exc:  # a bug, not bad input: stop loudly
            raise RuntimeError(f"cannot encode a passage fused from {where}: {exc}") from exc

    def _forget_closed(self) -> None:
        still_open = {
            (key, p.first_event_id) for key, group in self.state.open.items() for p in group
        }
        for tracked in [t for t in self._first_offset if t not in still_open]:
            del self._first_offset[tracked]

    def flush_idle(self) -> None:
        """Close every open passage (the gate has been quiet)."""
        self.state, passages = flush(self.state, None, self.config)
        self._forget_closed()
        self._produce_passages(passages)

    def commit(self) -> None:
        """Wait for every produced record, then commit what is safe to skip on a restart.

        Nothing is committed while a record produced is not acknowledged yet (a broker away:
        the flush timed out), so a restart never skips reads whose passages were lost with the
        process; and a commit the group coordinator cannot take now (it moved to another
        broker, it is still loading, the brokers are away) is left for the next round, as
        committing later is always safe. Before, either stopped fusion for good: with two of
        three brokers away and back, "Coordinator load in progress" ended its thread."""
        unacknowledged = self.producer.flush(30)
        if self._refused:
            self._dead_letter_refused()
            unacknowledged = self.producer.flush(30)
        if self._failed:
            failures, self._failed = self._failed, []
            raise RuntimeError(f"the broker refused fused output: {failures[0]}")
        if unacknowledged:
            log.warning(
                "fusion: %d records not acknowledged yet; the commit waits for them",
                unacknowledged,
            )
            return
        positions = dict(self._next_offset)
        for partition, offset in self._first_offset.values():
            positions[partition] = min(positions.get(partition, offset), offset)
        if not positions:
            return
        horizon = max(self.state.watermarks.values(), default=0) - _METADATA_HORIZON_MS
        offsets = []
        for partition, offset in positions.items():
            marks = {
                f"{lane[0]}|{lane[1]}": until
                for lane, until in self.state.emitted_until.items()
                if self._lane_partition.get(lane) == partition and until >= horizon
            }
            offsets.append(
                TopicPartition(
                    RAW_READS.name,
                    partition,
                    offset,
                    metadata=json.dumps(marks, separators=(",", ":")),
                )
            )
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or not _commit_later(error):
                raise
            self.stats.errors += 1
            log.warning("fusion: commit not taken (%s); committing at the next round", error.str())

    def run(self, stop: threading.Event, *, exit_when_idle_s: float | None = None) -> FusionStats:
        """Work until ``stop`` is set (or, for replays, until idle for ``exit_when_idle_s``)."""
        self.thread = threading.current_thread()
        try:
            return self._run(stop, exit_when_idle_s)
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc}"[:300]
            log.exception("fusion stopped")
            raise

    def _run(self, stop: threading.Event, exit_when_idle_s: float | None) -> FusionStats:
        self.consumer.subscribe([RAW_READS.name], on_assign=self._on_assign)
        last_commit = last_message = time.monotonic()
        flushed = True
        try:
            while not stop.is_set():
                message = self.consumer.poll(0.2)
                now = time.monotonic()
                if message is not None and message.error() is None:
                    self.watch.working()
                    self.handle(message)
                    self.watch.took()
                    last_message, flushed = now, False
                elif message is not None:
                    log.warning("consumer: %s", message.error())
                    self.stats.errors += 1
                if not flushed and now - last_message >= self.idle_flush_s:
                    self.flush_idle()
                    flushed = True
                if now - last_commit >= self.commit_every_s:
                    self.commit()
                    last_commit = now
                if (
                    exit_when_idle_s is not None
                    and flushed
                    and now - last_message >= exit_when_idle_s
                ):
                    break
            self.commit()
        finally:
            self.consumer.close()
        return self.stats
