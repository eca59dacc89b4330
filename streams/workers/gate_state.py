"""The gate check: "may this unit leave now?", answered from memory, not from a database.

``GateState`` reads the compacted verdict-by-ITU topic from its beginning (``read_committed``:
the tracking core writes it in transactions) into a dictionary, and keeps reading, so a lookup
is a dictionary access. It is ready once it has read up to where the topic ended when it
started; a tombstone removes the unit (its binding ended or its mission was retired).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from processors.identifiers import itu
from streams.ops import metrics
from topics import catalog
from topics.clients import KafkaConnection, consumer
from topics.codec import Codec, plain


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


class GateState:
    """Verdicts by ITU key, kept current by a background consumer."""

    def __init__(self, connection: KafkaConnection, codec: Codec) -> None:
        """``connection``: the API's own (``service.api``)."""
        self.codec = codec
        self.verdicts: dict[str, dict[str, Any]] = {}
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._consumer = consumer(connection, "gate", **{"enable.partition.eof": True})
        self._thread = threading.Thread(target=self._run, name="gate-state", daemon=True)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start reading; return once caught up with the topic (or raise TimeoutError)."""
        topic = catalog.CLEARANCE_BY_ITU
        self._consumer.assign([TopicPartition(topic.name, p, 0) for p in range(topic.partitions)])
        self._thread.start()
        if not self.ready.wait(timeout_s):
            raise TimeoutError(f"the verdicts were not read within {timeout_s:.0f} s")

    def _run(self) -> None:
        at_end: set[int] = set()
        partitions = catalog.CLEARANCE_BY_ITU.partitions
        while not self._stop.is_set():
            # A batch per call: one trip through the GIL for many updates, not one each (the
            # API's requests wait for the GIL while this thread holds it).
            first = self._consumer.poll(0.1)
            if first is None:
                continue
            for message in [first, *self._consumer.consume(499, 0)]:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(int(message.partition() or 0))
                        if len(at_end) == partitions:
                            self.ready.set()
                    continue
                key = (message.key() or b"").decode()
                value = message.value()
                if value is None:
                    self.verdicts.pop(key, None)
                else:
                    self.verdicts[key] = plain(
                        self.codec.decode(value, topic=str(message.topic())).value
                    )
        self._consumer.close()

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
