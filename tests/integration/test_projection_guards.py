"""The projection's guards: a record Postgres cannot store is dead-lettered and the rest of its
batch kept (nothing stops the projection for ever), and one projection at a time writes a
database (a second one, or a rebuild, is refused while it runs)."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from streams.kafka.reading import read_committed
from streams.ops.duties import Duty
from streams.workers.projection import (
    Projection,
    ProjectionLockError,
    rebuild,
    truncate,
)
from tests.integration.databases import scratch_database
from tests.integration.embedded import cli_env
from topics import catalog
from topics.clients import producer
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import CORE, CUSTOMS, PROJECTION
from topics.schemas import repository

CHECKOUT = Path(__file__).resolve().parents[2]
CODEC = SingleObjectCodec()


@pytest.fixture
def database(services) -> Iterator[str]:
    """A database of this test's own, as the projection's role."""
    with scratch_database(services, "guards") as found:
        yield found.database(Duty.PROJECTION).reveal()


def _hold(iot: str, hold_id: str, reason: str) -> dict:
    return {
        **example(repository().get("iotrack.HoldPlaced")),
        "iot_id": iot,
        "agency": "CUSTOMS",
        "hold_id": hold_id,
        "reason": reason,
    }


def test_a_record_postgres_cannot_store_is_dead_lettered_and_the_batch_kept(services, database):
    iot = str(uuid.uuid4())
    good, nul = _hold(iot, "H-GOOD", "risk profile"), _hold(iot, "H-NUL", "risk\x00profile")
    out = producer(services.kafka(CORE))  # the public holds topic's one writer
    sep = catalog.KEY_SEPARATOR
    records = [
        (catalog.HOLDS.key_of(nul), CODEC.encode("iotrack.HoldPlaced", nul)),
        (b"no-separators-in-this-key", None),  # a hold tombstone whose key does not unpack
        (f"not-a-uuid{sep}CUSTOMS{sep}H-1".encode(), None),  # Postgres refuses the uuid
        (catalog.HOLDS.key_of(good), CODEC.encode("iotrack.HoldPlaced", good)),
    ]
    offsets: list[tuple[int, int]] = []
    for key, value in records:
        out.produce(
            catalog.HOLDS.name,
            key=key,
            value=value,
            partition=0,
            on_delivery=lambda err, msg: offsets.append((msg.partition(), msg.offset())),
        )
    assert out.flush(30) == 0
    assert len(offsets) == 4

    projection = Projection(services.kafka(PROJECTION), database, CODEC, topics=(catalog.HOLDS,))
    projection.run(threading.Event(), until_end=True)
    assert projection.dead_lettered >= 3
    with psycopg2.connect(database) as db, db.cursor() as cursor:
        cursor.execute("SELECT hold_id, reason FROM holds WHERE iot_id = %s", (iot,))
        assert cursor.fetchall() == [("H-GOOD", "risk profile")]
        cursor.execute(
            "SELECT next_offset FROM consumer_positions WHERE topic = %s AND partition = 0",
            (catalog.HOLDS.name,),
        )
        assert cursor.fetchone()[0] > max(o for _, o in offsets)
    db.close()

    letters = {
        (letter["source_topic"], letter["partition"], letter["offset"]): letter
        for letter in (
            CODEC.decode(m.value(), topic=catalog.DEAD_LETTERS.name).value
            for m in read_committed(services.kafka(CUSTOMS), catalog.DEAD_LETTERS)
            if m.value() is not None
        )
    }
    for partition, offset in offsets[:3]:
        letter = letters[(catalog.HOLDS.name, partition, offset)]
        assert letter["source"] == projection.name
    kinds = [letters[(catalog.HOLDS.name, p, o)]["error_kind"] for p, o in offsets[:3]]
    assert kinds[0] == "ValueError"  # NUL in a text value, refused client-side
    assert kinds[1] == "ValueError"  # the key does not unpack
    assert kinds[2] == "InvalidTextRepresentation"  # refused by Postgres, under a savepoint
    assert (catalog.HOLDS.name, *offsets[3]) not in letters

    again = Projection(services.kafka(PROJECTION), database, CODEC, topics=(catalog.HOLDS,))
    assert again.run(threading.Event(), until_end=True) == 0, "the position moved past them"


def test_one_projection_at_a_time_writes_a_database(services, database):
    running = Projection(services.kafka(PROJECTION), database, CODEC)
    try:
        with pytest.raises(ProjectionLockError, match="another projection"):
            Projection(services.kafka(PROJECTION), database, CODEC, lock_wait_s=0.3)
        with pytest.raises(ProjectionLockError, match="stop it first"):
            rebuild(services.kafka(PROJECTION), database, CODEC, lock_wait_s=0.3)
        with pytest.raises(ProjectionLockError):
            truncate(database, lock_wait_s=0.3)
        refused = subprocess.run(
            [sys.executable, "-m", "streams.cli", "projection", "rebuild"],
            cwd=CHECKOUT,
            env=cli_env(services, PROJECTION, DATABASE_URL=database),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert refused.returncode != 0
        assert "another projection" in refused.stderr
        assert "Traceback" not in refused.stderr
        other = Projection(
            services.kafka(PROJECTION), database, CODEC, consumer_name="another-name"
        )
        other.close()  # another consumer name is another lock
    finally:
        running.close()
    # Once the first has stopped, the lock is free.
    rebuilt = rebuild(services.kafka(PROJECTION), database, CODEC, lock_wait_s=5)
    assert rebuilt.applied >= 0


def test_after_an_outage_the_projection_waits_for_its_lock_before_writing(
    services, database, caplog
):
    projection = Projection(services.kafka(PROJECTION), database, CODEC, max_backoff_s=0.2)
    projection.db.close()  # the outage: its session, and the lock with it, are gone
    squatter = psycopg2.connect(database)  # say, the old session the server still keeps
    squatter.autocommit = True
    with squatter.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
            (f"iotrack-projection:{projection.name}",),
        )
    stop = threading.Event()
    resuming = threading.Thread(
        target=projection._resume, args=(psycopg2.OperationalError("gone"), stop)
    )
    try:
        resuming.start()
        resuming.join(1.5)
        assert resuming.is_alive(), "it does not resume while another session holds the lock"
        assert any("holds its lock" in r.getMessage() for r in caplog.records)
        squatter.close()
        resuming.join(10)
        assert not resuming.is_alive(), "it resumes once the lock is free"
        with pytest.raises(ProjectionLockError):
            Projection(services.kafka(PROJECTION), database, CODEC, lock_wait_s=0.3)
    finally:
        stop.set()
        resuming.join(10)
        squatter.close()
        projection.close()
