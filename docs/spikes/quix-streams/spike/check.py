"""Check the output topic against the input topic, read_committed: for every key, the outputs are
exactly the sequence one correct pass gives (no duplicate, no gap, no state regression), and the
last committed changelog value per key decodes to the expected final state.
Prints one JSON summary line; exit 0 when everything matches."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

from confluent_kafka import Consumer, TopicPartition

import common


def read_all(topic: str, decode=json.loads, idle_s: float = 150.0):
    """Every committed record of `topic`, read_committed, up to the high watermark as it was at
    the start. A transaction left open by a SIGKILLed producer pins the last stable offset until
    the broker aborts it (transaction.timeout.ms), so this waits up to `idle_s` without progress."""
    c = Consumer({"bootstrap.servers": common.BOOTSTRAP, "group.id": f"check-{time.time()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10).topics[topic]
    # The target is the high watermark. A read_committed consumer's watermark query answers the
    # last stable offset instead, which an open transaction holds back; so ask a read_uncommitted one.
    hw = Consumer({"bootstrap.servers": common.BOOTSTRAP, "group.id": f"hw-{time.time()}",
                   "isolation.level": "read_uncommitted"})
    tps, ends = [], {}
    for p in md.partitions:
        lo, hi = hw.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = hi
        tps.append(TopicPartition(topic, p, lo))
    hw.close()
    c.assign(tps)
    out = []  # (partition, offset, key, value)
    done = {p for p, hi in ends.items() if hi == 0}
    idle = time.monotonic()
    t0 = time.monotonic()
    while len(done) < len(ends) and time.monotonic() - idle < idle_s:
        msgs = c.consume(5000, 1.0)
        if msgs:
            idle = time.monotonic()
        for m in msgs:
            if m.error():
                continue
            out.append((m.partition(), m.offset(), m.key(), m.value()))
        for p, hi in ends.items():
            if p not in done:
                # read_committed stops at the last stable offset; position tells us where we are
                pos = c.position([TopicPartition(topic, p)])[0].offset
                if pos >= hi:
                    done.add(p)
    c.close()
    READ_STATS[topic] = {"complete": len(done) == len(ends),
                         "seconds": round(time.monotonic() - t0, 1)}
    if len(done) < len(ends):
        print(f"WARNING: {topic}: last stable offset still short of the high watermark after "
              f"{idle_s}s without progress", file=sys.stderr)
    return out


READ_STATS: dict = {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default="spike.in")
    ap.add_argument("--output", default="spike.out")
    ap.add_argument("--changelog", default="")
    ap.add_argument("--codec", default="avro")
    a = ap.parse_args()

    inputs = defaultdict(dict)  # key -> seq -> v
    for _, _, k, v in read_all(a.input):
        ev = json.loads(v)
        inputs[ev["k"]][ev["seq"]] = ev["v"]
    expected = {}  # key -> list of states after each seq
    for k, by_seq in inputs.items():
        s, seqs = None, []
        for q in range(len(by_seq)):
            s = common.step(s, by_seq[q])
            seqs.append(s)
        expected[k] = seqs

    outs = defaultdict(list)
    raw_out = read_all(a.output)
    for part, off, k, v in sorted(raw_out, key=lambda r: (r[0], r[1])):
        outs[k.decode()].append(json.loads(v))
    dup = gap = wrong = order = 0
    examples = []
    insts = defaultdict(int)
    for k, exp in expected.items():
        got = outs.get(k, [])
        seen = defaultdict(int)
        prev = -1
        for o in got:
            insts[o["inst"]] += 1
            seen[o["seq"]] += 1
            if o["seq"] <= prev:
                order += 1
            prev = max(prev, o["seq"])
            e = exp[o["seq"]] if o["seq"] < len(exp) else None
            if e is None or (o["count"], o["hash"], o["last"]) != (e["count"], e["hash"], e["last"]):
                wrong += 1
                if len(examples) < 5:
                    examples.append({"key": k, "seq": o["seq"], "got": o["count"],
                                     "want": e and e["count"]})
        dup += sum(n - 1 for n in seen.values() if n > 1)
        gap += sum(1 for q in range(len(exp)) if q not in seen)
    extra_keys = len(set(outs) - set(expected))
    res = {"input_records": sum(len(v) for v in inputs.values()), "keys": len(expected),
           "output_records": len(raw_out), "duplicates": dup, "gaps": gap,
           "wrong_state": wrong, "out_of_order": order, "unexpected_keys": extra_keys,
           "outputs_by_instance": dict(insts), "examples": examples}
    if a.changelog:
        last = {}
        n = 0
        for _, _, k, v in read_all(a.changelog, decode=None):
            n += 1
            last[k] = v
        dec = common.avro_decode if a.codec == "avro" else json.loads
        # changelog keys are <prefix>|<user key>; the value is our encoded state
        bad = 0
        matched = 0
        for k, v in last.items():
            msg_key = json.loads(k.split(b"|", 1)[0])
            want = expected.get(msg_key, [None])[-1]
            got = None if v is None else dec(v)
            if got != want:
                bad += 1
            else:
                matched += 1
        res["changelog"] = {"records": n, "keys": len(last), "matching_final_state": matched,
                            "mismatching": bad, "missing_keys": len(expected) - len(last)}
    ok = dup == gap == wrong == order == extra_keys == 0 and res["output_records"] == res["input_records"]
    if a.changelog:
        ok = ok and res["changelog"]["mismatching"] == 0 and res["changelog"]["missing_keys"] == 0
    res["read"] = READ_STATS
    res["pass"] = ok
    print(json.dumps(res))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
