"""Gate check latency: "may this unit leave?" from the in-memory verdicts, under load.

20,000 units' verdicts are published to the verdict-by-ITU topic; ``GateState`` reads them;
then 200,000 lookups of random units are timed one by one while another thread keeps
publishing verdict updates at about 1,000/s (which the gate state applies as they come).
Baseline, in the same run: the same lookups as a bare dictionary ``get`` on a copy of the
verdicts, without the gate's decision object and metric.

Run: ``.venv/bin/python -m bench.gate_check``; a throwaway local broker is started unless
``KAFKA_BOOTSTRAP_SERVERS`` is set.
"""

from __future__ import annotations

import random
import statistics
import threading
import time

from confluent_kafka import Producer

from bench.brokers import broker, modes
from processors.identifiers import container
from streams.workers.gate_state import GateState
from topics import catalog
from topics.clients import producer
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import API, CORE
from topics.schemas import repository

CODEC = SingleObjectCodec()
UNITS = 20_000
LOOKUPS = 200_000


def unit_code(n: int) -> str:
    """A valid container code per unit (the API checks the check digit)."""
    body = f"BNCU{n:06d}"
    return body + container.check_digit(body)


def verdict(n: int, may_leave: bool) -> bytes:
    """Unit ``n``'s verdict record, encoded."""
    value = {
        **example(repository().get("iotrack.ClearanceVerdict")),
        "verdict": "CLEARED" if may_leave else "HELD",
        "may_leave": may_leave,
        "itu": {"kind": "CONTAINER", "value": unit_code(n)},
    }
    return CODEC.encode("iotrack.ClearanceVerdict", value)


def publish_verdicts(out: Producer) -> None:
    """Every unit's first verdict, flushed."""
    for n in range(UNITS):
        out.produce(
            catalog.CLEARANCE_BY_ITU.name,
            key=f"CONTAINER:{unit_code(n)}".encode(),
            value=verdict(n, n % 3 == 0),
        )
        out.poll(0)
    out.flush(60)


def keep_updating(out: Producer, stop: threading.Event) -> threading.Thread:
    """A thread publishing about 1,000 verdict changes a second until ``stop``."""

    def updates() -> None:
        rng = random.Random(2)
        while not stop.is_set():
            n = rng.randrange(UNITS)
            out.produce(
                catalog.CLEARANCE_BY_ITU.name,
                key=f"CONTAINER:{unit_code(n)}".encode(),
                value=verdict(n, rng.random() < 0.5),
            )
            out.poll(0)
            time.sleep(0.001)

    thread = threading.Thread(target=updates, daemon=True)
    thread.start()
    return thread


def percentile(ordered: list[float], share: float) -> float:
    """The value at ``share`` (0..1) of an ascending list."""
    return ordered[int(share * (len(ordered) - 1))]


def main() -> None:
    [mode] = modes("sasl")
    with broker(mode) as kafka:
        out = producer(kafka.connect(CORE))  # the verdicts' one writer
        publish_verdicts(out)
        gate = GateState(kafka.connect(API), CODEC)
        started = time.perf_counter()
        gate.start()
        load_s = time.perf_counter() - started
        stop = threading.Event()
        loader = keep_updating(out, stop)
        rng = random.Random(1)
        keys = [f"CONTAINER:{unit_code(rng.randrange(UNITS))}" for _ in range(LOOKUPS)]
        timings = []
        for key in keys:
            t0 = time.perf_counter()
            gate.check(key)
            timings.append(time.perf_counter() - t0)
        snapshot = dict(gate.verdicts)
        bare = []
        for key in keys:
            t0 = time.perf_counter()
            snapshot.get(key)
            bare.append(time.perf_counter() - t0)
        stop.set()
        loader.join()
        gate.stop()
        out.flush(30)
    ordered, bare_ordered = sorted(timings), sorted(bare)
    print(f"gate state: {UNITS} units read in {load_s:.2f} s")
    p50, p99 = 1e6 * statistics.median(ordered), 1e6 * percentile(ordered, 0.99)
    print(
        f"gate check under ~1,000 updates/s, {LOOKUPS} lookups: p50 {p50:.1f} us, "
        f"p99 {p99:.1f} us, max {1e3 * ordered[-1]:.2f} ms"
    )
    print(
        f"baseline dict.get on a copy: p50 {1e6 * statistics.median(bare_ordered):.2f} us, "
        f"p99 {1e6 * percentile(bare_ordered, 0.99):.2f} us"
    )


if __name__ == "__main__":
    main()
