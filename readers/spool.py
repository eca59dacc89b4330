"""A durable local spool: what a reader accepted stays on disk until the broker has it.

SQLite in WAL mode with ``synchronous=FULL``: when ``append`` returns, the records survive a
SIGKILL of the reader and a power cut. A forwarder takes them in sequence order, produces them,
and deletes each once the broker acknowledged it. Sequence numbers only grow (AUTOINCREMENT), so
order is kept across restarts.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from readers.errors import SpoolError


@dataclass(frozen=True)
class SpooledRecord:
    """One record waiting for the broker."""

    seq: int
    topic: str
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Pending:
    """A record to spool: topic, key, value."""

    topic: str
    key: bytes | None
    value: bytes | None


class Spool:
    """The spool file; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS spool ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
                " key BLOB, value BLOB)"
            )
        except OSError as exc:
            raise SpoolError(
                f"cannot create the spool's folder {path.parent}: {exc.strerror}"
            ) from exc
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open the spool {path}: {exc}") from exc

    def append(self, records: Sequence[Pending]) -> list[int]:
        """Store records durably, in order, in one transaction; their sequence numbers."""
        if not records:
            return []
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                seqs = []
                for record in records:
                    cursor = self._db.execute(
                        "INSERT INTO spool (topic, key, value) VALUES (?, ?, ?)",
                        (record.topic, record.key, record.value),
                    )
                    seqs.append(int(cursor.lastrowid or 0))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SpoolError(f"cannot write to the spool {self.path}: {exc}") from exc
        return seqs

    def peek(self, after: int = 0, limit: int = 1000) -> list[SpooledRecord]:
        """Up to ``limit`` records with a sequence number above ``after``, oldest first."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT seq, topic, key, value FROM spool WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read the spool {self.path}: {exc}") from exc
        return [SpooledRecord(int(s), str(t), k, v) for s, t, k, v in rows]

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget records the broker has acknowledged."""
        batch = [(s,) for s in seqs]
        if not batch:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("DELETE FROM spool WHERE seq = ?", batch)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SpoolError(f"cannot update the spool {self.path}: {exc}") from exc

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM spool").fetchone()
        return int(row[0])

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # nothing was open
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        """Close the file (records stay for the next start)."""
        with self._lock:
            self._db.close()
