"""Check the two-stage (group_by) run: outputs keyed by IOT_ID. Per unit, the ledger state on its
outputs must be exactly what one pass gives (count = seq+1, running hash); per IOT_ID, the
tracking outputs must count 1..n with no duplicate or gap, carry every (unit, seq) of its units
exactly once, and each hash must follow from the previous outputs' values in output order."""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

import check
import common


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    inputs = defaultdict(dict)
    iot_units = defaultdict(set)
    for _, _, _, v in check.read_all(a.input):
        ev = json.loads(v)
        inputs[ev["k"]][ev["seq"]] = ev["v"]
        iot_units[ev["iot"]].add(ev["k"])
    ledger_exp = {}
    for k, by in inputs.items():
        s, st = None, []
        for q in range(len(by)):
            s = common.step(s, by[q])
            st.append(s)
        ledger_exp[k] = st
    outs = defaultdict(list)
    raw = check.read_all(a.output)
    for part, off, key, v in sorted(raw, key=lambda r: (r[0], r[1])):
        outs[key.decode()].append(json.loads(v))
    dup = gap = ledger_wrong = count_wrong = hash_chain_wrong = 0
    for iot, units in iot_units.items():
        got = outs.get(iot, [])
        want = {(u, q) for u in units for q in inputs[u]}
        seen = defaultdict(int)
        s = None
        for i, o in enumerate(got):
            seen[(o["unit"], o["unit_seq"])] += 1
            le = ledger_exp[o["unit"]][o["unit_seq"]]
            if (o["ledger_count"], o["ledger_hash"]) != (le["count"], le["hash"]):
                ledger_wrong += 1
            if o["count"] != i + 1:
                count_wrong += 1
            s = common.step(s, o["v"])
            if (o["hash"], o["last"]) != (s["hash"], s["last"]):
                hash_chain_wrong += 1
        dup += sum(n - 1 for n in seen.values() if n > 1)
        gap += len(want - set(seen))
    res = {"input_records": sum(len(v) for v in inputs.values()), "iots": len(iot_units),
           "output_records": len(raw), "duplicates": dup, "gaps": gap,
           "ledger_state_wrong": ledger_wrong, "tracking_count_wrong": count_wrong,
           "tracking_hash_chain_wrong": hash_chain_wrong}
    res["pass"] = (dup == gap == ledger_wrong == count_wrong == hash_chain_wrong == 0
                   and res["output_records"] == res["input_records"])
    print(json.dumps(res))
    sys.exit(0 if res["pass"] else 1)


if __name__ == "__main__":
    main()
