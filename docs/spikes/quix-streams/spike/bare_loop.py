"""Baseline: a bare confluent-kafka transactional consume-transform-produce loop doing the same
work (per-key state in a dict, one output per input, the changed keys' state to a compacted
changelog once per commit, offsets in the transaction), commit every --commit-interval s.
Stops after --count outputs (or idle --idle s). Prints throughput."""
from __future__ import annotations

import argparse
import json
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer

import common


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--changelog", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--commit-interval", type=float, default=1.0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--idle", type=float, default=10)
    ap.add_argument("--codec", default="avro")
    a = ap.parse_args()
    enc = common.avro_encode if a.codec == "avro" else common.jdump
    c = Consumer({"bootstrap.servers": common.BOOTSTRAP, "group.id": a.group,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed", "partition.assignment.strategy": "range"})
    p = Producer({"bootstrap.servers": common.BOOTSTRAP, "transactional.id": f"bare-{uuid.uuid4()}",
                  "linger.ms": 5, "compression.type": "lz4"})
    p.init_transactions()
    c.subscribe([a.input])
    state: dict[bytes, dict] = {}
    dirty: set[bytes] = set()
    n = 0
    t_first = None
    last_msg = time.monotonic()
    p.begin_transaction()
    t_commit = time.monotonic()
    while True:
        msgs = c.consume(500, 0.2)
        now = time.monotonic()
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    raise SystemExit(m.error())
                continue
            t_first = t_first or now
            ev = json.loads(m.value())
            s = common.step(state.get(m.key()), ev["v"])
            state[m.key()] = s
            dirty.add(m.key())
            out = {"k": ev["k"], "seq": ev["seq"], **s, "inst": "bare", "t": time.time()}
            while True:
                try:
                    p.produce(a.output, key=m.key(), value=common.jdump(out))
                    break
                except BufferError:
                    p.poll(0.05)
            n += 1
        if msgs:
            last_msg = now
        if now - t_commit >= a.commit_interval or (a.count and n >= a.count):
            for k in dirty:
                p.produce(a.changelog, key=k, value=enc(state[k]))
            dirty.clear()
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata())
            p.commit_transaction()
            p.begin_transaction()
            t_commit = time.monotonic()
            if a.count and n >= a.count:
                break
        if t_first and now - last_msg > a.idle:
            break
    p.abort_transaction()
    c.close()
    dt = last_msg - t_first if t_first else 0
    print(json.dumps({"loop": "bare-confluent-kafka-eos", "records": n, "seconds": round(dt, 2),
                      "per_s": round(n / dt) if dt else None}))


if __name__ == "__main__":
    main()
