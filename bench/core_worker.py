"""The tracking core's worker: throughput and end-to-end latency, against a bare loop.

* throughput: a backlog of passages (units bound beforehand) is drained by one worker; events/s
  from its first to its last committed transaction. Baseline, in the same process against the
  same broker: a bare confluent-kafka loop that consumes the same backlog, decodes each record,
  encodes one output and produces it, committing offsets every second (no transactions).
* latency: passages produced at a fixed rate (100/s, 1,000/s) for bound, unreleased units at
  their exit gate, each of which makes the core publish an EXIT_WITHOUT_RELEASE deviation;
  latency = deviation visible to a ``read_committed`` consumer minus the passage's send time,
  split into the passage's own delivery (send to the broker's acknowledgement) and the core's
  share (acknowledgement to deviation visible). Each rate runs twice: through a new producer
  (as every run did before, the first ~0.5 s of passages then wait for it to sign in, fetch
  metadata and take its producer id) and through a warm one (one unmeasured passage sent and
  acknowledged first), as fusion's long-lived producer is. The worker runs in a process of its
  own, as under ``iotrack run``, so it does not wait for the benchmark's threads.

Every client signs in as the party it plays (passages as fusion, the worker and the bare loop
as the core, the latency reader as Customs, progress checks as the administrator).

Run: ``.venv/bin/python -m bench.core_worker [--backlog N] [--seconds S] [--security MODE]``; a
throwaway local broker is started unless ``KAFKA_BOOTSTRAP_SERVERS`` is set: with SASL/SCRAM
and ACLs (``sasl``, the default), or for comparison without (``none``), or one after the other
(``both``, figures side by side).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Event as EventType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer, TopicPartition

from bench.brokers import MODES, Broker, broker, modes, print_side_by_side
from processors.identifiers import container
from processors.ids import deterministic_uuid7
from streams.kafka.reading import committed_up_to_end
from streams.replay.publish import publish
from streams.workers.core import CoreStats, CoreWorker
from topics import catalog
from topics.clients import KafkaConnection, consumer, producer
from topics.codec import SingleObjectCodec
from topics.parties import CORE, CUSTOMS, FUSION

CODEC = SingleObjectCodec()
T0 = 1_795_600_000_000
PATH = {
    "type": "iotrack.MissionPathDefined",
    "value": {
        "event_id": str(uuid.UUID(int=1)),
        "source": "bench",
        "occurred_at": T0,
        "mission_path_id": "BENCH",
        "version": 1,
        "defined_by": "bench",
        "nodes": [
            {"node_id": "QUAY", "kind": "TERMINAL", "role": "DEPARTURE"},
            {"node_id": "GATE", "kind": "PORT_GATE", "role": "DESTINATION"},
        ],
        "legs": [{"from_node": "QUAY", "to_node": "GATE", "time_budget_ms": 30 * 86_400_000}],
    },
}


def _unit(n: int) -> str:
    body = f"BNC{'U'}{n:06d}"
    return body + container.check_digit(body)


def _bindings(start: int, count: int) -> list[str]:
    return [
        json.dumps(
            {
                "type": "iotrack.BindingRequested",
                "value": {
                    "event_id": deterministic_uuid7(T0 + n, "bench-bind", str(n)),
                    "source": "bench",
                    "occurred_at": T0 + n,
                    "request_id": f"B-{n}",
                    "mrns": ["06DE586600006143E1"],
                    "itus": [{"kind": "CONTAINER", "value": _unit(n)}],
                    "mission_path_id": "BENCH",
                    "requested_by": "bench",
                },
            }
        )
        for n in range(start, start + count)
    ]


def _passage(n: int, at: int) -> dict[str, object]:
    return {
        "event_id": deterministic_uuid7(at, "bench-passage", str(n)),
        "source": "bench",
        "occurred_at": at,
        "read_point_id": f"GATE-L{n % 4}",
        "node_id": "GATE",
        "lane": "1",
        "direction": "OUT",
        "started_at": at,
        "ended_at": at,
        "identifiers": [
            {
                "kind": "CONTAINER",
                "value": _unit(n),
                "country": None,
                "seal_class": None,
                "issuer": None,
            }
        ],
        "iot_ids": [],
        "evidence": [],
        "sensors_agree": True,
        "iso_size_type": None,
        "mrns": [],
    }


@dataclass
class Sent:
    """When each passage was handed to the producer and when the broker acknowledged it, by
    event id."""

    at: dict[str, float] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)


def _produce_passages(
    kafka: Broker, numbers: range, rate: float | None, *, warm: int | None = None
) -> Sent:
    """``numbers``' passages, paced at ``rate`` (as fast as they go without). ``warm``: the
    number of a passage sent and acknowledged first, unmeasured, so that the paced ones go
    through a producer that has already signed in, fetched metadata and taken its producer id,
    as fusion's long-lived one has; without it the first half second of passages waits for all
    that."""
    out = producer(kafka.connect(FUSION), **{"linger.ms": 0 if rate else 5, "log_level": 0})
    if warm is not None:
        _send(out, warm, Sent())
        out.flush(60)
    sent = Sent()
    started = time.perf_counter()
    for k, n in enumerate(numbers):
        if rate:
            due = started + k / rate
            # Waiting in poll serves each acknowledgement as it comes, so its time is when
            # the broker's answer arrived, not when the next passage is due.
            while (wait := due - time.perf_counter()) > 0:
                out.poll(wait)
        _send(out, n, sent)
    out.flush(60)
    return sent


def _send(out: Producer, n: int, sent: Sent) -> None:
    value = _passage(n, T0 + 10_000_000 + n)
    event_id = str(value["event_id"])
    sent.at[event_id] = time.time()

    def acked(error: KafkaError | None, _message: Message) -> None:
        if error is None:
            sent.acked[event_id] = time.time()

    out.produce(
        catalog.PASSAGES.name,
        key=catalog.PASSAGES.key_of(value),
        value=CODEC.encode("iotrack.Passage", value),
        on_delivery=acked,
    )
    out.poll(0)


def _transactions(stats: CoreStats) -> str:
    batches = max(1, stats.batches)
    return (
        f"{stats.batches} transactions of {stats.inputs / batches:.1f} events on average, "
        f"commit_transaction {1000 * stats.commit_seconds / batches:.1f} ms and "
        f"send_offsets_to_transaction {1000 * stats.offsets_seconds / batches:.1f} ms each"
    )


class WorkerProcess:
    """The core's worker in a process of its own, as ``iotrack run`` has it: the latency
    figures then do not count the time it waits for the benchmark's own threads (the paced
    producer, the measuring reader) to give up the interpreter's lock."""

    def __init__(self, kafka: Broker, group: str) -> None:
        self.group = kafka.connect(CORE).own(group)
        context = multiprocessing.get_context("spawn")
        self._measuring, self._stop = context.Event(), context.Event()
        self._stats: multiprocessing.Queue[dict[str, Any]] = context.Queue()
        self._process = context.Process(
            target=_work,
            args=(kafka.connect(CORE), group, self._measuring, self._stop, self._stats),
            daemon=True,
        )
        self._process.start()

    def measuring(self) -> None:
        """From now on count what the worker does."""
        self._measuring.set()

    def stop(self) -> CoreStats:
        """Stop the worker; what it did since ``measuring``."""
        self._stop.set()
        stats = CoreStats(**self._stats.get(timeout=60))
        self._process.join(30)
        return stats


