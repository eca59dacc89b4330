"""A durable local spool: what a reader accepted stays on disk until the broker has it.

SQLite in WAL mode with ``synchronous=FULL``: when ``append`` returns, the records survive a
SIGKILL of the reader and a power cut. A forwarder takes them in sequence order, produces them,
and deletes each once the broker acknowledged it. Sequence numbers only grow (AUTOINCREMENT), so
order is kept across restarts. Each record keeps when it was spooled, so a reader can tell how
long its oldest record has waited.

A record the broker refuses for good (too large for it, say) is moved to the spool's
``quarantine`` table with the reason, in one transaction, so that the records behind it drain;
``iotrack reader quarantine list`` and ``show`` inspect what is there.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
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
class Quarantined:
    """A record moved aside: the broker refused it for good."""

    seq: int
    topic: str
    key: bytes | None
    value: bytes | None
    reason: str
    spooled_at: float
    quarantined_at: float


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
                " key BLOB, value BLOB, spooled_at REAL)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(spool)")}
            if "spooled_at" not in columns:  # a spool of an earlier release: ages from now
                self._db.execute("ALTER TABLE spool ADD COLUMN spooled_at REAL")
                self._db.execute("UPDATE spool SET spooled_at = ?", (time.time(),))
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS quarantine ("
                " seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, key BLOB, value BLOB,"
                " spooled_at REAL, reason TEXT NOT NULL, quarantined_at REAL NOT NULL)"
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
            now = time.time()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                seqs = []
                for record in records:
                    cursor = self._db.execute(
                        "INSERT INTO spool (topic, key, value, spooled_at) VALUES (?, ?, ?, ?)",
                        (record.topic, record.key, record.value, now),
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

    def oldest_age_s(self) -> float:
        """How long the oldest record has waited, in seconds (0 when the spool is empty)."""
        with self._lock:
            row = self._db.execute("SELECT min(spooled_at) FROM spool").fetchone()
        return 0.0 if row[0] is None else max(0.0, time.time() - float(row[0]))

    def quarantine(self, seq: int, reason: str) -> bool:
        """Move record ``seq`` to the quarantine with ``reason``, in one transaction (False when
        it is not in the spool any more)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                moved = self._db.execute(
                    "INSERT OR REPLACE INTO quarantine (seq, topic, key, value, spooled_at, "
                    "reason, quarantined_at) SELECT seq, topic, key, value, spooled_at, ?, ? "
                    "FROM spool WHERE seq = ?",
                    (reason, time.time(), seq),
                ).rowcount
                self._db.execute("DELETE FROM spool WHERE seq = ?", (seq,))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SpoolError(f"cannot update the spool {self.path}: {exc}") from exc
        return moved == 1

    def quarantined(self, seq: int | None = None) -> list[Quarantined]:
        """What the quarantine holds, oldest first (or only record ``seq``)."""
        sql = "SELECT seq, topic, key, value, reason, spooled_at, quarantined_at FROM quarantine"
        with self._lock:
            try:
                rows = (
                    self._db.execute(sql + " ORDER BY seq").fetchall()
                    if seq is None
                    else self._db.execute(sql + " WHERE seq = ?", (seq,)).fetchall()
                )
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read the spool {self.path}: {exc}") from exc
        return [
            Quarantined(int(s), str(t), k, v, str(r), float(a or 0.0), float(q))
            for s, t, k, v, r, a, q in rows
        ]

    def quarantined_count(self) -> int:
        """How many records the quarantine holds."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM quarantine").fetchone()
        return int(row[0])

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # nothing was open
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        """Close the file (records stay for the next start)."""
        with self._lock:
            self._db.close()
