"""The gate check: "may this unit leave now?", answered from memory, not from a database.

``GateState`` reads the compacted verdict-by-ITU topic from its beginning (``read_committed``:
the tracking core writes it in transactions) into a dictionary, and keeps reading, so a lookup
is a dictionary access. It is ready once it has read up to where the topic ended when it
started; a tombstone removes the unit (its binding ended or its mission was retired).

Any bytes may be on the topic: a record that does not decode, is not a verdict, or has a key
that is not text is skipped, logged with its topic, partition, offset and reason, counted in
``iotrack_records_skipped_total{processor="gate-state"}`` and kept among :attr:`GateState.skipped`
(the projection, which reads the same topic, dead-letters it), and the thread goes on: a bad
record neither stops the updates behind it nor keeps the state from getting ready. An error of
another kind is logged and the loop resumes after a pause; should the thread die all the same,
:meth:`GateState.alive` says so (the API's /health and /ready do).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, TopicPartition

from processors.identifiers import itu
from streams.ops import metrics
from topics import catalog
from topics.clients import ClientWatch, KafkaConnection, consumer
from topics.codec import Codec, plain
from topics.errors import DecodeError

LOG = logging.getLogger("iotrack.gate")
VERDICT = "iotrack.ClearanceVerdict"
_REQUIRED = ("may_leave", "verdict", "iot_id", "reasons", "as_of")
RETRY_PAUSE_S = 1.0


@dataclass(frozen=True)
class Carried:
    """One IOT_ID a carrier (a plate, a wagon) carries, with its own verdict."""

    iot_id: str
    unit: str | None
    may_leave: bool
    verdict: str
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "iot_id": self.iot_id,
            "unit": self.unit,
            "may_leave": self.may_leave,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class GateDecision:
    """The answer a gate gets. For a carrier, ``carried`` lists what it carries: the carrier may
    leave only when every one of them may."""

    itu: str
    may_leave: bool
    verdict: str
    iot_id: str | None
    reasons: tuple[str, ...]
    as_of: int | None
    carried: tuple[Carried, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "itu": self.itu,
            "may_leave": self.may_leave,
            "verdict": self.verdict,
            "iot_id": self.iot_id,
            "reasons": list(self.reasons),
            "as_of": self.as_of,
            "carried": [c.as_json() for c in self.carried],
        }


def _carried(entry: dict[str, Any]) -> Carried:
    unit = entry.get("unit")
    return Carried(
        str(entry["iot_id"]),
        itu.key_of_record(unit) if unit else None,
        bool(entry["may_leave"]),
        str(entry["verdict"]),
        tuple(entry.get("reasons") or ()),
    )


@dataclass(frozen=True)
class Skipped:
    """A record the gate state could not use: where it is and why."""

    topic: str
    partition: int
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}: {self.reason}"


class GateState:
    """Verdicts by ITU key, kept current by a background consumer."""

    def __init__(self, connection: KafkaConnection, codec: Codec) -> None:
        """``connection``: the API's own (``service.api``)."""
        self.codec = codec
        self.verdicts: dict[str, dict[str, Any]] = {}
        self.ready = threading.Event()
        self.watch = ClientWatch()
        """Whether the consumer reaches the broker, how far behind it is (readiness)."""
        self.skipped: deque[Skipped] = deque(maxlen=20)
        """The last records skipped (``skipped_count`` counts them all)."""
        self.skipped_count = 0
        self.error: str | None = None
        """The last unexpected error of the loop, while it pauses before going on."""
        self._stop = threading.Event()
        self._consumer = consumer(
            connection, "gate", **{"enable.partition.eof": True, **self.watch.config()}
        )
        self._thread = threading.Thread(target=self._run, name="gate-state", daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def alive(self) -> bool:
        """False once the reading thread died (it was started and is no longer running)."""
        return self._thread.ident is None or self._thread.is_alive() or self._stop.is_set()

    def start(self, timeout_s: float = 60.0) -> None:
        """Start reading; return once caught up with the topic (or raise TimeoutError)."""
        topic = catalog.CLEARANCE_BY_ITU
        self._consumer.assign([TopicPartition(topic.name, p, 0) for p in range(topic.partitions)])
        self._thread.start()
        if not self.ready.wait(timeout_s):
            raise TimeoutError(f"the verdicts were not read within {timeout_s:.0f} s")

    def _run(self) -> None:
        at_end: set[int] = set()
        try:
            while not self._stop.is_set():
                try:
                    self._step(at_end)
                    self.error = None
                except Exception as exc:  # never a silent death: said, and the loop goes on
                    LOG.exception("gate state: reading the verdicts failed; going on")
                    self.error = f"{type(exc).__name__}: {exc}"[:300]
                    metrics.ERRORS.labels("gate-state", type(exc).__name__).inc()
                    self._stop.wait(RETRY_PAUSE_S)
        finally:
            self._consumer.close()

    def _step(self, at_end: set[int]) -> None:
        # A batch per call: one trip through the GIL for many updates, not one each (the API's
        # requests wait for the GIL while this thread holds it).
        first = self._consumer.poll(0.1)
        if first is None:
            self.watch.took(0)  # nothing in hand
            return
        batch = [first, *self._consumer.consume(499, 0)]
        self.watch.working()
        taken = 0
        for message in batch:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(int(message.partition() or 0))
                    if len(at_end) == catalog.CLEARANCE_BY_ITU.partitions:
                        self.ready.set()
                else:
                    metrics.ERRORS.labels("gate-state", "consumer").inc()
                continue
            taken += 1
            at_end.discard(int(message.partition() or 0))
            try:
                self._apply(message)
            except (DecodeError, ValueError, KeyError, TypeError) as exc:
                self._skip(message, exc)
        self.watch.took(taken)

    def _apply(self, message: Message) -> None:
        """One record into the state: a verdict replaces the unit's, a tombstone removes it."""
        try:
            key = (message.key() or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                f"the key is not UTF-8 text: {(message.key() or b'')[:40]!r}"
            ) from None
        value = message.value()
        if value is None:
            self.verdicts.pop(key, None)
            return
        decoded = self.codec.decode(value, topic=str(message.topic()))
        if decoded.schema != VERDICT:
            raise ValueError(f"a {decoded.schema} where verdicts are expected")
        verdict = plain(decoded.value)
        missing = [name for name in _REQUIRED if name not in verdict]
        if missing:
            raise ValueError(f"the verdict has no {', '.join(missing)}")
        self.verdicts[key] = verdict

    def _skip(self, message: Message, exc: Exception) -> None:
        found = Skipped(
            str(message.topic()),
            int(message.partition() or 0),
            int(message.offset() or 0),
            f"{type(exc).__name__}: {exc}"[:500],
        )
        self.skipped.append(found)
        self.skipped_count += 1
        metrics.RECORDS_SKIPPED.labels("gate-state", type(exc).__name__).inc()
        LOG.warning("gate state: skipped %s (the projection dead-letters it)", found)

    def check(self, itu_key: str) -> GateDecision:
        """The decision for an ITU key (``CONTAINER:CSQU3054383``, ``PLATE:IT:AB123CD``)."""
        started = time.perf_counter()
        found = self.verdicts.get(itu_key)
        if found is None:
            decision = GateDecision(
                itu_key, False, "UNKNOWN", None, ("no IOT_ID is bound to this unit",), None
            )
        else:
            decision = GateDecision(
                itu_key,
                bool(found["may_leave"]),
                str(found["verdict"]),
                found["iot_id"],
                tuple(found["reasons"]),
                found["as_of"],
                tuple(_carried(entry) for entry in found.get("carried") or ()),
            )
        metrics.GATE_CHECK.observe(time.perf_counter() - started)
        metrics.GATE_DECISIONS.labels(decision.verdict).inc()
        return decision

    def stop(self) -> None:
        """Stop reading."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