def _work(
    connection: KafkaConnection,
    group: str,
    measuring: EventType,
    stop: EventType,
    stats: multiprocessing.Queue[dict[str, Any]],
) -> None:
    worker = CoreWorker(connection, CODEC, group=group, transactional_id=f"{group}-tx")
    stopping = threading.Event()

    def watch() -> None:
        measuring.wait()
        worker.stats = CoreStats()
        stop.wait()
        stopping.set()

    threading.Thread(target=watch, daemon=True).start()
    stats.put(asdict(worker.run(stopping)))


def _run_worker(kafka: Broker, stop: threading.Event, group: str) -> CoreWorker:
    worker = CoreWorker(kafka.connect(CORE), CODEC, group=group, transactional_id=f"{group}-tx")
    threading.Thread(target=worker.run, args=(stop,), daemon=True).start()
    return worker


def _taken(kafka: Broker, worker: CoreWorker | WorkerProcess, topics: list[catalog.Topic]) -> bool:
    return committed_up_to_end(kafka.administrator, worker.group, topics)


def throughput(kafka: Broker, backlog: int) -> tuple[float, float]:
    """(core events/s, bare loop events/s) over the same backlog of passages."""
    _produce_passages(kafka, range(backlog), None)
    stop = threading.Event()
    group = f"bench-core-{uuid.uuid4().hex[:6]}"
    # The bindings were applied by an earlier worker with another group: this one rebuilds
    # its state from the changelog, then starts on the passages.
    started = time.perf_counter()
    worker = _run_worker(kafka, stop, group)
    while worker.stats.inputs < backlog + 1 or not _taken(kafka, worker, [catalog.PASSAGES]):
        time.sleep(0.05)
    core_rate = worker.stats.inputs / (time.perf_counter() - started)
    stop.set()
    print(f"  (core: {_transactions(worker.stats)})")

    # The bare loop plays the core: it reads passages and writes deviations.
    core = kafka.connect(CORE)
    bare_in = consumer(
        core, f"bench-bare-{uuid.uuid4()}", **{"auto.offset.reset": "earliest", "log_level": 0}
    )
    bare_out = producer(core, log_level=0)
    bare_in.subscribe([catalog.PASSAGES.name])
    handled, last_commit = 0, time.perf_counter()
    started = time.perf_counter()
    total = _end_total(kafka)
    while handled < total:
        for message in bare_in.consume(500, timeout=0.2):
            if message.error() or message.value() is None:
                continue
            decoded = CODEC.decode(message.value() or b"")
            value = {**decoded.value, "source": "bare"}
            bare_out.produce(
                catalog.DEVIATIONS.name,
                key=message.key(),
                value=CODEC.encode(decoded.schema, value),
            )
            bare_out.poll(0)
            handled += 1
        if time.perf_counter() - last_commit >= 1:
            bare_out.flush(30)
            bare_in.commit(asynchronous=False)
            last_commit = time.perf_counter()
    bare_out.flush(30)
    bare_rate = handled / (time.perf_counter() - started)
    bare_in.close()
    return core_rate, bare_rate


