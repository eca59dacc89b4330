"""A reader: device payloads in (HTTP or a capture file), raw reads and dead letters spooled.

``accept`` parses a batch of payloads with the adapter of the reader's kind, encodes the raw
reads (and a dead letter for each payload that cannot be understood), and writes all of them to
the spool in one transaction before answering: what a reader has answered for survives a crash.
The forwarder sends the spool to the broker in order. The HTTP ingest in front of it
(``POST /payloads``) is :mod:`streams.http.ingest`, on the same framework as the API.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from processors.ids import deterministic_uuid7
from processors.parties import PartyKind, Sender
from readers.adapters import PARSERS, ReadPoint
from readers.errors import PayloadError
from readers.spool import Pending, Spool
from topics import dead_letters
from topics.catalog import DEAD_LETTERS, RAW_READS
from topics.codec import Codec
from topics.errors import EncodeError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
FILE_BATCH = 500


@dataclass(frozen=True)
class Outcome:
    """What became of one payload: its read event ids, or the reason it was dead-lettered."""

    index: int
    event_ids: tuple[str, ...] = ()
    error: str | None = None
    dead_letter_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.error is None:
            return {"index": self.index, "event_ids": list(self.event_ids)}
        return {"index": self.index, "error": self.error, "dead_letter_id": self.dead_letter_id}


@dataclass
class ReaderStats:
    """Counters a reader keeps (the metrics issue exposes them)."""

    payloads: int = 0
    reads: int = 0
    dead_letters: int = 0


class ReaderService:
    """One reader of one kind at one read point."""

    def __init__(self, kind: str, point: ReadPoint, spool: Spool, codec: Codec) -> None:
        if kind not in PARSERS:
            raise ValueError(f"unknown reader kind {kind!r}: expected one of {sorted(PARSERS)}")
        self.kind = kind
        self.point = point
        self.reader_id = f"{kind}@{point.read_point_id}"
        self.spool = spool
        self.codec = codec
        self.stats = ReaderStats()
        self._parse = PARSERS[kind]

    def _dead_letter(
        self, payload: bytes, reason: str, kind: str = "PayloadError"
    ) -> tuple[str, Pending]:
        now = int(time.time() * 1000)
        digest = hashlib.sha256(payload).hexdigest()
        event_id = deterministic_uuid7(now, "dead-letter", self.reader_id, digest)
        value = dead_letters.value(
            event_id=event_id,
            source=self.reader_id,
            occurred_at=now,
            original_value=payload,
            reason=reason,
            error_kind=kind,
            reader_id=self.reader_id,
        )
        encoded = self.codec.encode("iotrack.DeadLetter", value, topic=DEAD_LETTERS.name)
        return event_id, Pending(DEAD_LETTERS.name, DEAD_LETTERS.key_of(value), encoded)

    def _reads(self, payload: bytes) -> tuple[list[dict[str, Any]], list[Pending]]:
        """The payload's reads and their encoded records; PayloadError when it cannot be used."""
        reads = self._parse(payload, self.point)
        try:
            encoded = [
                Pending(
                    RAW_READS.name,
                    RAW_READS.key_of(read),
                    self.codec.encode("iotrack.RawRead", read, topic=RAW_READS.name),
                )
                for read in reads
            ]
        except EncodeError as exc:  # a value the adapter let through and the schema refuses
            raise PayloadError(f"its reads do not fit iotrack.RawRead: {exc}") from exc
        return reads, encoded

    def accept(self, payloads: Sequence[bytes]) -> list[Outcome]:
        """Parse, encode and spool a batch; one outcome per payload, in order. Every payload is
        either accepted or dead-lettered with its reason: one that cannot be used never keeps
        the others of its batch from being spooled."""
        pending: list[Pending] = []
        outcomes: list[Outcome] = []
        for index, payload in enumerate(payloads):
            try:
                reads, encoded = self._reads(payload)
            except Exception as exc:  # a payload must never stop its batch
                if isinstance(exc, PayloadError):
                    reason, kind = f"{self.kind} payload: {exc}", "PayloadError"
                else:  # a bug of ours, not the device's: said loudly, and the batch goes on
                    log.exception("%s: a payload could not be parsed", self.reader_id)
                    kind = type(exc).__name__
                    reason = f"{self.kind} payload: the reader could not parse it ({kind}: {exc})"
                dead_id, letter = self._dead_letter(payload, reason, kind)
                pending.append(letter)
                outcomes.append(Outcome(index, error=letter_reason(reason), dead_letter_id=dead_id))
                self.stats.dead_letters += 1
                continue
            pending.extend(encoded)
            outcomes.append(Outcome(index, tuple(r["event_id"] for r in reads)))
            self.stats.reads += len(reads)
        self.spool.append(pending)
        self.stats.payloads += len(payloads)
        return outcomes

    def accept_lines(self, lines: Iterable[bytes], batch: int = FILE_BATCH) -> Iterator[Outcome]:
        """A capture file: one JSON payload per line (blank lines skipped), spooled in batches."""
        chunk: list[bytes] = []
        offset = 0
        for line in lines:
            stripped = line.strip()
            if not stripped:
                continue
            chunk.append(stripped)
            if len(chunk) >= batch:
                for outcome in self.accept(chunk):
                    yield Outcome(
                        outcome.index + offset,
                        outcome.event_ids,
                        outcome.error,
                        outcome.dead_letter_id,
                    )
                offset += len(chunk)
                chunk = []
        if chunk:
            for outcome in self.accept(chunk):
                yield Outcome(
                    outcome.index + offset, outcome.event_ids, outcome.error, outcome.dead_letter_id
                )


