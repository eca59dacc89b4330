"""Deterministic reproduction of the state regression seen in run k2.

1. instance A owns every partition and processes the first events;
2. A is made to stall inside a checkpoint after its changelog records are produced and flushed
   but before commit_transaction (stall_hook.py), and is SIGKILLed there: its transaction, with
   changelog records in it, stays open until transaction.timeout.ms (60 s) passes;
3. instance B (own state dir) takes over, restores, processes more events and commits them
   (changelog records above A's open transaction);
4. instance C (empty state dir) joins within the 60 s: the rebalance gives it half the
   partitions, and it restores them from the changelog up to get_watermark_offsets() of its
   read_committed consumer, which is the last stable offset, pinned by A's open transaction;
5. more events; then check.py. A correct engine gives 0 wrong states.
Usage: repro_lso.py --run NAME"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import chaos
import common
from chaos import HERE, PY, ROOT, Instances, log


def produce(run: str, keys: int, events: int, start_seq: int) -> None:
    subprocess.run([PY, str(HERE / "produce.py"), "--topic", f"{run}.in", "--keys", str(keys),
                    "--events", str(events), "--start-seq", str(start_seq)], cwd=HERE, check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--keys", type=int, default=600)
    ap.add_argument("--stable-txn-id", action="store_true")
    ap.add_argument("--txn-timeout-ms", type=int, default=0)
    a = ap.parse_args()
    run, K = a.run, a.keys
    shutil.rmtree(ROOT / "state" / run, ignore_errors=True)
    common.create_topics([f"{run}.in", f"{run}.out"])
    stall = ROOT / "state" / f"{run}.stall"
    stall.unlink(missing_ok=True)
    Path(str(stall) + ".reached").unlink(missing_ok=True)
    os.environ["SPIKE_STALL_FILE"] = str(stall)
    extra = ["--session-timeout-ms", "6000"]
    if a.txn_timeout_ms:
        extra += ["--txn-timeout-ms", str(a.txn_timeout_ms)]
    inst = Instances(run, 3, "avro", extra, stable_txn=a.stable_txn_id)
    A, B, C = "i1", "i2", "i3"
    inst.start(A)
    produce(run, K, K * 2, 0)  # seq 0, 1
    chaos.wait_caught_up(f"{run}-core", f"{run}.in", 120)
    log("A caught up on seq 0-1; arming the stall")
    stall.touch()
    produce(run, K, K, 2)  # seq 2: A processes it, stalls at its commit
    t0 = time.time()
    while not Path(str(stall) + ".reached").exists():
        time.sleep(0.1)
        if time.time() - t0 > 60:
            raise SystemExit("A never reached the stalled commit")
    time.sleep(1)
    stall.unlink()
    inst.kill(A)
    t_kill = time.time()
    log("A SIGKILLed inside its checkpoint (changelog produced, transaction open)")
    inst.start(B)
    chaos.wait_caught_up(f"{run}-core", f"{run}.in", 120)
    log(f"B took over and caught up on seq 2 ({time.time() - t_kill:.1f}s after the kill)")
    produce(run, K, K * 2, 3)  # seq 3, 4 by B
    chaos.wait_caught_up(f"{run}-core", f"{run}.in", 120)
    log(f"B processed seq 3-4 ({time.time() - t_kill:.1f}s after the kill)")
    inst.start(C)
    time.sleep(12)
    log(f"C joined ({time.time() - t_kill:.1f}s after the kill, under the 60 s transaction timeout)")
    produce(run, K, K * 2, 5)  # seq 5, 6 by B and C
    chaos.wait_caught_up(f"{run}-core", f"{run}.in", 180)
    inst.term_all()
    r = subprocess.run([PY, str(HERE / "check.py"), "--input", f"{run}.in", "--output",
                        f"{run}.out", "--changelog", f"changelog__{run}-core--{run}.in--default"],
                       cwd=HERE, capture_output=True, text=True)
    (ROOT / "results" / f"{run}.repro.json").write_text(r.stdout)
    print(r.stdout)
    os.system(f"grep -h 'SPIKE recovery' {ROOT}/logs/{run}/i3.log | cut -c1-330")


if __name__ == "__main__":
    main()
