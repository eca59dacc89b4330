"""Produce keyed events: KEYS keys, EVENTS events round-robin over keys, seq per key from 0
(or --start-seq), value random; paced at --rate events/s (0 = as fast as possible).
With --iots M, each unit also names an IOT_ID (unit i -> iot i % M) for the repartition test."""
from __future__ import annotations

import argparse
import random
import time

from confluent_kafka import Producer

import common


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--topic", default="spike.in")
    p.add_argument("--keys", type=int, default=2000)
    p.add_argument("--events", type=int, default=60000)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--start-seq", type=int, default=0)
    p.add_argument("--iots", type=int, default=0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--key-prefix", default="unit-")
    a = p.parse_args()
    rnd = random.Random(a.seed + a.start_seq)
    prod = Producer({"bootstrap.servers": common.BOOTSTRAP, "enable.idempotence": True,
                     "acks": "all", "linger.ms": 5, "compression.type": "lz4",
                     "message.timeout.ms": 600000})
    t0 = time.monotonic()
    seq = [a.start_seq] * a.keys
    width = len(str(a.keys - 1))
    for i in range(a.events):
        k = i % a.keys
        key = f"{a.key_prefix}{k:0{width}d}"
        val = {"k": key, "seq": seq[k], "v": rnd.randrange(1_000_000)}
        if a.iots:
            val["iot"] = f"iot-{k % a.iots:05d}"
        seq[k] += 1
        while True:
            try:
                prod.produce(a.topic, key=key.encode(), value=common.jdump(val))
                break
            except BufferError:
                prod.poll(0.1)
        prod.poll(0)
        if a.rate:
            ahead = (i + 1) / a.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    left = prod.flush(600)
    print(f"produced {a.events} events over {a.keys} keys in {time.monotonic() - t0:.1f}s, unflushed {left}",
          flush=True)


if __name__ == "__main__":
    main()
