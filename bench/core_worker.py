"""The tracking core's worker: throughput and end-to-end latency, against a bare loop.

* throughput: a backlog of passages (units bound beforehand) is drained by one worker; events/s
  from its first to its last committed transaction. Baseline, in the same process against the
  same broker: a bare confluent-kafka loop that consumes the same backlog, decodes each record,
  encodes one output and produces it, committing offsets every second (no transactions).
* latency: passages produced at a fixed rate (100/s, 1,000/s) for bound, unreleased units at
  their exit gate, each of which makes the core publish an EXIT_WITHOUT_RELEASE deviation;
  latency = deviation visible to a ``read_committed`` consumer minus the passage's send time.

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
import statistics
import threading
import time
import uuid

from confluent_kafka import TopicPartition

from bench.brokers import MODES, Broker, broker, modes, print_side_by_side
from processors.identifiers import container
from processors.ids import deterministic_uuid7
from streams.kafka.reading import committed_up_to_end
from streams.replay.publish import publish
from streams.workers.core import CoreStats, CoreWorker
from topics import catalog
from topics.clients import consumer, producer
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


def _produce_passages(kafka: Broker, numbers: range, rate: float | None) -> dict[str, float]:
    out = producer(kafka.connect(FUSION), **{"linger.ms": 0 if rate else 5, "log_level": 0})
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for k, n in enumerate(numbers):
        if rate:
            due = started + k / rate
            while time.perf_counter() < due:
                time.sleep(max(0.0, due - time.perf_counter()) / 2)
        value = _passage(n, T0 + 10_000_000 + n)
        sent[str(value["event_id"])] = time.time()
        out.produce(
            catalog.PASSAGES.name,
            key=catalog.PASSAGES.key_of(value),
            value=CODEC.encode("iotrack.Passage", value),
        )
        out.poll(0)
    out.flush(60)
    return sent


def _transactions(worker: CoreWorker) -> str:
    stats = worker.stats
    batches = max(1, stats.batches)
    return (
        f"{stats.batches} transactions of {stats.inputs / batches:.1f} events on average, "
        f"commit_transaction {1000 * stats.commit_seconds / batches:.1f} ms and "
        f"send_offsets_to_transaction {1000 * stats.offsets_seconds / batches:.1f} ms each"
    )


def _run_worker(kafka: Broker, stop: threading.Event, group: str) -> CoreWorker:
    worker = CoreWorker(kafka.connect(CORE), CODEC, group=group, transactional_id=f"{group}-tx")
    threading.Thread(target=worker.run, args=(stop,), daemon=True).start()
    return worker


def _taken(kafka: Broker, worker: CoreWorker, topics: list[catalog.Topic]) -> bool:
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
    print(f"  (core: {_transactions(worker)})")

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


def latency(kafka: Broker, numbers: range, rate: float) -> list[float]:
    """Milliseconds from passage sent to its deviation visible, for passages sent at ``rate``."""
    stop = threading.Event()
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
    worker = _run_worker(kafka, stop, group)
    # A new group starts from the beginning of every input: measure only once it has caught up
    # (the bindings topic, written in transactions, ends with markers and is left out).
    inputs = [t for t in catalog.CORE_INPUTS if t is not catalog.BINDINGS]
    while not _taken(kafka, worker, inputs):
        time.sleep(0.1)
    worker.stats = CoreStats()  # count only what is measured
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
    sent = _produce_passages(kafka, numbers, rate)
    deadline = time.monotonic() + 60
    while len([k for k in sent if k in seen]) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    thread.join()
    stop.set()
    reader.close()
    print(f"  (at {rate}/s: {_transactions(worker)})")
    del worker
    return [1000 * (seen[k] - sent[k]) for k in sent if k in seen]


def measure(kafka: Broker, backlog: int, seconds: float) -> dict[str, str]:
    """Every figure of one broker, printed as it comes and returned by name."""
    rates = (100, 1000)
    needed = backlog + int(sum(r * seconds for r in rates))
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
    for rate in rates:
        count = int(rate * seconds)
        samples = latency(kafka, range(start, start + count), rate)
        start += count
        ordered = sorted(samples)
        p99 = ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan")
        p50 = statistics.median(ordered)
        print(
            f"latency at {rate}/s for {seconds:.0f} s: {len(samples)}/{count} "
            f"deviations seen, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        figures[f"latency at {rate}/s, p50 / p99 ms"] = f"{p50:.1f} / {p99:.1f}"
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
