"""Throughput: N Quix instances (exactly-once) vs the bare confluent-kafka EOS loop over the same
pre-filled topic. Each run uses a fresh group and output topic; the rate is outputs / (last
output wall time - first output wall time), from the outputs' own `t`.

usage: bench.py --events 200000 --keys 2000 [--what quix1,quix2,bare]"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import check
import common

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def load1() -> float:
    return os.getloadavg()[0]


def rate_from_outputs(topic: str) -> dict:
    outs = check.read_all(topic)
    ts = sorted(json.loads(v)["t"] for _, _, _, v in outs)
    dt = ts[-1] - ts[0]
    return {"records": len(ts), "seconds": round(dt, 2), "per_s": round(len(ts) / dt)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--what", default="bare,quix1,quix2")
    ap.add_argument("--tag", default="b")
    ap.add_argument("--commit-interval", default="1.0")
    a = ap.parse_args()
    src = f"{a.tag}.in"
    common.create_topics([src])
    lo_hi = check.read_all  # noqa: F841
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": common.BOOTSTRAP, "group.id": "x"})
    time.sleep(3)  # a just-created topic's leaders
    have = sum(c.get_watermark_offsets(TopicPartition(src, p))[1] for p in range(6))
    c.close()
    if have < a.events:
        subprocess.run([PY, "produce.py", "--topic", src, "--keys", str(a.keys), "--events",
                        str(a.events - have)], cwd=HERE, check=True)
    results = []
    for what in a.what.split(","):
        run = f"{a.tag}-{what}-{int(time.time())}"
        out = f"{run}.out"
        common.create_topics([out, f"{run}.cl"], config={})
        la0 = load1()
        t0 = time.time()
        if what == "bare":
            r = subprocess.run([PY, "bare_loop.py", "--input", src, "--output", out, "--changelog",
                                f"{run}.cl", "--group", run, "--count", str(a.events),
                                "--commit-interval", a.commit_interval],
                               cwd=HERE, capture_output=True, text=True, check=True)
            print(r.stdout.strip())
        else:
            n = int(what[4:])
            procs = []
            for i in range(n):
                sd = ROOT / "state" / run / f"i{i}"
                shutil.rmtree(sd, ignore_errors=True)
                logf = (ROOT / "logs" / f"{run}-i{i}.log").open("wb")
                procs.append(subprocess.Popen(
                    [PY, "quix_app.py", "--input", src, "--output", out, "--group", run,
                     "--state-dir", str(sd), "--instance", f"i{i}",
                     "--commit-interval", a.commit_interval, "--loglevel", "WARNING"],
                    cwd=HERE, stdout=logf, stderr=subprocess.STDOUT))
            # wait until the group's committed offsets reach the end
            import chaos
            while True:
                time.sleep(2)
                try:
                    if chaos.lag(run, src) == 0:
                        break
                except Exception:  # noqa: BLE001
                    pass
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(60)
        res = {"what": what, **rate_from_outputs(out), "wall_s": round(time.time() - t0, 1),
               "load1_before": round(la0, 2), "load1_after": round(load1(), 2)}
        print(json.dumps(res), flush=True)
        results.append(res)
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / f"bench-{a.tag}-{int(time.time())}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
