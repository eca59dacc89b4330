"""The crash test. N Quix instances (own state dir each) consume a paced keyed stream; a random
instance is SIGKILLed at random moments and restarted (sometimes with its local state wiped, as a
pod moved to another node); the broker is restarted once (SIGTERM, start) mid-run. At the end one
fresh instance with an empty state dir restores every partition from the changelog and takes one
more event per key (whose output proves the restored state), then check.py verifies everything.

usage: chaos.py --run NAME [--keys 2000] [--events 60000] [--rate 500] [--instances 3]
                [--kill-every 6:14] [--broker-restart 0.5] [--wipe-prob 0.3] [--repartition]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

import check
import common

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = str(ROOT / ".venv" / "bin" / "python")
BROKER_PY = os.environ.get("IOTRACK", "../../../..") + "/.venv/bin/python"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Instances:
    def __init__(self, run: str, n: int, codec: str, extra: list[str], stable_txn: bool = False):
        self.run, self.codec, self.extra, self.stable_txn = run, codec, extra, stable_txn
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts = 0
        (ROOT / "logs" / run).mkdir(parents=True, exist_ok=True)
        self.names = [f"i{k}" for k in range(1, n + 1)]

    def state_dir(self, name: str) -> Path:
        return ROOT / "state" / self.run / name

    def start(self, name: str) -> None:
        self.starts += 1
        out = (ROOT / "logs" / self.run / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [PY, str(HERE / "quix_app.py"), "--input", f"{self.run}.in", "--output",
             f"{self.run}.out", "--group", f"{self.run}-core", "--state-dir",
             str(self.state_dir(name)), "--instance", f"{name}#{self.starts}",
             "--codec", self.codec, *self.extra,
             *(["--txn-id", f"{self.run}-{name}"] if self.stable_txn else [])],
            stdout=out, stderr=subprocess.STDOUT, cwd=HERE, start_new_session=True)

    def supervise(self, crashes: list) -> None:
        """Restart an instance that exited by itself (as an orchestrator would) and record it."""
        for name, p in list(self.procs.items()):
            if p.poll() is not None:
                log(f"{name} exited by itself (rc={p.returncode}); restarting")
                crashes.append({"inst": name, "rc": p.returncode, "t": time.time()})
                self.start(name)

    def kill(self, name: str) -> None:
        p = self.procs[name]
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait()

    def term_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()


def lag(group: str, topic: str, markers_ok: bool = False) -> int:
    """Records the group has not committed yet. With `markers_ok` (a topic written in
    transactions, like a repartition topic), one offset per partition is allowed: the commit
    marker after the last record, which the consumer's committed position may stop before."""
    c = Consumer({"bootstrap.servers": common.BOOTSTRAP, "group.id": group,
                  "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in parts]
        committed = c.committed(tps, timeout=10)
        total = 0
        for tp in committed:
            hi = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
            gap = hi - max(tp.offset, 0)
            total += 0 if markers_ok and gap <= 1 else gap
        return total
    finally:
        c.close()


def group_topics(topic: str) -> list[str]:
    """The input topic and the repartition topics derived from it (a group_by stage)."""
    names = common.admin().list_topics(timeout=10).topics
    run = topic.rsplit(".", 1)[0]
    return [topic] + sorted(t for t in names if t.startswith(f"repartition__{run}-core--"))


def wait_caught_up(group: str, topic: str, timeout: float, tick=None) -> float:
    """Until the group has committed every record of the input and of its repartition topics."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if tick:
            tick()
        try:
            if all(lag(group, t, markers_ok=t != topic) == 0 for t in group_topics(topic)):
                return time.monotonic() - t0
        except Exception as e:  # noqa: BLE001 - broker may be restarting
            log("lag check:", e)
        time.sleep(1)
    raise SystemExit(f"not caught up within {timeout}s")


def broker(cmd: str) -> None:
    subprocess.run([BROKER_PY, str(ROOT / "broker.py"), cmd], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--events", type=int, default=60000)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--kill-every", default="6:14")
    ap.add_argument("--down-for", default="0.5:3")
    ap.add_argument("--broker-restart", type=float, default=0.5)
    ap.add_argument("--wipe-prob", type=float, default=0.3)
    ap.add_argument("--codec", default="avro")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repartition", action="store_true")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    run = a.run
    shutil.rmtree(ROOT / "state" / run, ignore_errors=True)
    common.create_topics([f"{run}.in", f"{run}.out"])
    extra = ["--repartition"] if a.repartition else []
    inst = Instances(run, a.instances, a.codec, extra)
    for n in inst.names:
        inst.start(n)
    time.sleep(8)
    events = []
    prod_args = [PY, str(HERE / "produce.py"), "--topic", f"{run}.in", "--keys", str(a.keys),
                 "--events", str(a.events), "--rate", str(a.rate)]
    if a.repartition:
        prod_args += ["--iots", str(a.keys // 4)]
    producer = subprocess.Popen(prod_args, cwd=HERE)
    t_start = time.time()
    duration = a.events / a.rate
    lo, hi = map(float, a.kill_every.split(":"))
    dlo, dhi = map(float, a.down_for.split(":"))
    broker_done = a.broker_restart <= 0
    crashes: list = []
    while producer.poll() is None:
        nap = time.monotonic() + rnd.uniform(lo, hi)
        while time.monotonic() < nap:
            time.sleep(0.5)
            inst.supervise(crashes)
        if producer.poll() is not None:
            break
        if not broker_done and time.time() - t_start > a.broker_restart * duration:
            tb = time.time()
            log("broker: SIGTERM")
            broker("stop")
            tdown = time.time()
            time.sleep(2)
            broker("start")
            log(f"broker: back after {time.time() - tb:.1f}s (stop took {tdown - tb:.1f}s)")
            events.append({"what": "broker-restart", "t": tb, "stop_s": tdown - tb,
                           "back_s": time.time() - tb})
            broker_done = True
            continue
        victim = rnd.choice(inst.names)
        tk = time.time()
        inst.kill(victim)
        wipe = rnd.random() < a.wipe_prob
        if wipe:
            shutil.rmtree(inst.state_dir(victim), ignore_errors=True)
        down = rnd.uniform(dlo, dhi)
        log(f"SIGKILL {victim}{' + wiped state' if wipe else ''}, restart in {down:.1f}s")
        time.sleep(down)
        inst.start(victim)
        events.append({"what": "kill", "inst": victim, "t": tk, "wiped": wipe, "down_s": down})
    log("producer done; waiting to catch up")
    caught = wait_caught_up(f"{run}-core", f"{run}.in", 600, lambda: inst.supervise(crashes))
    log(f"caught up {caught:.1f}s after the producer ended")
    inst.term_all()

    # final: one fresh instance, empty state, restores all partitions, then one probe per key
    fresh = Instances(run, 1, a.codec, extra)
    fresh.names = ["final"]
    shutil.rmtree(fresh.state_dir("final"), ignore_errors=True)
    t_fresh = time.time()
    fresh.start("final")
    probe = subprocess.run([PY, str(HERE / "produce.py"), "--topic", f"{run}.in", "--keys",
                            str(a.keys), "--events", str(a.keys), "--start-seq",
                            str(a.events // a.keys)] + (["--iots", str(a.keys // 4)] if a.repartition else []),
                           cwd=HERE, check=True)
    wait_caught_up(f"{run}-core", f"{run}.in", 600)
    fresh.term_all()
    log_text = (ROOT / "logs" / run / "final.log").read_text(errors="replace")
    # the recovery figures of the fresh instance, from its own log
    rec = [ln for ln in log_text.splitlines() if "Recovery" in ln or "recovery" in ln]

    summary = {"run": run, "events": events, "kills": sum(e["what"] == "kill" for e in events),
               "wiped": sum(e.get("wiped", False) for e in events),
               "self_exits": crashes,
               "caught_up_after_producer_s": round(caught, 1),
               "final_instance_recovery_log": rec[:3] + rec[-3:]}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / f"{run}.chaos.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    chk = [PY, str(HERE / ("check_repartition.py" if a.repartition else "check.py")),
           "--input", f"{run}.in", "--output", f"{run}.out"]
    if not a.repartition:
        chk += ["--codec", a.codec]
    if not a.repartition:
        chk += ["--changelog", f"changelog__{run}-core--{run}.in--default"]
    r = subprocess.run(chk, cwd=HERE, capture_output=True, text=True)
    (ROOT / "results" / f"{run}.check.json").write_text(r.stdout)
    print(r.stdout, r.stderr[-2000:] if r.returncode else "")
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
