"""The tracking core's restart: restore time and resident memory of one core for N active IOT_IDs.

A core state of N active IOT_IDs is made by the core itself (``processors.core.apply`` over real
events, ``bench.changelog``'s units): each unit bound (one container, one MRN) on a three-node
path, read at the quay, released 7 times in 10, and a hold placed on every one (lifted on half).
It is built in batches of ``--batch`` units in a subprocess of its own, and each batch's
changelog records (``streams.workers.changelog.changelog_records``: the entries it changed, and
the meta record) are written to the changelog topic of a throwaway local broker (``bench.brokers``,
SASL/SCRAM and ACLs, signed in as the core), as the core writes them after each batch; here with
an idempotent producer but no transactions, so the records are committed as written (the core's
own transactions would add their markers, one per batch).

Then a FRESH subprocess, signed in as the core, runs the worker's own restore path and nothing
else: ``streams.workers.core.read_changelog`` (the topic read to its end, the latest record of
each key, as ``CoreWorker._read_changelog``) and ``streams.workers.changelog.restore``, both
within ``collector_paused``, as ``CoreWorker._start_from_committed`` calls them. It reports the
seconds of each, the time the garbage collector took within them (``gc.callbacks``), the
changelog's records and bytes (keys and values) per IOT_ID, and its resident memory from
``/proc/self/status``: VmRSS with the modules imported and the codec loaded (the bare instance),
after the read, after the restore, once the records read are dropped (what the worker keeps),
and VmHWM (the peak). Bytes per IOT_ID = (VmRSS once the records are dropped - the bare
instance's) / N. At the smallest N, two more fresh subprocesses say where the memory goes (a
``sys.getsizeof`` walk of the restored state, each object counted once, under the first part of
the state that reaches it; tracemalloc's total and top lines beside it) and where the restore
time goes (cProfile of ``restore``, top functions).

``--baseline DIR`` runs the restore subprocesses once more against the same records, from
another checkout of the project (``git archive COMMIT | tar -x -C DIR``: its code restores), so
figures before and after a change come side by side from one run. A process above 12 GiB
resident stops the benchmark. Nothing is asserted.

Run: ``.venv/bin/python -m bench.core_restore [--units 100000,1000000] [--batch 10000]
[--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import json
import os
import pstats
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from bench.brokers import Broker, local
from bench.changelog import PATH, Core, bind, history
from processors.core import CoreState
from streams.ops.settings import Secret
from streams.workers.changelog import changelog_records, collector_paused, restore
from streams.workers.core import read_changelog
from topics import catalog
from topics.clients import KafkaConnection, produce, producer
from topics.codec import SingleObjectCodec
from topics.parties import CORE

CODEC = SingleObjectCodec()
LIMIT_BYTES = 12 * 1024**3
"""A process above this resident size stops the benchmark (the machine has 24 GiB)."""
_ENV = ("IOTRACK_BENCH_BOOTSTRAP", "IOTRACK_BENCH_USERNAME", "IOTRACK_BENCH_PASSWORD")
"""How the parent hands the core's connection to its subprocesses (the password not in argv)."""


def status(field: str) -> int:
    """A field of ``/proc/self/status`` (VmRSS, VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _guard() -> None:
    """Stop this process, saying so, once it is above ``LIMIT_BYTES`` resident."""

    def watch() -> None:
        while True:
            rss = status("VmRSS")
            if rss > LIMIT_BYTES:
                print(
                    json.dumps({"stopped": f"VmRSS {rss / 1024**3:.1f} GiB above 12 GiB"}),
                    flush=True,
                )
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()


def _connection() -> KafkaConnection:
    bootstrap, username, password = (os.environ[name] for name in _ENV)
    return KafkaConnection(bootstrap, username, Secret(password))


class _GcTime:
    """Seconds the garbage collector took while counting."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


# -- the subprocesses ----------------------------------------------------------------------


def write_state(units: int, batch: int) -> dict[str, Any]:
    """Build the state batch by batch and write each batch's changelog records (subprocess)."""
    connection = _connection()
    out = producer(connection, **{"linger.ms": 50, "batch.size": 1_000_000, "log_level": 0})
    topic = catalog.CORE_CHANGELOG.name
    core = Core()
    core.feed("iotrack.MissionPathDefined", **PATH)
    applying = encoding = 0.0
    records = written = 0
    for start in range(0, units, batch):
        numbers = range(start, min(start + batch, units))
        began = time.perf_counter()
        iot_ids = [bind(core, n) for n in numbers]
        for n, iot_id in zip(numbers, iot_ids, strict=True):
            history(core, n, iot_id, held=True, lifted=n % 2 == 1)
        encoded = time.perf_counter()
        changed = changelog_records(core.state, CODEC)
        applying += encoded - began
        encoding += time.perf_counter() - encoded
        for key, value in changed:
            produce(out, topic, key, value)
            written += len(key) + len(value or b"")
        records += len(changed)
        out.poll(0)
    left = out.flush(120)
    return {
        "events": core.n,
        "apply_s": applying,
        "encode_s": encoding,
        "records_written": records,
        "bytes_written": written,
        "unflushed": left,
        "writer_peak_rss": status("VmHWM"),
    }


