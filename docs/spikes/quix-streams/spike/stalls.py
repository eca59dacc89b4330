"""Recovery time after each SIGKILL, from the committed outputs: for each output partition whose
last output before the kill came from the killed instance, the time from the kill to the next
committed output on that partition (by any instance). Usage: stalls.py RUN"""
import bisect
import json
import statistics
import sys
from pathlib import Path

import check

ROOT = Path(__file__).resolve().parent.parent
run = sys.argv[1]
d = json.loads((ROOT / "results" / f"{run}.chaos.json").read_text())
by_part = {}
for part, _, _, v in check.read_all(f"{run}.out"):
    o = json.loads(v)
    by_part.setdefault(part, []).append((o["t"], o["inst"]))
for v in by_part.values():
    v.sort()
rows = []
for ev in d["events"]:
    if ev["what"] == "broker-restart":
        gaps = []
        for v in by_part.values():
            ts = [t for t, _ in v]
            i = bisect.bisect_right(ts, ev["t"])
            if i < len(ts):
                gaps.append(ts[i] - ev["t"])
        rows.append({"event": "broker-restart", "partitions": len(gaps),
                     "stall_max_s": round(max(gaps), 1), "broker_back_s": round(ev["back_s"], 1)})
        continue
    gaps = []
    for v in by_part.values():
        ts = [t for t, _ in v]
        i = bisect.bisect_right(ts, ev["t"])
        if i == 0 or i >= len(ts):
            continue
        if v[i - 1][1].split("#")[0] == ev["inst"]:
            gaps.append(ts[i] - ev["t"])
    rows.append({"event": f"kill {ev['inst']}{' wiped' if ev['wiped'] else ''}",
                 "down_s": round(ev["down_s"], 1), "owned_partitions": len(gaps),
                 "stall_max_s": round(max(gaps), 1) if gaps else None,
                 "stall_median_s": round(statistics.median(gaps), 1) if gaps else None})
for r in rows:
    print(json.dumps(r))
ks = [r["stall_max_s"] for r in rows if r["event"].startswith("kill") and r["stall_max_s"]]
if ks:
    print(json.dumps({"kills_with_owned_partitions": len(ks), "stall_max_s_median": statistics.median(ks),
                      "stall_max_s_worst": max(ks)}))
(ROOT / "results" / f"{run}.stalls.json").write_text("\n".join(json.dumps(r) for r in rows))