def _end_total(kafka: Broker) -> int:
    probe = consumer(kafka.administrator, "bench-probe", log_level=0)
    try:
        return sum(
            probe.get_watermark_offsets(TopicPartition(catalog.PASSAGES.name, p))[1]
            for p in range(catalog.PASSAGES.partitions)
        )
    finally:
        probe.close()


@dataclass(frozen=True)
class Latency:
    """Milliseconds per passage sent at a rate and whose deviation was seen: end to end (sent
    to deviation visible), and its two parts, the passage's own delivery (sent to acknowledged
    by the broker) and the core's share (acknowledged to deviation visible)."""

    end_to_end: list[float]
    delivery: list[float]
    core: list[float]


def latency(kafka: Broker, numbers: range, rate: float, *, warm: int | None) -> Latency:
    """Passages sent at ``rate``, each timed to its deviation visible; ``warm`` as for
    ``_produce_passages``."""
    group = f"bench-lat-{uuid.uuid4().hex[:6]}"
    # The measuring reader (a Customs officer's screen) asks the broker often, so its own fetch
    # wait stays out of the figure.
    reader = consumer(
        kafka.connect(CUSTOMS),
        f"{group}-reader",
        **{
            "isolation.level": "read_committed",
            "auto.offset.reset": "latest",
            "fetch.wait.max.ms": 10,
            "log_level": 0,
        },
    )
    reader.subscribe([catalog.DEVIATIONS.name])
    while not reader.assignment():
        reader.poll(0.1)
    worker = WorkerProcess(kafka, group)
    # A new group starts from the beginning of every input: measure only once it has caught up
    # (the bindings topic, written in transactions, ends with markers and is left out).
    inputs = [t for t in catalog.CORE_INPUTS if t is not catalog.BINDINGS]
    while not _taken(kafka, worker, inputs):
        time.sleep(0.1)
    worker.measuring()
    seen: dict[str, float] = {}
    done = threading.Event()

    def collect() -> None:
        while not done.is_set():
            message = reader.poll(0.05)
            if message is None or message.error() or message.value() is None:
                continue
            value = CODEC.decode(message.value() or b"").value
            seen[str(value["caused_by_event_id"])] = time.time()

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    sent = _produce_passages(kafka, numbers, rate, warm=warm)
    deadline = time.monotonic() + 60
    while len([k for k in sent.at if k in seen]) < len(sent.at) and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    thread.join()
    stats = worker.stop()
    reader.close()
    print(f"  (at {rate}/s, {'warm' if warm is not None else 'cold'}: {_transactions(stats)})")
    both = [k for k in sent.at if k in seen and k in sent.acked]
    return Latency(
        end_to_end=[1000 * (seen[k] - sent.at[k]) for k in sent.at if k in seen],
        delivery=[1000 * (sent.acked[k] - sent.at[k]) for k in both],
        core=[1000 * (seen[k] - sent.acked[k]) for k in both],
    )


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "none"
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return f"{statistics.median(ordered):.1f} / {p99:.1f}"


