"""The tracking core refuses to start on a changelog record it cannot take, on the real broker.

The issue's attack, and its neighbours: a record written onto the core's changelog by another
client (a pickle that would run a shell command, garbage, Avro with a writer fingerprint nobody
knows, an input event under a state key). A ``CoreWorker`` started then stops before it consumes
anything, with an error naming the topic, partition and offset of that record; ``iotrack run``
says the same in one line and exits 1. The records are written signed in as the core, the
changelog's one writer (another principal is refused by the broker: test_authorisation), so
these stand for a record the core cannot take whoever wrote it. Each test retires its record
with a tombstone afterwards, so the shared broker's changelog holds no bad record for the tests
that follow.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.sending import produce_sync
from streams.local.runtime import Endpoints
from streams.workers.changelog import ChangelogError
from streams.workers.core import CoreWorker
from tests.integration.embedded import cli_env
from topics import catalog
from topics.clients import producer
from topics.codec import SingleObjectCodec
from topics.parties import CORE

CODEC = SingleObjectCodec()
CHECKOUT = Path(__file__).resolve().parents[2]
CHANGELOG = catalog.CORE_CHANGELOG
HOLD = {
    "event_id": "01a2121a-8e60-7de2-862e-86fce5ec2590",
    "source": "customs",
    "occurred_at": 1_795_600_000_000,
    "iot_id": "01a2121a-8e60-768b-8a86-0d95e63c54d4",
    "hold_id": "H1",
    "agency": "CUSTOMS",
    "hold_type": "DOC",
    "reason_code": None,
    "reason": None,
    "placed_by": "officer",
}


@pytest.fixture
def write(services: Endpoints) -> Iterator:
    """Write one record onto the changelog (as the core); its key gets a tombstone when the
    test ends."""
    out = producer(services.kafka(CORE))
    keys: list[bytes] = []

    def put(key: bytes, value: bytes) -> int:
        keys.append(key)
        return produce_sync(out, CHANGELOG, key, value).offset

    yield put
    for key in keys:
        produce_sync(out, CHANGELOG, key, None)
    out.flush(10)


def _start_worker(services: Endpoints) -> tuple[CoreWorker, BaseException | None]:
    name = f"changelog-test-{uuid.uuid4().hex[:8]}"
    worker = CoreWorker(services.kafka(CORE), CODEC, group=name, transactional_id=name)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(threading.Event(), exit_when_idle_s=1)
        except BaseException as exc:
            # Without its frames, which hold the worker and its clients past the test.
            raised.append(exc.with_traceback(None))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(90)
    assert not thread.is_alive(), "the worker neither refused nor stopped"
    return worker, raised[0] if raised else None


def _marker_command(path: Path) -> bytes:
    return b"cposix\nsystem\n(S'touch " + str(path).encode() + b"'\ntR."


@pytest.mark.parametrize("case", ["pickle", "unknown fingerprint", "input under a state key"])
def test_a_core_worker_refuses_to_start_on_a_record_it_cannot_take(case, services, write, tmp_path):
    marker = tmp_path / "ran"
    meta = CODEC.encode(
        "iotrack.state.Meta", {"watermark": 1, "next_due": None, "applied_oldest": None}
    )
    key, value, says = {
        "pickle": (b"iot:x", _marker_command(marker), "does not start with C3 01"),
        "unknown fingerprint": (
            b"meta",
            b"\xc3\x01" + bytes(8) + meta[10:],
            "writer fingerprint 0000000000000000 is not in avro/",
        ),
        "input under a state key": (
            b"iot:x",
            CODEC.encode("iotrack.HoldPlaced", HOLD),
            "the record is iotrack.HoldPlaced; the key's kind (iot) holds",
        ),
    }[case]
    offset = write(key, value)
    worker, raised = _start_worker(services)
    worker.consumer.close()
    worker.producer.flush(5)
    assert isinstance(raised, ChangelogError), raised
    assert (raised.topic, raised.partition, raised.offset) == (CHANGELOG.name, 0, offset)
    assert str(raised).startswith(f"{CHANGELOG.name}[0]@{offset}: {key.decode()}: ")
    assert says in str(raised)
    assert worker.stats.inputs == 0
    assert not marker.exists()


def test_iotrack_run_says_so_in_one_line_and_exits_1(services, write, tmp_path):
    marker = tmp_path / "ran"
    offset = write(b"iot:x", _marker_command(marker))
    env = cli_env(services, CORE)
    ran = subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", "--no-fusion", "--metrics-port", "0"],
        env=env,
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"{CHANGELOG.name}[0]@{offset}: iot:x: does not start with C3 01" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not marker.exists()
