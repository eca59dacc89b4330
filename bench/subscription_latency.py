"""Deviation published -> webhook received, and -> server-sent event received, at a steady rate.

A throwaway local broker and Postgres (unless ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL``
are set); ``iotrack api`` and ``iotrack subscriptions run`` each in its own process; in this
process a webhook receiver (stdlib ``ThreadingHTTPServer`` on loopback), a stream client reading
``/subscriptions/{id}/events``, and a producer publishing deviations at ``--rate`` per second for
``--seconds`` (round-robin over 20 IOT_IDs), each timed from just before ``produce`` to the
moment the receiver or the stream client parsed it. Baseline in the same run: a bare
confluent-kafka consumer (``read_committed``) of the deviation topic in this process, timed the
same way: what the broker and a consumer's poll cost before iotrack does anything.

Every client signs in as its party on the SASL/SCRAM broker (``bench.brokers``): the deviations
are published as the core (their one writer), the bare consumer reads as the delivery worker,
``iotrack api`` and ``iotrack subscriptions run`` sign in as themselves; each process connects
to Postgres as its duty. There is no unsecured comparison here: ``iotrack`` processes cannot
sign in to a broker without SASL (``bench.brokers``' unsecured node serves in-process clients
only), as for ``bench.api_gate_check``.

Run: ``.venv/bin/python -m bench.subscription_latency [--rate 100] [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from bench.brokers import Broker, broker, modes
from bench.gate_check import percentile
from streams.http.access import token_line
from streams.local import runtime
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port, port_accepts
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from streams.ops.settings import Secret
from topics import catalog
from topics.clients import KafkaConnection, consumer, producer
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import CORE, SUBSCRIPTIONS
from topics.schemas import repository

CHECKOUT = Path(__file__).resolve().parent.parent
TOKEN = "bench-customs-token-0000001"  # noqa: S105 - a throwaway token for a throwaway server
CODEC = SingleObjectCodec()
NODE = "BENCH-NODE"


class Arrivals:
    """When each event id arrived, per path."""

    def __init__(self) -> None:
        self.at: dict[str, dict[str, float]] = {"webhook": {}, "stream": {}, "bare consumer": {}}
        self.lock = threading.Lock()

    def seen(self, path: str, event_id: str) -> None:
        now = time.perf_counter()
        with self.lock:
            self.at[path].setdefault(event_id, now)


def _receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            for notification in json.loads(body):
                arrivals.seen("webhook", notification["id"])
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stream(api_port: int, sid: str, arrivals: Arrivals, stop: threading.Event) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
    connection.request(
        "GET", f"/subscriptions/{sid}/events", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    response = connection.getresponse()
    while not stop.is_set():
        line = response.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            arrivals.seen("stream", json.loads(line[6:])["id"])
    connection.close()


def _bare(
    connection: KafkaConnection, arrivals: Arrivals, stop: threading.Event, ready: threading.Event
) -> None:
    reader = consumer(connection, f"bench-{uuid.uuid4().hex[:6]}", **{"fetch.wait.max.ms": 10})
    topic = catalog.DEVIATIONS
    assignment = []
    for partition in range(topic.partitions):
        _, high = reader.get_watermark_offsets(TopicPartition(topic.name, partition), timeout=10)
        assignment.append(TopicPartition(topic.name, partition, high))
    reader.assign(assignment)
    ready.set()
    while not stop.is_set():
        message = reader.poll(0.05)
        if message is None:
            continue
        if message.error() is not None:
            print(f"bare consumer: {message.error()}", flush=True)
            continue
        value = message.value()
        if value:
            arrivals.seen("bare consumer", str(CODEC.decode(value).value["event_id"]))
    reader.close()


def _call(port: int, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _ready(port: int, process: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the process on port {port} did not get ready")
        if port_accepts(port):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                    return
            except OSError:
                pass
        time.sleep(0.2)


def _publish(connection: KafkaConnection, rate: float, seconds: float) -> dict[str, float]:
    out = producer(connection)
    template = example(repository().get("iotrack.Deviation"))
    keys = [str(uuid.uuid4()) for _ in range(20)]
    # Warm-up, untimed: the idempotent producer's start (its producer id, the partitions'
    # leaders) held the first second of sends back by up to a second.
    for key in keys:
        warm = {**template, "event_id": str(uuid.uuid4()), "iot_id": key, "node_id": "WARM-UP"}
        out.produce(
            catalog.DEVIATIONS.name,
            key=catalog.DEVIATIONS.key_of(warm),
            value=CODEC.encode("iotrack.Deviation", warm),
        )
    out.flush(30)
    published: dict[str, float] = {}
    interval = 1 / rate
    scheduled = time.perf_counter()
    for n in range(int(rate * seconds)):
        pause = scheduled - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        scheduled += interval
        value = {**template, "event_id": str(uuid.uuid4()), "iot_id": keys[n % len(keys)],
                 "node_id": NODE, "kind": "OVERDUE", "observed": f"number {n}"}  # fmt: skip
        encoded = CODEC.encode("iotrack.Deviation", value)
        published[value["event_id"]] = time.perf_counter()
        out.produce(catalog.DEVIATIONS.name, key=catalog.DEVIATIONS.key_of(value), value=encoded)
        out.poll(0)
    out.flush(30)
    return published


def _report(label: str, published: dict[str, float], arrived: dict[str, float]) -> None:
    latencies = sorted(arrived[e] - t for e, t in published.items() if e in arrived)
    if not latencies:
        print(f"{label}: nothing arrived", flush=True)
        return
    print(
        f"{label}: {len(latencies)}/{len(published)} arrived; p50 "
        f"{1e3 * statistics.median(latencies):.1f} ms, p99 "
        f"{1e3 * percentile(latencies, 0.99):.1f} ms, max {1e3 * latencies[-1]:.1f} ms",
        flush=True,
    )


def _start(
    kafka: Broker,
    database: runtime.Databases,
    tokens: Path,
    processes: list[subprocess.Popen[bytes]],
) -> int:
    """``iotrack api`` and ``iotrack subscriptions run``, ready, each signed in as itself and
    connected as its duty; the API's port."""
    env = {
        **kafka.cli_env(),
        "IOTRACK_API_TOKENS_FILE": str(tokens),
        "IOTRACK_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the bench's receiver
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    api_port, worker_port = free_port(), free_port()
    for command, port, path, duty in (
        (["api", "--port", str(api_port)], api_port, "/openapi.json", Duty.API),
        (
            ["subscriptions", "run", "--port", str(worker_port)],
            worker_port,
            "/ready",
            Duty.SUBSCRIPTIONS,
        ),
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *command],
            cwd=CHECKOUT,
            env={**env, "DATABASE_URL": database.url(duty).reveal()},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        _ready(port, process, path)
    return api_port


def _measure(kafka: Broker, database: runtime.Databases, rate: float, seconds: float) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="iotrack-bench-") as name:
        try:
            tokens = Path(name) / "tokens"
            tokens.write_text(token_line(TOKEN, "customs", "bench") + "\n")
            api_port = _start(kafka, database, tokens, processes)
            arrivals = Arrivals()
            receiver = _receiver(arrivals)
            hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
            filters = {"nodes": [NODE]}
            _call(api_port, "POST", "/subscriptions",
                  {"topic": "deviations", "filters": filters, "url": hook})  # fmt: skip
            stream = _call(api_port, "POST", "/subscriptions",
                           {"topic": "deviations", "filters": filters})  # fmt: skip
            threading.Thread(
                target=_stream,
                args=(api_port, stream["subscription_id"], arrivals, stop),
                daemon=True,
            ).start()
            ready = threading.Event()
            threading.Thread(
                target=_bare,
                args=(kafka.connect(SUBSCRIPTIONS), arrivals, stop, ready),
                daemon=True,
            ).start()
            ready.wait(30)
            time.sleep(1.5)  # the worker has re-read its subscriptions
            published = _publish(kafka.connect(CORE), rate, seconds)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                len(at) < len(published) for at in arrivals.at.values()
            ):
                time.sleep(0.2)
            print(
                f"{kafka.label}: deviations published at {rate:g}/s for {seconds:g} s",
                flush=True,
            )
            for path in ("webhook", "stream", "bare consumer"):
                _report(f"published -> {path}", published, arrivals.at[path])
            receiver.shutdown()
        finally:
            stop.set()
            for process in processes:
                process.terminate()
                process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    given = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="iotrack-bench-") as name:
        postgres = None if given else LocalPostgres(Path(name) / "home", port=free_port())
        try:
            if postgres is not None:
                postgres.start()
            database = runtime.Databases(postgres, Secret(given) if given else None)
            migrate(database.url(Duty.OWNER).reveal())
            [mode] = modes("sasl")
            with broker(mode) as kafka:
                _measure(kafka, database, args.rate, args.seconds)
        finally:
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
