"""State store restore time and memory per key. Builds state for --keys distinct keys through the
Quix app itself (one event per key, one instance, exactly-once), stops it, then starts a fresh
instance with an empty state dir in the same group: it restores every partition from the changelog.
Reports the build rate, the restore time (process start -> 'Recovery process complete' in its log,
and the 'Beginning recovery' -> complete span), RSS after restore, RocksDB size and changelog size.

usage: restore.py --keys 100000 [--tag r100k]"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import psutil

import chaos
import common

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def start(tag: str, name: str, sd: Path) -> tuple[subprocess.Popen, Path]:
    logp = ROOT / "logs" / f"{tag}-{name}.log"
    p = subprocess.Popen([PY, "quix_app.py", "--input", f"{tag}.in", "--output", f"{tag}.out",
                          "--group", f"{tag}-core", "--state-dir", str(sd), "--instance", name,
                          "--commit-interval", "5"],
                         cwd=HERE, stdout=logp.open("wb"), stderr=subprocess.STDOUT)
    return p, logp


def stamp(line: str) -> float:
    m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", line)
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--restore-only", action="store_true",
                    help="state already built by an earlier run with this tag: time the restore again")
    a = ap.parse_args()
    tag = a.tag
    res: dict = {"keys": a.keys}
    if a.restore_only:
        prev = json.loads((ROOT / "results" / f"restore-{tag}.json").read_text())
        res.update({k: prev[k] for k in ("build_s", "build_per_s", "rocksdb_bytes", "changelog_bytes")
                    if k in prev})
        return _restore(a, tag, res, time)
    common.create_topics([f"{tag}.in", f"{tag}.out"])
    t0 = time.time()
    subprocess.run([PY, "produce.py", "--topic", f"{tag}.in", "--keys", str(a.keys), "--events",
                    str(a.keys), "--key-prefix", "k"], cwd=HERE, check=True)
    res["produce_s"] = round(time.time() - t0, 1)
    sd1 = ROOT / "state" / tag / "build"
    shutil.rmtree(sd1, ignore_errors=True)
    t0 = time.time()
    p, _ = start(tag, "build", sd1)
    chaos.wait_caught_up(f"{tag}-core", f"{tag}.in", 3600)
    res["build_s"] = round(time.time() - t0, 1)
    res["build_per_s"] = round(a.keys / res["build_s"])
    res["build_rss_mb"] = round(psutil.Process(p.pid).memory_info().rss / 2**20, 1)
    p.send_signal(signal.SIGTERM)
    p.wait(120)
    res["rocksdb_bytes"] = dir_size(sd1)
    data = ROOT / "home" / "kafka" / "node-1" / "data"
    cl = [d for d in data.iterdir() if d.name.startswith(f"changelog__{tag}-core--")]
    res["changelog_bytes"] = sum(f.stat().st_size for d in cl for f in d.glob("*.log"))  # segments only: index files are preallocated
    return _restore(a, tag, res, time)


def _restore(a, tag, res, time):
    # restore into an empty state dir
    sd2 = ROOT / "state" / tag / "restore"
    shutil.rmtree(sd2, ignore_errors=True)
    t_start = time.time()
    p, logp = start(tag, "restore", sd2)
    begin = done = None
    while done is None:
        time.sleep(0.5)
        for line in logp.read_text(errors="replace").splitlines():
            if "Beginning recovery check" in line and begin is None:
                begin = stamp(line)
            if "Recovery process complete" in line:
                done = stamp(line)
        if p.poll() is not None:
            raise SystemExit(f"restore instance exited: {logp}")
        if time.time() - t_start > 3600:
            raise SystemExit("restore took over an hour")
    time.sleep(2)
    rss = psutil.Process(p.pid).memory_info().rss
    p.send_signal(signal.SIGTERM)
    p.wait(120)
    res.update({
        "restore_from_process_start_s": round(done - t_start, 2),
        "restore_recovery_span_s": round(done - begin, 2) if begin else None,
        "restore_keys_per_s": round(a.keys / (done - begin)) if begin else None,
        "restore_rss_mb": round(rss / 2**20, 1),
        "restored_rocksdb_bytes": dir_size(sd2),
        "rocksdb_bytes_per_key": round(dir_size(sd2) / a.keys, 1),
        "changelog_bytes_per_key": round(res["changelog_bytes"] / a.keys, 1),
    })
    (ROOT / "results").mkdir(exist_ok=True)
    name = f"restore-{tag}{'-again-' + str(int(time.time())) if a.restore_only else ''}.json"
    (ROOT / "results" / name).write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
