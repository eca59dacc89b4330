"""Recovery time after a SIGKILL in steady state. 3 instances on a paced stream; every --every s
one random instance is SIGKILLed and restarted after --down s. For each kill: the partitions the
victim owned (its committed outputs were the last before the kill on them), and per partition the
time from the kill to the next committed output there, i.e. detection + rebalance + changelog
restore + first commit. Usage: recovery.py --run NAME [--kills 4] [--every 30] [--down 1]
[--session-timeout-ms 10000]"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import time

import chaos
import common
from chaos import HERE, PY, ROOT, Instances, log


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--kills", type=int, default=4)
    ap.add_argument("--every", type=float, default=30)
    ap.add_argument("--down", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=300)
    ap.add_argument("--session-timeout-ms", type=int, default=10000)
    ap.add_argument("--wipe", action="store_true")
    ap.add_argument("--stable-txn-id", action="store_true",
                    help="transactional.id = RUN-INSTANCE, so a restart fences its dead self")
    ap.add_argument("--txn-timeout-ms", type=int, default=0)
    a = ap.parse_args()
    run = a.run
    rnd = random.Random(3)
    shutil.rmtree(ROOT / "state" / run, ignore_errors=True)
    common.create_topics([f"{run}.in", f"{run}.out"])
    extra = ["--session-timeout-ms", str(a.session_timeout_ms)]
    if a.txn_timeout_ms:
        extra += ["--txn-timeout-ms", str(a.txn_timeout_ms)]
    inst = Instances(run, 3, "avro", extra, stable_txn=a.stable_txn_id)
    for n in inst.names:
        inst.start(n)
    total = int(a.rate * (a.every * (a.kills + 1) + 10))
    prod = subprocess.Popen([PY, str(HERE / "produce.py"), "--topic", f"{run}.in", "--events",
                             str(total), "--rate", str(a.rate)], cwd=HERE)
    kills = []
    crashes: list = []
    time.sleep(a.every)
    for _ in range(a.kills):
        v = rnd.choice(inst.names)
        tk = time.time()
        inst.kill(v)
        if a.wipe:
            shutil.rmtree(inst.state_dir(v), ignore_errors=True)
        log(f"SIGKILL {v}")
        time.sleep(a.down)
        inst.start(v)
        kills.append({"inst": v, "t": tk})
        t_end = time.monotonic() + a.every
        while time.monotonic() < t_end:
            time.sleep(0.5)
            inst.supervise(crashes)
    prod.wait()
    chaos.wait_caught_up(f"{run}-core", f"{run}.in", 600, lambda: inst.supervise(crashes))
    inst.term_all()
    import bisect

    import check
    by_part: dict = {}
    for part, _, _, val in check.read_all(f"{run}.out"):
        o = json.loads(val)
        by_part.setdefault(part, []).append((o["t"], o["inst"]))
    normal_gaps = []
    for v in by_part.values():
        v.sort()
        normal_gaps += [b[0] - x[0] for x, b in zip(v, v[1:])]
    rows = []
    for k in kills:
        gaps, others = [], []
        for v in by_part.values():
            ts = [t for t, _ in v]
            i = bisect.bisect_right(ts, k["t"])
            if 0 < i < len(ts):
                (gaps if v[i - 1][1].split("#")[0] == k["inst"] else others).append(ts[i] - k["t"])
        rows.append({"inst": k["inst"], "t": round(k["t"], 2), "owned": len(gaps),
                     "victim_partitions_stall_s": sorted(round(g, 1) for g in gaps),
                     "other_partitions_stall_s": sorted(round(g, 1) for g in others)})
    res = {"run": run, "session_timeout_ms": a.session_timeout_ms, "down_s": a.down,
           "stable_txn_id": a.stable_txn_id, "txn_timeout_ms": a.txn_timeout_ms or 60000,
           "wipe": a.wipe, "rate": a.rate, "kills": rows, "self_exits": crashes,
           "normal_gap_p99_s": round(sorted(normal_gaps)[int(len(normal_gaps) * 0.99)], 2)}
    r = subprocess.run([PY, str(HERE / "check.py"), "--input", f"{run}.in", "--output",
                        f"{run}.out", "--changelog", f"changelog__{run}-core--{run}.in--default"],
                       cwd=HERE, capture_output=True, text=True)
    res["check"] = json.loads(r.stdout) if r.stdout else r.stderr[-500:]
    (ROOT / "results" / f"{run}.recovery.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
