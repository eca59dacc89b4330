"""The in-memory gate check follows the verdict topic: latest value wins, tombstones remove."""

from __future__ import annotations

import time
import uuid

from streams.workers.gate_state import GateState
from topics import catalog
from topics.clients import producer
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import API, CORE
from topics.schemas import repository

CODEC = SingleObjectCodec()


def _verdict(unit: str, verdict: str, may_leave: bool) -> bytes:
    value = {
        **example(repository().get("iotrack.ClearanceVerdict")),
        "verdict": verdict,
        "may_leave": may_leave,
        "reasons": [] if may_leave else ["open hold"],
        "itu": {
            "kind": "CONTAINER",
            "value": unit,
            "country": None,
            "seal_class": None,
            "issuer": None,
        },
    }
    return CODEC.encode("iotrack.ClearanceVerdict", value)


def test_the_gate_sees_the_latest_verdict_and_forgets_tombstoned_units(services):
    topic = catalog.CLEARANCE_BY_ITU.name
    held, cleared, gone = (f"CONTAINER:G{uuid.uuid4().hex[:9].upper()}" for _ in range(3))
    out = producer(services.kafka(CORE))  # the verdicts' one writer
    for key, verdict, may_leave in (
        (held, "HELD", False),
        (cleared, "HELD", False),
        (cleared, "CLEARED", True),
        (gone, "CLEARED", True),
    ):
        out.produce(topic, key=key.encode(), value=_verdict(key.split(":")[1], verdict, may_leave))
    out.produce(topic, key=gone.encode(), value=None)
    assert out.flush(30) == 0
    gate = GateState(services.kafka(API), CODEC)
    gate.start()
    try:
        assert gate.check(cleared).may_leave is True
        decision = gate.check(held)
        assert (decision.may_leave, decision.verdict, decision.reasons) == (
            False,
            "HELD",
            ("open hold",),
        )
        assert gate.check(gone).verdict == "UNKNOWN"
        out.produce(topic, key=held.encode(), value=_verdict(held.split(":")[1], "CLEARED", True))
        assert out.flush(30) == 0
        deadline = time.monotonic() + 30
        while not gate.check(held).may_leave:
            assert time.monotonic() < deadline, "an update after start was not seen"
            time.sleep(0.05)
    finally:
        gate.stop()
