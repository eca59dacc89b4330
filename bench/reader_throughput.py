"""Reader throughput: device payload -> raw read events acknowledged by the broker, one process.

iotrack: simulated OCR portal payloads are parsed, encoded (Avro single-object), written to the
durable spool (SQLite WAL, synchronous=FULL, one transaction per 500 payloads as a capture
replay does) and forwarded by the idempotent producer (acks=all); the clock stops when the last
record is acknowledged and deleted from the spool.
baseline: a bare confluent-kafka producer with the same settings sending the very same encoded
bytes (same count, same sizes, same keys) to the same topic, until flushed.
Runs alternate, in the same process, against the same broker.

Both sign in as the reader party of the read point (``reader.bench-gate-l1``).

Run: ``.venv/bin/python -m bench.reader_throughput [--payloads N] [--runs R] [--security
MODE]``. With ``KAFKA_BOOTSTRAP_SERVERS`` unset a throwaway local broker is started: with
SASL/SCRAM and ACLs (``sasl``, the default), without for comparison (``none``), or both one
after the other, figures side by side (``both``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.brokers import MODES, broker, modes, print_side_by_side
from readers.adapters import ReadPoint, parse_ocr
from readers.forwarder import Forwarder
from readers.service import ReaderService, reader_party
from readers.simulator import Faults, Simulator
from readers.spool import Pending, Spool
from topics import catalog
from topics.clients import KafkaConnection, edge_producer
from topics.codec import SingleObjectCodec

READER = reader_party("BENCH-GATE-L1")


def iotrack_run(connection: KafkaConnection, payloads: list[bytes], directory: Path) -> float:
    spool = Spool(directory / f"spool-{time.monotonic_ns()}.sqlite")
    service = ReaderService(
        "ocr", ReadPoint("BENCH-GATE-L1", "BENCH-GATE"), spool, SingleObjectCodec()
    )
    forwarder = Forwarder(spool, lambda **extra: edge_producer(connection, **extra))
    forwarder.start()
    started = time.perf_counter()
    for n in range(0, len(payloads), 500):
        service.accept(payloads[n : n + 500])
    while len(spool):
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    forwarder.stop()
    return elapsed


def encoded_records(payloads: list[bytes], directory: Path) -> list[tuple[bytes, bytes]]:
    """The exact records iotrack would send, for the baseline to send as pre-encoded bytes."""
    spool = Spool(directory / "capture.sqlite")
    service = ReaderService(
        "ocr", ReadPoint("BENCH-GATE-L1", "BENCH-GATE"), spool, SingleObjectCodec()
    )
    service.accept(payloads)
    return [(r.key or b"", r.value or b"") for r in spool.peek(limit=10**9)]


def baseline_run(connection: KafkaConnection, records: list[tuple[bytes, bytes]]) -> float:
    producer = edge_producer(connection)
    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(catalog.RAW_READS.name, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(120)
    return time.perf_counter() - started


def stage_costs(payloads: list[bytes], directory: Path) -> dict[str, float]:
    """Microseconds per raw read spent in each stage, each measured alone."""
    point = ReadPoint("BENCH-GATE-L1", "BENCH-GATE")
    codec = SingleObjectCodec()
    started = time.perf_counter()
    reads = [read for payload in payloads for read in parse_ocr(payload, point)]
    parse = time.perf_counter() - started
    started = time.perf_counter()
    encoded = [codec.encode("iotrack.RawRead", read) for read in reads]
    encode = time.perf_counter() - started
    spool = Spool(directory / "stages.sqlite")
    started = time.perf_counter()
    for n in range(0, len(encoded), 2000):
        spool.append([Pending(catalog.RAW_READS.name, b"k", v) for v in encoded[n : n + 2000]])
    spooled = spool.peek(limit=10**9)
    spool.remove([r.seq for r in spooled])
    spooling = time.perf_counter() - started
    per = 1e6 / len(reads)
    return {
        "parse JSON payload": parse * per,
        "Avro encode": encode * per,
        "spool append+read+delete": spooling * per,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--security", choices=MODES, default="sasl")
    args = parser.parse_args()
    simulation = Simulator(seed=1, faults=Faults(garbage_rate=0.0)).gate_hour(
        args.payloads, 1, "BENCH-GATE"
    )
    payloads = [p.body for p in simulation.payloads if p.kind == "ocr"]
    results: dict[str, dict[str, str]] = {}
    for mode in modes(args.security):
        topics = [catalog.RAW_READS, catalog.DEAD_LETTERS]
        with (
            tempfile.TemporaryDirectory(prefix="iotrack-bench-") as name,
            broker(mode, [READER], topics) as kafka,
        ):
            print(f"-- {kafka.label}", flush=True)
            directory = Path(name)
            connection = kafka.connect(READER)
            records = encoded_records(payloads, directory)
            stages = stage_costs(payloads, directory)
            mean_size = sum(len(v) for _, v in records) / len(records)
            ours, bare = [], []
            for _ in range(args.runs):
                ours.append(iotrack_run(connection, payloads, directory))
                bare.append(baseline_run(connection, records))
        results[kafka.label] = report(
            payloads, records, ours=ours, bare=bare, mean_size=mean_size, stages=stages
        )
    if len(results) > 1:
        print_side_by_side(results)


def report(
    payloads: list[bytes],
    records: list[tuple[bytes, bytes]],
    *,
    ours: list[float],
    bare: list[float],
    mean_size: float,
    stages: dict[str, float],
) -> dict[str, str]:
    """Print one broker's figures; the main ones by name."""
    ours_rate = len(payloads) / statistics.median(ours)
    bare_rate = len(payloads) / statistics.median(bare)
    per_payload = len(records) / len(payloads)
    print(
        f"{len(payloads)} OCR passage payloads -> {len(records)} raw reads "
        f"({per_payload:.1f} per payload, mean {mean_size:.0f} bytes), {len(ours)} runs each"
    )
    print(
        f"iotrack reader (parse, encode, spool, forward): median {ours_rate:8.0f} payloads/s "
        f"({ours_rate * per_payload:8.0f} records/s)   runs {[round(x, 2) for x in ours]} s"
    )
    print(
        f"bare producer, pre-encoded bytes:               median {bare_rate:8.0f} payloads/s "
        f"({bare_rate * per_payload:8.0f} records/s)   runs {[round(x, 2) for x in bare]} s"
    )
    print(f"ratio iotrack / bare: {ours_rate / bare_rate:.2f}")
    print(f"bare producer cost: {1e6 / (bare_rate * per_payload):.1f} us per record")
    for stage, micros in stages.items():
        print(f"stage cost, {stage}: {micros:.1f} us per record")
    return {
        "iotrack reader, payloads/s": f"{ours_rate:.0f}",
        "bare producer, payloads/s": f"{bare_rate:.0f}",
        "ratio iotrack / bare": f"{ours_rate / bare_rate:.2f}",
        "bare producer, us per record": f"{1e6 / (bare_rate * per_payload):.1f}",
    }


if __name__ == "__main__":
    main()
