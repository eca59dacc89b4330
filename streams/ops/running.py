"""The long-running processes of one ``IOTRACK_HOME``, for ``iotrack status``.

Each process that serves ``/ready`` writes ``$IOTRACK_HOME/run/<name>-<pid>.json`` (its name,
pid and base URL) when it starts serving and removes it when it stops; ``iotrack status`` asks
each one's ``/ready`` and prints the answer on its line. A file whose process is gone (killed)
is removed by the next ``status``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.local.processes import process_alive

ASK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Running:
    """A registered process and what its ``/ready`` answered."""

    name: str
    pid: int
    url: str
    ready: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "url": self.url,
            "ready": self.ready,
            "reason": self.reason,
        }


def _folder(home: Path) -> Path:
    return home / "run"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80]


def register(home: Path, name: str) -> Callable[[str], Callable[[], None]]:
    """A registrar for :func:`streams.http.ops.serve_ops`: writes the file for the URL it is
    given and returns how to remove it."""

    def at(url: str) -> Callable[[], None]:
        folder = _folder(home)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_safe(name)}-{os.getpid()}.json"
        document = {"name": name, "pid": os.getpid(), "url": url, "started_at": time.time()}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document))
        temporary.replace(path)

        def remove() -> None:
            with contextlib.suppress(OSError):
                path.unlink()

        return remove

    return at


def ask(url: str, timeout_s: float = ASK_TIMEOUT_S) -> tuple[bool, str]:
    """(ready, reason) from ``url``/ready."""
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=timeout_s) as answer:  # noqa: S310
            body = json.loads(answer.read())
            return True, str(body.get("reason", "ready"))
    except urllib.error.HTTPError as error:
        with error:
            try:
                body = json.loads(error.read())
            except ValueError:
                body = {}
        return False, str(body.get("reason", f"/ready answered {error.code}"))
    except (OSError, ValueError) as exc:
        return False, f"its /ready does not answer ({exc})"


def processes(home: Path) -> list[Running]:
    """Every process registered in ``home``, with its readiness; stale files removed."""
    found = []
    folder = _folder(home)
    if not folder.is_dir():
        return []
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text())
            name, pid, url = str(document["name"]), int(document["pid"]), str(document["url"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not process_alive(pid, "python"):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        ready, reason = ask(url)
        found.append(Running(name, pid, url, ready, reason))
    return found