def restore_once(units: int, how: str) -> dict[str, Any]:
    """The worker's restore path in this fresh process: read, restore, and what it costs."""
    connection = _connection()
    CODEC.decode(CODEC.encode("iotrack.state.InputSeen", {"at": 0}))  # the codec's schemas loaded
    gc.collect()
    bare = status("VmRSS")
    if how == "walk":
        tracemalloc.start()
    timing = _GcTime()
    started = time.perf_counter()
    with collector_paused():  # as the worker restores (CoreWorker._start_from_committed)
        stored = read_changelog(connection)
        read = time.perf_counter()
        gc_read, timing.seconds = timing.seconds, 0.0
        after_read = status("VmRSS")
        if how == "profile":
            profile = cProfile.Profile()
            state = profile.runcall(restore, stored, CODEC)
        else:
            state = restore(stored, CODEC)
    done = time.perf_counter()
    figures: dict[str, Any] = {
        "units": units,
        "iots": len(state.iots),
        "records": len(stored),
        "bytes": sum(len(s.key) + len(s.value) for s in stored),
    }
    if how == "profile":
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(18)
        figures["profile"] = text.getvalue()
        return figures
    after_restore = status("VmRSS")
    del stored
    gc.collect()
    kept = status("VmRSS")
    figures.update(
        {
            "read_s": read - started,
            "restore_s": done - read,
            "total_s": done - started,
            "gc_read_s": gc_read,
            "gc_restore_s": timing.seconds,
            "bare_rss": bare,
            "read_rss": after_read,
            "restored_rss": after_restore,
            "kept_rss": kept,
            "peak_rss": status("VmHWM"),
        }
    )
    if how == "walk":
        traced = tracemalloc.take_snapshot().statistics("lineno")
        figures["traced"] = sum(t.size for t in traced)
        figures["traced_lines"] = [(str(t.traceback), t.size, t.count) for t in traced[:12]]
        tracemalloc.stop()
        figures["walk"] = walk(state)
    return figures


# -- where the memory goes -----------------------------------------------------------------

_SHARED = (type, ModuleType, FunctionType)
_MANAGED_DICT = 1 << 4
"""Python 3.11's Py_TPFLAGS_MANAGED_DICT: instances keep their attributes' values in an array
``sys.getsizeof`` does not count."""


def _values_size(obj: object) -> int:
    """The bytes of the values array of a dataclass instance without slots, as tracemalloc
    finds it on 3.11 (8 B a field, and a prefix of 16 B and 8 B per 8 fields); 0 otherwise."""
    if not type(obj).__flags__ & _MANAGED_DICT or not dataclasses.is_dataclass(obj):
        return 0
    n = len(dataclasses.fields(obj))
    return 8 * n + 16 + 8 * ((n + 2) // 8)


def _sizes(roots: Iterable[object], seen: set[int], by_type: Counter[str] | None = None) -> int:
    """Bytes of ``roots`` and everything they reach that ``seen`` does not hold yet (classes,
    modules and functions aside), each object once (a dataclass instance with its values
    array); ``seen`` takes them."""
    total = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        size = sys.getsizeof(obj) + _values_size(obj)
        total += size
        if by_type is not None:
            by_type[type(obj).__name__] += size
        stack.extend(gc.get_referents(obj))
    return total


def walk(state: CoreState) -> dict[str, Any]:
    """Bytes of each part of the state, each object under the first part that reaches it, in
    the order given; and bytes by type over the whole state."""
    seen: set[int] = {id(state.config)}
    by_type: Counter[str] = Counter()
    iots = list(state.iots.values())
    parts: list[tuple[str, Callable[[], Iterable[object]]]] = [
        ("Position.path: a MissionPath per position", lambda: (t.position.path for t in iots)),
        ("Position (path aside)", lambda: (t.position for t in iots)),
        ("Clearance.holds", lambda: (t.clearance.holds for t in iots)),
        ("Clearance.journal", lambda: (t.clearance.journal for t in iots)),
        ("Clearance (holds, journal aside)", lambda: (t.clearance for t in iots)),
        ("Tracked (iot_id, request_id, mrns, itus)", lambda: iots),
        ("iots: dict and keys", lambda: [state.iots]),
        ("ledger.intervals: dict, keys, Interval tuples", lambda: [state.ledger.intervals]),
        ("ledger.requests: dict, keys, IOT_IDs", lambda: [state.ledger.requests]),
        ("applied: input ids remembered for dedupe", lambda: [state.applied]),
        ("everything else (paths, trains, ...)", lambda: [state]),
    ]
    sizes = {label: _sizes(roots(), seen, by_type) for label, roots in parts}
    return {"parts": sizes, "types": dict(by_type.most_common(14))}


# -- the parent ------------------------------------------------------------------------------


def _child(args: list[str], env: dict[str, str], tree: Path) -> dict[str, Any]:
    """``python -m bench.core_restore`` in a fresh process, from ``tree``; its last line."""
    run = subprocess.run(
        [sys.executable, "-m", "bench.core_restore", *args],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-3000:])
    lines = run.stdout.strip().splitlines()
    found: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if run.returncode != 0 and "stopped" not in found:
        found["stopped"] = f"exit {run.returncode}"
    return found