def measure(kafka: Broker, backlog: int, seconds: float) -> dict[str, str]:
    """Every figure of one broker, printed as it comes and returned by name."""
    rates = (100, 1000)
    runs = [(rate, warm) for rate in rates for warm in (False, True)]
    needed = backlog + int(sum(rate * seconds + 1 for rate, _ in runs))
    publish(kafka.connect, CODEC, [json.dumps(PATH), *_bindings(0, needed)])
    stop = threading.Event()
    loader = _run_worker(kafka, stop, "bench-loader")
    while not _taken(kafka, loader, [catalog.BINDING_REQUESTS]):
        time.sleep(0.2)
    stop.set()
    del loader
    figures: dict[str, str] = {}
    core_rate, bare_rate = throughput(kafka, backlog)
    print(f"throughput, backlog of {backlog} passages (each: lookup, state change, deviation):")
    print(f"  core worker (transactions: outputs + changelog + offsets): {core_rate:8.0f} events/s")
    print(f"  bare consume-decode-encode-produce loop:                   {bare_rate:8.0f} events/s")
    print(f"  ratio core / bare: {core_rate / bare_rate:.2f}")
    figures["core worker, events/s"] = f"{core_rate:.0f}"
    figures["bare loop, events/s"] = f"{bare_rate:.0f}"
    figures["ratio core / bare"] = f"{core_rate / bare_rate:.2f}"
    start = backlog
    for rate, warm in runs:
        count = int(rate * seconds)
        # A warm run's first passage (unmeasured) is the number after its measured ones.
        measured = latency(
            kafka, range(start, start + count), rate, warm=start + count if warm else None
        )
        start += count + 1
        producer_kind = "warm producer" if warm else "new producer"
        print(
            f"latency at {rate}/s for {seconds:.0f} s, {producer_kind}: "
            f"{len(measured.end_to_end)}/{count} deviations seen, p50 / p99 ms: end to end "
            f"{_percentiles(measured.end_to_end)}, passage delivery "
            f"{_percentiles(measured.delivery)}, core {_percentiles(measured.core)}"
        )
        figures[f"latency at {rate}/s, {producer_kind}, p50 / p99 ms"] = _percentiles(
            measured.end_to_end
        )
        figures[f"  of which passage delivery, {producer_kind}"] = _percentiles(measured.delivery)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--security", choices=MODES, default="sasl")
    args = parser.parse_args()
    results: dict[str, dict[str, str]] = {}
    for mode in modes(args.security):
        with broker(mode) as kafka:
            print(f"-- {kafka.label}", flush=True)
            results[kafka.label] = measure(kafka, args.backlog, args.seconds)
    if len(results) > 1:
        print_side_by_side(results)


if __name__ == "__main__":
    main()