def letter_reason(reason: str) -> str:
    """The reason as the dead letter keeps it (bounded, encodable), for the answer too."""
    return dead_letters.cut_reason(reason)


def split_body(body: bytes, content_type: str) -> list[bytes]:
    """One payload, a JSON array of payloads, or NDJSON lines, as a list of payload bytes.

    An array is split item by item, so that one item that cannot be parsed (nested too deeply,
    say) is one bad payload and the others of the batch are still answered each; an array that
    is not JSON at all is one bad payload, dead-lettered with its bytes.
    """
    if "ndjson" in content_type:
        return [line for line in body.splitlines() if line.strip()]
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        items = _array_items(body)
        return [body] if items is None else items
    return [body]


_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _array_items(body: bytes) -> list[bytes] | None:
    """The items of a JSON array as payload bytes, or None when the body is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    at = _skip(text, text.index("[") + 1)
    items: list[bytes] = []
    if text.startswith("]", at):
        return items if _skip(text, at + 1) == len(text) else None
    while True:
        start = at
        try:
            item, at = _DECODER.raw_decode(text, start)
            items.append(json.dumps(item, separators=(",", ":")).encode())
        except RecursionError:  # valid JSON too deep to parse: the item is refused on its own
            end = _value_end(text, start)
            if end is None:
                return None
            items.append(text[start:end].encode())
            at = end
        except ValueError:
            return None
        at = _skip(text, at)
        if text.startswith(",", at):
            at = _skip(text, at + 1)
            continue
        if text.startswith("]", at):
            return items if _skip(text, at + 1) == len(text) else None
        return None


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _value_end(text: str, start: int) -> int | None:
    """Where the array or object starting at ``start`` ends (strings and escapes skipped), or
    None when it does not."""
    if not text.startswith(("[", "{"), start):
        return None
    depth = 0
    in_string = False
    at = start
    while at < len(text):
        char = text[at]
        if in_string:
            if char == "\\":
                at += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return at + 1
        at += 1
    return None


def replay_file(service: ReaderService, source: IO[bytes]) -> tuple[int, int]:
    """Spool every payload of a capture; (accepted, dead-lettered)."""
    accepted = rejected = 0
    for outcome in service.accept_lines(source):
        if outcome.error is None:
            accepted += 1
        else:
            rejected += 1
    return accepted, rejected


def reader_party(read_point: str, name: str | None = None) -> Sender:
    """The reader party whose credential a reader signs in with: ``name``, else its read
    point's id in lower case (``PORT-GATE-1-L1`` -> ``reader.port-gate-1-l1``)."""
    return Sender(PartyKind.READER, name or read_point.lower())


def spool_path(home: Path, kind: str, read_point: str) -> Path:
    """Default spool file of a reader under IOTRACK_HOME."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in read_point)
    return home / "spool" / f"{kind}-{safe}.sqlite"
