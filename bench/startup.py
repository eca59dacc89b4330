"""Start-up of the embedded default: ``iotrack up`` cold and warm, against a bare start.

* cold: ``iotrack up`` in an empty ``IOTRACK_HOME`` (initdb, storage format, broker start,
  migrations); the broker jars are already in ``deploy/kafka/lib``.
* warm: ``iotrack up`` again after ``iotrack down``, in the same home.
* baseline: in the same warm home, the two servers started by hand, without iotrack: ``pg_ctl
  start -w`` and ``java kafka.Kafka`` until the broker answers a metadata request. The
  difference is what iotrack's own checks and migrations cost.

Also reported: the broker's resident memory after start, with the heap limit it was given.
Run: ``.venv/bin/python -m bench.startup [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streams.local.kafka import LocalKafka
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port, stop_process
from topics.clients import admin_client

IOTRACK = [sys.executable, "-m", "streams.cli"]


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _bare_start(home: Path, kafka_port: int, pg_port: int) -> float:
    """Both servers started directly, as a person would without iotrack (already formatted)."""
    kafka = LocalKafka(home, base_port=kafka_port)
    postgres = LocalPostgres(home, port=pg_port)
    node = kafka.nodes[0]
    java = "java"
    started = time.perf_counter()
    subprocess.run(
        postgres._as_service_user(
            [
                "pg_ctl",
                "start",
                "-D",
                str(postgres.data),
                "-l",
                str(postgres.log),
                "-w",
                "-o",
                postgres.server_options(),
            ]
        ),
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": _pg_path()},
    )
    process = subprocess.Popen(
        kafka._java_command(java, node, "kafka.Kafka", str(node.properties)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    admin = admin_client(kafka.admin_connection())  # the broker takes SASL/SCRAM only
    while True:
        try:
            if admin.list_topics(timeout=1).brokers:
                break
        except Exception:
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    process.terminate()
    process.wait(60)
    postgres.stop()
    return elapsed


def _pg_path() -> str:
    bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    return f"{bindirs[-1]}:{os.environ['PATH']}" if bindirs else os.environ["PATH"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    cold, warm, bare, rss = [], [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="iotrack-bench-") as directory:
            home = Path(directory)
            kafka_port, pg_port = free_port(), free_port()
            env = {
                **os.environ,
                "IOTRACK_HOME": str(home),
                "IOTRACK_KAFKA_PORT": str(kafka_port),
                "IOTRACK_POSTGRES_PORT": str(pg_port),
            }
            for key in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
                env.pop(key, None)
            try:
                cold.append(_timed([*IOTRACK, "up"], env))
                pid = LocalKafka(home, base_port=kafka_port).nodes[0].pid()
                if pid:
                    rss.append(_rss_mib(pid))
                _timed([*IOTRACK, "down"], env)
                warm.append(_timed([*IOTRACK, "up"], env))
                _timed([*IOTRACK, "down"], env)
                bare.append(_bare_start(home, kafka_port, pg_port))
            finally:
                subprocess.run([*IOTRACK, "down"], env=env, check=False, capture_output=True)
                pid = LocalKafka(home, base_port=kafka_port).nodes[0].pid()
                if pid:
                    stop_process(pid, "kafka.Kafka", 30)

    def line(name: str, values: list[float]) -> str:
        return f"{name:<34} median {statistics.median(values):6.2f} s   runs {values_text(values)}"

    def values_text(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    print(f"iotrack up, {runs} runs each (jar cache filled; heap limit -Xmx512m)")
    print(line("cold (empty IOTRACK_HOME)", cold))
    print(line("warm (after iotrack down)", warm))
    print(line("baseline: pg_ctl + java by hand", bare))
    print(f"{'warm / baseline':<34} {statistics.median(warm) / statistics.median(bare):6.2f}x")
    if rss:
        print(f"{'broker resident memory':<34} median {statistics.median(rss):6.0f} MiB")


if __name__ == "__main__":
    main()
