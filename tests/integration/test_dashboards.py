"""Every panel of every committed dashboard returns data from a real Prometheus (Debian's
package) scraping a running ``iotrack demo --serve``."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from streams.errors import LocalServiceError
from streams.local.kafka import LocalKafka
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.local.prometheus import LocalPrometheus, find_binary
from tests.deploy.test_dashboards import generator
from tests.integration.embedded import embedded_env

CHECKOUT = Path(__file__).resolve().parents[2]
DASHBOARDS = CHECKOUT / "deploy" / "grafana" / "dashboards"
# What Grafana would put in place of its range variables; a minute holds about 60 scrapes here.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1m", "$__interval": "15s"}


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _wait_for(lines: queue.Queue[str], marker: str, timeout_s: float, seen: list[str]) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the demo did not print {marker!r} in {timeout_s:.0f} s:\n" + "".join(
            seen[-40:]
        )
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        seen.append(line)
        if marker in line:
            return


def _queries() -> Iterator[tuple[str, str, str]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for title, template in generator().queries(document):
            expr = template
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            yield path.name, title, expr


def test_every_panel_query_returns_data_from_prometheus_scraping_the_demo(tmp_path):
    try:
        find_binary()
    except LocalServiceError as exc:
        pytest.fail(str(exc))
    queries = list(_queries())
    assert len(queries) >= 20
    home = tmp_path / "home"
    kafka_port, postgres_port, metrics_port = free_port(), free_port(), free_port()
    api_port = free_port()
    env = embedded_env(
        home, IOTRACK_KAFKA_PORT=str(kafka_port), IOTRACK_POSTGRES_PORT=str(postgres_port)
    )
    started = time.monotonic()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "demo",
            "--serve",
            "--metrics-port",
            str(metrics_port),
            "--api-port",
            str(api_port),
        ],
        cwd=CHECKOUT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(demo.stderr, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    prometheus = LocalPrometheus(
        tmp_path / "prometheus", [f"127.0.0.1:{metrics_port}"], scrape_interval_s=1.0
    )
    timings: dict[str, float] = {}
    try:
        # Prometheus starts with the demo, so it also scrapes the day while it is played.
        _wait_for(lines, "starting the local broker", 60, seen)
        prometheus.start()
        _wait_for(lines, "serving:", 240, seen)
        timings["demo_s"] = time.monotonic() - started
        # `demo --serve` serves the query API and its web console, and says where.
        console = f"http://127.0.0.1:{api_port}/console"
        assert f"the web console on {console}" in seen[-1]
        with urllib.request.urlopen(f"{console}/sign-in", timeout=10) as page:
            assert page.status == 200
            assert b"Access token" in page.read()
        # A few scrapes of the finished day: rate() and increase() need two samples in their
        # range, and the summary's gate checks counted last.
        deadline = time.monotonic() + 30
        scraped = "sum(count_over_time(up[10m]))"
        before = prometheus.query(scraped)
        wanted = (float(before[0]["value"][1]) if before else 0) + 4
        while True:
            scrapes = prometheus.query(scraped)
            if scrapes and float(scrapes[0]["value"][1]) >= wanted:
                break
            assert demo.poll() is None, "the demo exited while it should serve:\n" + "".join(seen)
            assert time.monotonic() < deadline, f"Prometheus did not scrape the demo: {scrapes}"
            time.sleep(0.5)
        up = prometheus.query('up{job="iotrack"}')
        assert [s["value"][1] for s in up] == ["1"], up
        empty = []
        for dashboard, title, expr in queries:
            if not prometheus.query(expr):
                empty.append(f"{dashboard}: {title}: {expr}")
        timings["total_s"] = time.monotonic() - started
        assert not empty, "panels without data:\n" + "\n".join(empty)
    finally:
        prometheus.stop()
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(90)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        reader.join(10)
        demo.stderr.close()
        left = []
        for name, service in (
            ("broker", LocalKafka(home, base_port=kafka_port)),
            ("database", LocalPostgres(home, port=postgres_port)),
        ):
            if service.running():
                left.append(name)
                service.stop()
        print(f"timings: {timings}")
    assert demo.returncode == 0, "".join(seen[-40:])
    assert not left, f"the demo left its {' and '.join(left)} running"
