"""A local Prometheus from Debian's package, scraping iotrack's ``/metrics`` endpoints.

Debian's ``prometheus`` package installs ``/usr/bin/prometheus`` (and a system service that
iotrack neither needs nor starts). ``LocalPrometheus`` runs that binary itself, on loopback,
with a generated configuration and its storage under one folder::

    <root>/prometheus.yml   the generated configuration: one job, ``iotrack``, the given targets
    <root>/data/            the time-series database
    <root>/prometheus.log   what Prometheus printed

It waits until Prometheus answers ``/-/ready``, and stops it with SIGTERM (SIGKILL after a
timeout). The dashboard test uses it; ``python -m streams.local.prometheus TARGET...`` runs one
in the foreground (for a look at a running ``iotrack demo --serve``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from streams.errors import LocalServiceError
from streams.local import system_packages
from streams.local.processes import free_port, port_accepts, port_in_use_error
from streams.ops.signals import stop_on_signals

DEBIAN_BINARY = Path("/usr/bin/prometheus")
INSTALL_HINT = (
    "install Debian's package with 'apt-get install prometheus' (as root; iotrack runs "
    "/usr/bin/prometheus itself and needs none of the system service the package sets up)"
)


def _located() -> Path | None:
    if DEBIAN_BINARY.exists():
        return DEBIAN_BINARY
    on_path = shutil.which("prometheus")
    return Path(on_path) if on_path else None


def find_binary() -> Path:
    """The ``prometheus`` binary: Debian's, else one on PATH; installed (as root) when absent.

    A clear error when it is absent and cannot be installed here.
    """
    found = _located()
    if found is None:
        system_packages.ensure(("prometheus",))
        found = _located()
    if found is None:
        raise LocalServiceError(f"Prometheus is not installed: {INSTALL_HINT}")
    return found


def config_text(targets: Sequence[str], scrape_interval_s: float) -> str:
    """The configuration: one ``iotrack`` job scraping ``targets`` (``host:port``).

    >>> print(config_text(["127.0.0.1:9300"], 1))
    global:
      scrape_interval: 1000ms
      evaluation_interval: 1000ms
    scrape_configs:
      - job_name: iotrack
        scrape_timeout: 1000ms
        static_configs:
          - targets: ["127.0.0.1:9300"]
    """
    interval = f"{round(scrape_interval_s * 1000)}ms"
    listed = ", ".join(json.dumps(t) for t in targets)
    return (
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  evaluation_interval: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: iotrack\n"
        f"    scrape_timeout: {interval}\n"
        "    static_configs:\n"
        f"      - targets: [{listed}]"
    )


class LocalPrometheus:
    """Start, query and stop one Prometheus on loopback."""

    def __init__(
        self,
        root: Path,
        targets: Sequence[str],
        *,
        port: int | None = None,
        scrape_interval_s: float = 1.0,
    ) -> None:
        self.root = root
        self.targets = list(targets)
        self.port = port or free_port()
        self.scrape_interval_s = scrape_interval_s
        self.config = root / "prometheus.yml"
        self.data = root / "data"
        self.log = root / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> str:
        """Write the configuration, start Prometheus and wait until it is ready; its URL."""
        binary = find_binary()
        if port_accepts(self.port):
            raise port_in_use_error(self.port, "the local Prometheus", "another port")
        self.data.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config_text(self.targets, self.scrape_interval_s) + "\n")
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [
                    str(binary),
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1d",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self._process.poll() is not None:
                self._process = None
                raise LocalServiceError(
                    "Prometheus exited during start-up: read its log, fix the cause (a bad "
                    "flag, a port taken meanwhile) and start again",
                    self.log,
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServiceError(
                    f"Prometheus was not ready within {timeout_s:.0f} s: read its log", self.log
                )
            time.sleep(0.1)
        return self.url

    def _ready(self) -> bool:
        try:
            # S310: the URL is our own http://127.0.0.1 one.
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def running(self) -> bool:
        """True while the Prometheus this object started runs."""
        return self._process is not None and self._process.poll() is None

    def get(self, path: str, **params: str) -> Any:
        """GET an API path (``/api/v1/...``); the ``data`` of a ``success`` answer."""
        query = urllib.parse.urlencode(params)
        try:
            url = f"{self.url}{path}?{query}"
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
                document = json.load(response)
        except urllib.error.HTTPError as exc:
            document = json.load(exc)
        if document.get("status") != "success":
            raise LocalServiceError(
                f"Prometheus refused {path} {params}: {document.get('error', document)}"
            )
        return document["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The series an instant query returns (``/api/v1/query``)."""
        data = self.get("/api/v1/query", query=expr)
        result = data["result"]
        return list(result) if data["resultType"] in ("vector", "matrix") else [result]

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; reaps the process."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> LocalPrometheus:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run a Prometheus scraping the given targets until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m streams.local.prometheus",
        description="a local Prometheus (Debian's package) scraping iotrack's /metrics",
    )
    parser.add_argument("targets", nargs="+", help="HOST:PORT of /metrics, e.g. 127.0.0.1:9300")
    parser.add_argument("--port", type=int, default=9090, help="its own port (default 9090)")
    parser.add_argument("--dir", help="configuration and storage (default: a temporary folder)")
    args = parser.parse_args(argv)
    stop = stop_on_signals()
    with contextlib.ExitStack() as stack:
        root = (
            Path(args.dir) if args.dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        prometheus = LocalPrometheus(root, args.targets, port=args.port)
        try:
            stack.enter_context(prometheus)
        except LocalServiceError as exc:
            print(f"prometheus: {exc}", file=sys.stderr)
            return 1
        print(f"Prometheus on {prometheus.url}, scraping {', '.join(args.targets)}; Ctrl-C stops")
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
