"""Gate check through the HTTP API under load: ``GET /gate-check?container=...`` end to end.

20,000 units' verdicts are published to the verdict-by-ITU topic; ``iotrack api`` is started as
its own process (it reads them into memory), and while another thread keeps publishing verdict
updates at about 1,000/s, client threads in this process send gate checks of random units over
keep-alive HTTP/1.1 connections, one request at a time each, timing every request from send to
the parsed JSON answer: back to back with 1 and 4 clients (the most the server can take), then
paced at ``--rate`` requests/s over 4 clients. Baselines, in the same run with the same client,
each in its own process answering every GET with a fixed JSON body of the same size (HTTP and
JSON cost, no authentication, gate state or metrics): a bare endpoint of the same framework
(one FastAPI route on iotrack's uvicorn serving layer, ``streams.http.server``), and the bare
stdlib ``ThreadingHTTPServer`` the previous API was measured against. With ``--old DIR`` (a
checkout of the previous commit, e.g. ``git archive main | tar -x -C DIR``), that API (on
``http.server``) is measured in the same run too.

Run: ``.venv/bin/python -m bench.api_gate_check [--requests N] [--clients C ...] [--rate R]
[--old DIR]``; a throwaway local broker is started unless ``KAFKA_BOOTSTRAP_SERVERS`` is set.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.brokers import broker, modes
from bench.gate_check import UNITS, keep_updating, percentile, publish_verdicts, unit_code
from streams.http.access import token_line
from streams.local.processes import free_port, port_accepts
from topics.clients import producer
from topics.parties import CORE

CHECKOUT = Path(__file__).resolve().parent.parent
TOKEN = "bench-terminal-token-000001"  # noqa: S105 - a throwaway token for a throwaway server
BARE_SERVER = """
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = json.dumps({body!r}).encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


BARE_FRAMEWORK = """
import sys
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from streams.http.server import Server
BODY = {body!r}
app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
@app.get("/gate-check")
async def gate_check() -> JSONResponse:
    return JSONResponse(BODY)
Server(app, "127.0.0.1", int(sys.argv[1]), name="bare").serve_forever()
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_accepts(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server on port {port} did not start")
        time.sleep(0.1)


def _load(
    port: int, requests: int, clients: int, auth: bool, rate: float | None = None
) -> tuple[list[float], float]:
    """(latencies in seconds, wall seconds) of ``requests`` gate checks over ``clients``:
    back to back, or paced at ``rate`` requests/s in all (each client waits for its next slot,
    then sends; a latency counts from the send)."""
    timings: list[list[float]] = [[] for _ in range(clients)]
    headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}

    def client(number: int) -> None:
        rng = random.Random(number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = timings[number]
        interval = clients / rate if rate else 0.0
        scheduled = time.perf_counter() + interval * number / clients
        for _ in range(requests // clients):
            path = f"/gate-check?container={unit_code(rng.randrange(UNITS))}"
            if rate:
                pause = scheduled - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                scheduled += interval
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            json.loads(response.read())
            mine.append(time.perf_counter() - started)
            assert response.status == 200, response.status
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [t for each in timings for t in each], time.perf_counter() - started


def _report(label: str, timings: list[float], wall: float) -> None:
    ordered = sorted(timings)
    print(
        f"{label}: {len(ordered)} requests, {len(ordered) / wall:,.0f}/s; p50 "
        f"{1e3 * statistics.median(ordered):.2f} ms, p99 {1e3 * percentile(ordered, 0.99):.2f} "
        f"ms, max {1e3 * ordered[-1]:.1f} ms",
        flush=True,
    )


def _baselines(
    sample: bytes, env: dict[str, str], old: Path | None, processes: list[subprocess.Popen[bytes]]
) -> dict[str, int]:
    """Start the bare servers (and the previous API, given its checkout): label -> port."""
    servers: dict[str, int] = {}
    for label, script in (
        ("bare FastAPI endpoint (same serving layer)", BARE_FRAMEWORK),
        ("bare http.server", BARE_SERVER),
    ):
        port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-c", script.format(body=json.loads(sample)), str(port)],
            cwd=CHECKOUT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(bare)
        _wait_for(port, bare)
        servers[label] = port
    if old is not None:
        port = free_port()
        previous = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "api", "--port", str(port)],
            cwd=old,
            env={**env, "PYTHONPATH": str(old), "IOTRACK_API_TOKENS_FILE": env["OLD_TOKENS"]},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(previous)
        _wait_for(port, previous)
        servers["previous iotrack api (http.server)"] = port
    return servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="paced run: requests/s over 4 clients"
    )
    parser.add_argument(
        "--old",
        type=Path,
        default=None,
        help="a checkout of a previous API to measure too (one that signs in with SASL/SCRAM: "
        "77b0bd3's cannot)",
    )
    args = parser.parse_args()
    processes: list[subprocess.Popen[bytes]] = []
    [mode] = modes("sasl")
    with tempfile.TemporaryDirectory(prefix="iotrack-bench-") as name, broker(mode) as kafka:
        home = Path(name)
        try:
            # The verdicts' one writer; quiet when the broker goes at the end.
            out = producer(kafka.connect(CORE), log_level=0)
            publish_verdicts(out)
            # The API keeps tokens' digests; a previous checkout (--old) may take them in clear.
            tokens, old_tokens = home / "tokens", home / "tokens-in-clear"
            tokens.write_text(token_line(TOKEN, "terminal", "bench") + "\n")
            old_tokens.write_text(f"{TOKEN} terminal\n")
            api_port = free_port()
            env = {
                **kafka.cli_env(),
                "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/unused",
                "IOTRACK_API_TOKENS_FILE": str(tokens),
                "OLD_TOKENS": str(old_tokens),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            api = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "api", "--port", str(api_port)],
                cwd=CHECKOUT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(api)
            _wait_for(api_port, api)
            connection = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
            connection.request(
                "GET",
                f"/gate-check?container={unit_code(1)}",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            sample = connection.getresponse().read()
            connection.close()
            servers = {"iotrack api": api_port, **_baselines(sample, env, args.old, processes)}
            stop = threading.Event()

            loader = keep_updating(out, stop)
            for port in servers.values():
                _load(port, 2_000, 1, True)  # warm-up
            saturated: dict[str, float] = {}
            for clients in args.clients:
                for label, port in servers.items():
                    timings, wall = _load(port, args.requests, clients, True)
                    _report(f"{label}, {clients} client(s), ~1,000 updates/s", timings, wall)
                    if clients == max(args.clients):
                        saturated[label] = len(timings) / wall
            for label, port in servers.items():
                _report(
                    f"{label}, paced {args.rate:,.0f} requests/s over 4 clients",
                    *_load(port, args.requests, 4, True, rate=args.rate),
                )
            same = "bare FastAPI endpoint (same serving layer)"
            for label, rate in saturated.items():
                print(
                    f"saturated throughput {label} / {same}: {rate / saturated[same]:.2f}",
                    flush=True,
                )
            stop.set()
            loader.join()
            out.flush(30)
        finally:
            for process in processes:
                process.terminate()
                process.wait(30)


if __name__ == "__main__":
    main()
