"""The tracking core's worker: Kafka in, ``processors.core`` in the middle, Kafka out, exactly once.

Each batch of input records is processed inside one Kafka transaction that also holds every
output (IOT state, verdicts, deviations, bindings, dead letters), the changes of the core's
state (on the private compacted changelog topic) and the input offsets
(``send_offsets_to_transaction``). A crash anywhere aborts the whole batch: on restart the
state is rebuilt from the changelog, consumption resumes after the last committed batch, and the
batch is processed again, so nothing is lost and, for consumers reading committed records
(``isolation.level=read_committed``), nothing is published twice.

Why not faust here (design section 4, item 6): the core's state is global (the binding ledger
resolves any unit at any gate, paths are shared), not a table keyed like its input partitions;
and a crash test of faust-streaming 0.15.3 itself (one agent, concurrency 1, a Table, outputs
sent with ``topic.send``, the worker SIGKILLed 5-7 times per run against Kafka 4.1.1) lost
1,168, 1,226 and 1,787 of 3,000 outputs in three at-least-once runs (records dropped from the
agent's queue when recovery resumes flow, then committed past as offset gaps; clean SIGTERM
restarts lost them too), and duplicated 741 and 417 ids in two ``exactly_once`` runs (the
agent's output topic is not in faust's transactions). Configuration does not fix either, so this
loop uses confluent-kafka transactions instead. The integration test
``test_core_worker_killed_repeatedly_publishes_everything_once`` kills this loop at random
moments and checks nothing is lost or published twice, against ``iotrack replay``.

One worker consumes every partition of every input topic (the state is global); the state is
kept as versioned Avro records on a private topic written only by this worker
(``streams.workers.changelog``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from processors.core import Channel, CoreConfig, CoreState, Output, apply
from processors.parties import Sender
from streams.ops import metrics
from streams.workers.changelog import Stored, changelog_records, collector_paused, restore
from streams.workers.channels import topic_of
from streams.workers.core_metrics import BatchMetrics, CustomsView, deviation_node_label
from topics import catalog, dead_letters
from topics.clients import ClientWatch, KafkaConnection, consumer, produce, producer
from topics.codec import Codec, plain
from topics.errors import CatalogError, DecodeError

log = logging.getLogger(__name__)
SOURCE = "iotrack-core"
"""The ``source`` of the dead letters the core writes."""
GROUP = "tracking"
"""The core's consumer group, after its principal: ``service.core.tracking``."""
TRANSACTIONAL_ID = "tracking-1"
"""Its transactional id (and static group member id), after its principal too."""
TRANSACTION_CALL_S = 10.0
"""The bound on each transactional call and offset lookup: one that does not complete within
it (a broker away) is tried again, so the loop never sits in one call for good."""
RECOVERY_PAUSE_S = 1.0


def _is_fatal(error: KafkaError) -> bool:
    """A consumer's fatal error, however librdkafka hands it over (by ``error_cb`` or as a
    consumed message's error, with the fatal flag or only the code _FATAL, or as the fencing
    of its static membership itself)."""
    return error.fatal() or error.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID)


def read_changelog(connection: KafkaConnection) -> list[Stored]:
    """The latest record of every key on the changelog, read to its end (committed records
    only) by a consumer of its own signed in as ``connection``: what a starting core restores
    its state from (``bench.core_restore`` times this same read)."""
    reader = consumer(connection, "restore", **{"enable.partition.eof": True})
    latest: dict[bytes, Stored] = {}
    expected = 0
    try:
        reader.assign([TopicPartition(catalog.CORE_CHANGELOG.name, 0, 0)])
        while True:
            message = reader.poll(10)
            if message is None:  # not even the end: no broker to read it from
                raise KafkaException(
                    KafkaError(
                        KafkaError._TIMED_OUT,
                        f"{catalog.CORE_CHANGELOG.name}[0]@{expected}: no record within 10 s",
                        retriable=True,
                    )
                )
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    break
                raise KafkaException(error)
            key, value = message.key() or b"", message.value()
            expected = (message.offset() or 0) + 1
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = Stored(key, value, message.partition() or 0, message.offset() or 0)
    finally:
        reader.close()
    return list(latest.values())