def _mib(n: float) -> str:
    return f"{n / 1024**2:,.0f} MiB"


def _report(label: str, f: dict[str, Any]) -> None:
    units = f["units"]
    if "stopped" in f:
        print(f"  {label}: stopped: {f['stopped']}")
        return
    per = (f["kept_rss"] - f["bare_rss"]) / units
    if "walk" in f:
        _report_walk(label, f)
        return
    print(
        f"  {label}: {f['iots']:,} IOT_IDs from {f['records']:,} records "
        f"({f['records'] / units:.2f} per IOT_ID, {f['bytes'] / units:,.0f} B per IOT_ID)\n"
        f"    read from Kafka {f['read_s']:.2f} s (gc {f['gc_read_s']:.2f} s), decode and "
        f"rebuild {f['restore_s']:.2f} s (gc {f['gc_restore_s']:.2f} s), total "
        f"{f['total_s']:.2f} s\n"
        f"    VmRSS bare {_mib(f['bare_rss'])}, read {_mib(f['read_rss'])}, restored "
        f"{_mib(f['restored_rss'])}, records dropped {_mib(f['kept_rss'])}; VmHWM "
        f"{_mib(f['peak_rss'])}\n"
        f"    resident per IOT_ID: {per:,.0f} B (the records still held: "
        f"{(f['restored_rss'] - f['bare_rss']) / units:,.0f} B)"
    )


def _report_walk(label: str, f: dict[str, Any]) -> None:
    units = f["units"]
    print(
        f"  {label} (restored under tracemalloc): VmRSS once the records are dropped "
        f"{(f['kept_rss'] - f['bare_rss']) / units:,.0f} B per IOT_ID above the bare instance; "
        f"allocated by Python and still held {f['traced'] / units:,.0f} B per IOT_ID; "
        "by line:"
    )
    for where, size, count in f["traced_lines"]:
        print(f"      {where:60} {size / units:>7,.0f} B  {count / units:>6.1f} blocks")
    walked = f["walk"]
    total = sum(walked["parts"].values())
    print(f"    getsizeof walk: {total / units:,.0f} B per IOT_ID in objects")
    for part, size in walked["parts"].items():
        print(f"      {part:48} {size / units:>7,.0f} B  {100 * size / total:4.1f} %")
    print("    by type:")
    for name, size in walked["types"].items():
        print(f"      {name:48} {size / units:>7,.0f} B  {100 * size / total:4.1f} %")


def measure(kafka: Broker, units: int, batch: int, trees: dict[str, Path], first: bool) -> None:
    core = kafka.connect(CORE)
    env = dict(os.environ)
    env.update(zip(_ENV, (core.bootstrap, core.username, core.password.reveal()), strict=True))
    started = time.perf_counter()
    wrote = _child(["--write", str(units), "--batch", str(batch)], env, trees["this tree"])
    print(
        f"\n{units:,} active IOT_IDs, each bound, read at the quay and held (half lifted): "
        f"{wrote.get('events', 0):,} events applied in {wrote.get('apply_s', 0):.1f} s, "
        f"{wrote.get('records_written', 0):,} changelog records encoded in "
        f"{wrote.get('encode_s', 0):.1f} s and written ({wrote.get('unflushed')} unflushed) "
        f"in {time.perf_counter() - started:.1f} s all told; writer's VmHWM "
        f"{_mib(wrote.get('writer_peak_rss', 0))}",
        flush=True,
    )
    if "stopped" in wrote:
        print(f"  stopped: {wrote['stopped']}")
        return
    for label, tree in trees.items():
        _report(label, _child(["--restore", str(units)], env, tree))
        if first:
            _report(f"{label}, memory walk", _child(["--walk", str(units)], env, tree))
            profiled = _child(["--profile", str(units)], env, tree)
            print(f"  {label}: cProfile of restore ({profiled.get('iots', 0):,} IOT_IDs)")
            print(profiled.get("profile", profiled.get("stopped", "")))
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--batch", type=int, default=10_000, help="units per written batch")
    parser.add_argument("--baseline", type=Path, help="another checkout to restore with too")
    parser.add_argument("--write", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--restore", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--walk", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write or args.restore or args.walk or args.profile:
        _guard()
        if args.write:
            found = write_state(args.write, args.batch)
        else:
            how = "restore" if args.restore else "walk" if args.walk else "profile"
            found = restore_once(args.restore or args.walk or args.profile, how)
        print(json.dumps(found), flush=True)
        return
    trees = {"this tree": Path.cwd()}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), **trees}
    for k, units in enumerate(int(u) for u in args.units.split(",")):
        with local("sasl") as kafka:  # a broker of its own for each N: one state on the topic
            measure(kafka, units, args.batch, trees, first=k == 0)


if __name__ == "__main__":
    main()
