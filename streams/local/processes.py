"""Small process and port helpers shared by the local broker and database managers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from streams.errors import LocalServiceError

# Services started by this very process (tests, the demo) keep their Popen handle here until they
# are stopped: a handle dropped while its child runs warns (ResourceWarning) and leaves a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def adopt(process: subprocess.Popen[bytes]) -> None:
    """Keep a started service's handle so that stopping it later also reaps it."""
    _CHILDREN[process.pid] = process


def read_pid(path: Path) -> int | None:
    """The pid written in ``path``, or None when the file is absent or unreadable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


def process_alive(pid: int, marker: str) -> bool:
    """True when ``pid`` runs and its command line contains ``marker`` (pids get reused)."""
    _reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and marker.encode() in cmdline


def stop_process(pid: int, marker: str, timeout: float) -> None:
    """Wait up to ``timeout`` for ``pid`` to exit after SIGTERM, then SIGKILL it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid, marker):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while process_alive(pid, marker):
        time.sleep(0.05)


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_in_use_error(port: int, what: str, setting: str) -> LocalServiceError:
    """The one-sentence error for a port that another process already holds."""
    return LocalServiceError(
        f"port {port} on 127.0.0.1, wanted for {what}, is already in use by another process: "
        f"stop that process or set {setting} to a free port"
    )


def free_port() -> int:
    """A TCP port on loopback that is free right now (for tests and throwaway clusters)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