@dataclass
class CoreStats:
    """What the worker did (the metrics issue exposes these)."""

    inputs: int = 0
    outputs: int = 0
    dead_letters: int = 0
    batches: int = 0
    commit_seconds: float = 0.0
    """Time spent in ``commit_transaction`` (the broker's two-phase commit), all batches."""
    offsets_seconds: float = 0.0
    """Time spent in ``send_offsets_to_transaction``, all batches."""


class CoreWorker:
    """Consume the core's inputs, apply, and publish in one transaction per batch."""

    def __init__(
        self,
        connection: KafkaConnection,
        codec: Codec,
        *,
        group: str = GROUP,
        transactional_id: str = TRANSACTIONAL_ID,
        batch_size: int = 500,
        inputs: Sequence[catalog.Topic] = catalog.CORE_INPUTS,
        config: CoreConfig | None = None,
    ) -> None:
        """``connection``: the core's own (``service.core``); ``group`` and
        ``transactional_id`` are named after its principal (``service.core.tracking``)."""
        self.connection = connection
        self.group = connection.own(group)
        self._group_name = group
        self.codec = codec
        self.batch_size = batch_size
        self.inputs = inputs
        self.stats = CoreStats()
        self.transactional_id = connection.own(transactional_id)
        self.watch = ClientWatch(also=metrics.lag_from_statistics(self.group))
        """What librdkafka tells of the consumer (broker reached, lag), and the loop's progress."""
        self.starting: tuple[float, str] | None = (time.monotonic(), "not started yet")
        """Since when, and why, the core is (re)starting from its last committed batch."""
        self.error: str | None = None
        """Why the loop stopped, once it has."""
        self._consumer_failed: str | None = None
        self.consumer = self._new_consumer()
        self.producer = self._new_producer()
        self._wedged = False
        self.config = config or CoreConfig()
        self._batch = BatchMetrics()
        self.state = CoreState(config=self.config)
        self.customs = CustomsView()
        for kind in (
            "consumer",
            "aborted_batch",
            "transaction_retry",
            "recovery",
            "wedged_producer",
        ):
            metrics.ERRORS.labels("core", kind)

    def _new_consumer(self) -> Consumer:
        """The consumer of the inputs, subscribed by ``run``; a fenced one is replaced."""
        return consumer(
            self.connection,
            self._group_name,
            **{
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                # Static membership: a restarted worker takes its partitions back at once instead
                # of waiting for the killed one's session to time out.
                "group.instance.id": self.transactional_id,
                "session.timeout.ms": 10000,
                # The topics of a party admitted while the core runs (a rail operator's
                # requests) match its subscription's patterns within this long.
                "topic.metadata.refresh.interval.ms": 10000,
                **self.watch.config(),
                "error_cb": self._on_consumer_error,
            },
        )

    def _on_consumer_error(self, error: KafkaError) -> None:
        self.watch.on_error(error)
        if _is_fatal(error):
            self._consumer_failed = error.str()

    def _new_producer(self) -> Producer:
        """The transactional producer; after a failed transaction a new one fences the old."""
        return producer(
            self.connection,
            **{
                "transactional.id": self.transactional_id,
                # Back-to-back transactions: the next batch's AddPartitionsToTxn and
                # AddOffsetsToTxn meet CONCURRENT_TRANSACTIONS while the coordinator still
                # writes the last commit's markers, and librdkafka retries after
                # retry.backoff.ms (100 ms, doubling to 1 s). The Java producer shortens this
                # retry for the same reason (KAFKA-5477). bench/core_worker, p50 at 100/s:
                # 60.6 -> 6.4 ms; send_offsets_to_transaction 51 -> 3 ms (BENCHMARKS.md).
                "retry.backoff.ms": 10,
                "retry.backoff.max.ms": 100,
            },
        )

    def _read_changelog(self) -> list[Stored]:
        return read_changelog(self.connection)

    def _send(self, topic: catalog.Topic, key: bytes | None, value: bytes | None) -> None:
        produce(self.producer, topic.name, key, value)

    def _publish(self, output: Output, message: Message) -> None:
        topic = topic_of(output)
        refused = output.channel is Channel.REFUSALS or (
            output.channel is Channel.REPLIES and output.schema is None
        )
        if refused and output.value is not None and "record" in output.value:
            self._dead_letter_kept(output, topic)
            return
        if refused:
            self._dead_letter(
                message,
                str((output.value or {}).get("reason")),
                str((output.value or {}).get("error_kind")),
                topic,
            )
            return
        if output.channel is Channel.REPLIES:
            assert output.value is not None  # noqa: S101 - a reply always has a record
            encoded = self.codec.encode(str(output.schema), output.value, topic=topic.name)
            self._send(topic, output.key.encode(), encoded)
        elif output.value is None or output.schema is None:
            self._send(topic, output.key.encode(), None)
        else:
            encoded = self.codec.encode(output.schema, output.value, topic=topic.name)
            self._send(topic, topic.key_of(output.value), encoded)
            if output.schema == "iotrack.Deviation":
                node = deviation_node_label(self.state.paths, output.value.get("node_id"))
                self._batch.deviations[(str(output.value["kind"]), node)] += 1
        if output.channel is Channel.IOT_STATE:
            self._batch.statuses[output.key] = (
                None if output.value is None else str(output.value["status"])
            )
        elif output.channel is Channel.VERDICT_BY_IOT:
            self._batch.holds[output.key] = tuple(
                (str(h["agency"]), int(h["placed_at"]))
                for h in (output.value or {}).get("open_holds") or ()
            )
        self._batch.outputs[topic.name] += 1
        self.stats.outputs += 1

    def _dead_letter_kept(self, output: Output, topic: catalog.Topic) -> None:
        """The dead letter of an input the core kept and gave up on (its wait passed)."""
        assert output.value is not None  # noqa: S101 - checked by the caller
        record_type = str(output.value["record_type"])
        sender = Sender.of(str(output.value["sender"]))
        key, value = dead_letters.for_record(
            self.codec,
            record_type,
            output.value["record"],
            topic=catalog.input_topic(record_type, sender).name,
            reason=str(output.value["reason"]),
            error_kind=str(output.value["error_kind"]),
            source=SOURCE,
        )
        self._send(topic, key, value)
        if topic is catalog.DEAD_LETTERS:
            self._batch.dead_letters[str(output.value["error_kind"])] += 1
            self.stats.dead_letters += 1

    def _dead_letter(
        self,
        message: Message,
        reason: str,
        kind: str,
        topic: catalog.Topic = catalog.DEAD_LETTERS,
    ) -> None:
        key, value = dead_letters.for_message(
            self.codec, message, reason=reason, error_kind=kind, source=SOURCE
        )
        self._send(topic, key, value)
        if topic is catalog.DEAD_LETTERS:
            self._batch.dead_letters[kind] += 1
            self.stats.dead_letters += 1

    def handle(self, message: Message) -> None:
        """Decode one input and apply it as its channel's party sent it; what cannot be decoded,
        or is not a record the topic carries, becomes a dead letter."""
        where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        value = message.value()
        if value is None:
            return  # a tombstone on a compacted input: nothing to apply
        try:
            topic = catalog.topic_named(str(message.topic()))
            sender = catalog.sender_of(topic)
        except CatalogError as exc:  # only subscribed topics arrive: a catalogue fault
            self._dead_letter(message, str(exc), type(exc).__name__)
            return
        try:
            decoded = self.codec.decode(value, topic=where)
        except DecodeError as exc:
            self._dead_letter(message, str(exc), type(exc).__name__)
            return
        if decoded.schema not in topic.schemas:
            self._dead_letter(
                message,
                f"{where}: {decoded.schema} is not a record {topic.name} carries "
                f"({', '.join(topic.schemas)})",
                "UnexpectedRecordTypeError",
            )
            return
        self.stats.inputs += 1
        self._batch.inputs[decoded.schema] += 1
        if decoded.schema == "iotrack.Passage":
            self._batch.passage_times.append(message.timestamp()[1] / 1000)
        self.state, outputs = apply(self.state, decoded.schema, plain(decoded.value), sender)
        for output in outputs:
            self._publish(output, message)

    def _commit_batch(self, stop: threading.Event) -> None:
        changelog = changelog_records(self.state, self.codec)
        for key, changed in changelog:
            self._send(catalog.CORE_CHANGELOG, key, changed)
        positions = [p for p in self.consumer.position(self.consumer.assignment()) if p.offset >= 0]
        started = time.perf_counter()
        metadata = self.consumer.consumer_group_metadata()
        self._bounded(
            "send_offsets_to_transaction",
            lambda timeout: self.producer.send_offsets_to_transaction(positions, metadata, timeout),
            stop,
        )
        offsets_took = time.perf_counter() - started
        self.stats.offsets_seconds += offsets_took
        started = time.perf_counter()
        self._bounded("commit_transaction", self.producer.commit_transaction, stop)
        self.stats.commit_seconds += time.perf_counter() - started
        self.stats.batches += 1
        batch, self._batch = self._batch, BatchMetrics()
        batch.publish(time.perf_counter() - started + offsets_took)
        self.customs.update(batch)
        self.customs.take_waiting(self.state, (key.decode() for key, _ in changelog))
        self.customs.export(self.state.watermark)

    def _bounded(self, what: str, call: Callable[[float], object], stop: threading.Event) -> None:
        """``call(timeout)`` until it completes; an error librdkafka calls retriable (a timeout,
        a coordinator away) is tried again, any other raised, as is any error once stopping."""
        while True:
            try:
                self._call_within(what, call)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if stop.is_set() or not isinstance(error, KafkaError) or not error.retriable():
                    raise
                metrics.ERRORS.labels("core", "transaction_retry").inc()
                log.warning("core: %s did not complete (%s); trying again", what, error.str())

    def _call_within(self, what: str, call: Callable[[float], object]) -> None:
        """``call(TRANSACTION_CALL_S)`` on a thread of its own, waited for twice as long and 5 s
        more. librdkafka 2.16.0's send_offsets_to_transaction stayed blocked for good, past its
        timeout, after the broker came back (its issues 5456 and 5511: the coordinator
        request's timeout is never checked); such a producer is left behind, blocked, and a
        new one fences it."""
        done = threading.Event()
        raised: list[BaseException] = []

        def target() -> None:
            try:
                call(TRANSACTION_CALL_S)
            except BaseException as exc:  # handed to the waiting thread
                raised.append(exc)
            finally:
                done.set()

        threading.Thread(target=target, name=f"core-{what}", daemon=True).start()
        if not done.wait(2 * TRANSACTION_CALL_S + 5):
            self._wedged = True
            metrics.ERRORS.labels("core", "wedged_producer").inc()
            reason = f"{what} did not return within {2 * TRANSACTION_CALL_S + 5:.0f} s"
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, reason, fatal=True))
        if raised:
            raise raised[0]

    def _start_from_committed(self, stop: threading.Event, *, again: bool = False) -> None:
        """Start (or start again) from the last committed batch: a new producer with the
        same transactional id fences the old one and waits until its transactions are complete
        (so the changelog read next holds every committed batch and none aborted); again, the
        consumer goes back to the offsets committed with the last batch (a failed consumer is
        replaced by a new one, which resumes from them); the state is restored from the
        changelog. A batch
        that was not committed is then consumed and applied again."""
        self.starting = (time.monotonic(), "restoring the state" if not again else "recovering")
        while not stop.is_set():
            try:
                if not self._wedged:  # a blocked call still holds the one left behind
                    self.producer.purge()
                self.producer, self._wedged = self._new_producer(), False
                self._bounded("init_transactions", self.producer.init_transactions, stop)
                if again and self._consumer_failed is None:
                    self._rewind()
                elif again:
                    # A new member with the same static id takes the failed one's place and its
                    # partitions, from the offsets committed with the last batch.
                    self._consumer_failed = None
                    old, self.consumer = self.consumer, self._new_consumer()
                    self._subscribe()
                    try:
                        old.close()
                    except (KafkaException, RuntimeError) as exc:  # fenced, or closed already
                        log.info("core: the old consumer did not close cleanly (%s)", exc)
                with collector_paused():
                    self.state = restore(self._read_changelog(), self.codec, self.config)
                self.customs.rebuild(self.state)
                self.starting = None
                self.watch.took(0)  # the batch in hand, if any, is given up: not stuck on it
                if again:
                    metrics.ERRORS.labels("core", "recovery").inc()
                    log.info(
                        "core: restored from the changelog; going on from the committed offsets"
                    )
                return
            except KafkaException as exc:
                log.warning("core: cannot start from the committed state yet (%s)", exc)
                self.starting = (self.starting or (time.monotonic(), ""))[0], str(exc)
                stop.wait(RECOVERY_PAUSE_S)

    def _rewind(self) -> None:
        """Back to the offsets committed with the last batch, on every partition held (a
        partition assigned later starts from its committed offset anyway)."""
        held = self.consumer.assignment()
        for committed in self.consumer.committed(held, timeout=TRANSACTION_CALL_S) if held else []:
            offset = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(committed.topic, committed.partition, offset))

    def _subscribe(self) -> None:
        # Every rail operator's requests too, by pattern: an operator admitted while the core
        # runs is picked up at the next metadata refresh.
        self.consumer.subscribe(
            [*(t.name for t in self.inputs), *(f.pattern for f in catalog.ADMITTED_INPUTS)]
        )

    def run(self, stop: threading.Event, *, exit_when_idle_s: float | None = None) -> CoreStats:
        """Work until ``stop`` (or, for tests and replays, until idle that long)."""
        self._start_from_committed(stop)
        self.customs.export(self.state.watermark)
        self._subscribe()
        idle_since = time.monotonic()
        try:
            while not stop.is_set():
                # Wait for the first record only; then take what is already there, so a quiet
                # gate's passage is not held back to fill a batch.
                messages = self.consumer.consume(1, timeout=0.2)
                if messages:
                    messages += self.consumer.consume(self.batch_size - 1, timeout=0)
                for message in messages:
                    error = message.error()
                    if error is not None and _is_fatal(error):
                        self._consumer_failed = error.str()
                if self._consumer_failed is not None:
                    # Fenced (its coordinator came back and took another member for it): a
                    # consumer with a fatal error delivers nothing more, for good.
                    log.warning("core: the consumer failed (%s)", self._consumer_failed)
                    metrics.ERRORS.labels("core", "consumer").inc()
                    self._start_from_committed(stop, again=True)
                    continue
                failed = sum(m.error() is not None for m in messages)
                if failed:
                    metrics.ERRORS.labels("core", "consumer").inc(failed)
                    messages = [m for m in messages if m.error() is None]
                if not messages:
                    if exit_when_idle_s is not None and (
                        time.monotonic() - idle_since >= exit_when_idle_s
                    ):
                        break
                    continue
                idle_since = time.monotonic()
                self.watch.working()
                before = replace(self.stats)
                try:
                    self.producer.begin_transaction()
                    for message in messages:
                        self.handle(message)
                    self._commit_batch(stop)
                    self.watch.took(len(messages))
                except KafkaException as exc:
                    # The broker went away, the transaction timed out or was fenced: redo the
                    # batch from the last one committed, as a restarted worker would.
                    metrics.ERRORS.labels("core", "aborted_batch").inc()
                    self._batch, self.stats = BatchMetrics(), before
                    log.warning("core: batch of %d not committed (%s)", len(messages), exc)
                    self._start_from_committed(stop, again=True)
                except Exception as exc:
                    metrics.ERRORS.labels("core", "aborted_batch").inc()
                    self.error = f"{type(exc).__name__}: {exc}"[:300]
                    self.producer.abort_transaction(TRANSACTION_CALL_S)
                    self._batch = BatchMetrics()
                    raise
        finally:
            self.consumer.close()
        return self.stats
