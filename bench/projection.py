"""The Postgres projection: records per second from the topics into tables, against a bare COPY.

A backlog of records, each writing new rows (no key repeats, so the rows the projection ends
with are exactly the rows it wrote), is published across the projected topics in the mix the
tracking core makes them: IOT state (a state row and a transition row each), verdicts by ITU
and by IOT_ID, passages, bindings (a binding row and an ITU row each), deviations. Then:

* projection: ``Projection.run(until_end=True)`` into a freshly migrated database, timed from
  start to the end of every partition (consume, decode, batched statements, positions, commit);
* baseline, in the same run and the same server: the projection's resulting rows, dumped with
  ``COPY ... TO``, loaded with a bare ``COPY ... FROM`` into a second freshly migrated database
  (same tables and indexes), one transaction; timed around the COPYs only (no Kafka, no Avro).

Run: ``.venv/bin/python -m bench.projection [--records N] [--runs R]``; a throwaway local broker
and Postgres are started unless ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` are set.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg2

from bench.brokers import Broker, broker, modes
from streams.local import runtime
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.ops.duties import Duty
from streams.ops.settings import Secret
from streams.workers.projection import PROJECTED_TABLES, Projection
from topics import catalog
from topics.clients import producer
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import PROJECTION
from topics.schemas import repository

CODEC = SingleObjectCodec()
T0 = 1_795_600_000_000
MIX = (  # (record type, topic, share)
    ("iotrack.IotState", catalog.IOT_STATE, 0.30),
    ("iotrack.ClearanceVerdict", catalog.CLEARANCE_BY_ITU, 0.15),
    ("iotrack.ClearanceVerdict", catalog.CLEARANCE_BY_IOT, 0.15),
    ("iotrack.Passage", catalog.PASSAGES, 0.20),
    ("iotrack.IotBound", catalog.BINDINGS, 0.10),
    ("iotrack.Deviation", catalog.DEVIATIONS, 0.10),
)


def _publish(kafka: Broker, records: int) -> None:
    """The backlog, each record written by its topic's one writer (the core, fusion)."""
    schemas = repository()
    templates = {name: example(schemas.get(name)) for name, _, _ in MIX}
    writers = {topic.name: catalog.sender_of(topic) for _, topic, _ in MIX}
    outs = {
        party: producer(kafka.connect(party), **{"compression.type": "lz4"})
        for party in set(writers.values())
    }
    n = 0
    for name, topic, share in MIX:
        for _ in range(int(records * share)):
            n += 1
            value = dict(templates[name])
            value.update(event_id=str(uuid.uuid4()), occurred_at=T0 + n)
            if "iot_id" in value:
                value["iot_id"] = str(uuid.uuid4())
            if name == "iotrack.ClearanceVerdict":
                value["as_of"] = T0 + n
                if topic is catalog.CLEARANCE_BY_ITU:
                    value["itu"] = {"kind": "CONTAINER", "value": f"BNCU{n:07d}"}
                else:
                    value["itu"] = None
            if name == "iotrack.IotState":
                value.update(last_seen_at=T0 + n, deadline=None, definitive_at=None, version=n)
            if name == "iotrack.IotBound":
                value["itus"] = [{"kind": "CONTAINER", "value": f"BNDU{n:07d}"}]
            out = outs[writers[topic.name]]
            out.produce(topic.name, key=topic.key_of(value), value=CODEC.encode(name, value))
            out.poll(0)
    assert sum(out.flush(120) for out in outs.values()) == 0


def _database(server: runtime.Endpoints) -> str:
    """A freshly migrated database; the projection role's URL (it writes, and COPYs in)."""
    found = runtime.create_database(server, f"bench_{uuid.uuid4().hex[:8]}")
    return found.database(Duty.PROJECTION).reveal()


def _rows(url: str) -> tuple[dict[str, bytes], int]:
    dumped: dict[str, bytes] = {}
    total = 0
    with psycopg2.connect(url) as db, db.cursor() as cursor:
        for table in PROJECTED_TABLES:
            buffer = io.BytesIO()
            cursor.copy_expert(f"COPY {table} TO STDOUT", buffer)
            dumped[table] = buffer.getvalue()
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            total += int(cursor.fetchone()[0])  # type: ignore[index]
    db.close()
    return dumped, total


def _copy(url: str, dumped: dict[str, bytes]) -> float:
    db = psycopg2.connect(url)
    try:
        started = time.perf_counter()
        with db, db.cursor() as cursor:
            for table, data in dumped.items():
                if data:
                    cursor.copy_expert(f"COPY {table} FROM STDIN", io.BytesIO(data))
        return time.perf_counter() - started
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    database = os.environ.get("DATABASE_URL")
    [mode] = modes("sasl")
    with tempfile.TemporaryDirectory(prefix="iotrack-bench-") as name, broker(mode) as kafka:
        home = Path(name) / "home"
        postgres = None if database else LocalPostgres(home, port=free_port())
        try:
            if postgres is not None:
                postgres.start()
            databases = runtime.Databases(postgres, Secret(database) if database else None)
            server = runtime.Endpoints(
                runtime.Brokers(kafka.administrator.bootstrap), databases, postgres is not None
            )
            _publish(kafka, args.records)
            projected, copied = [], []
            for run in range(args.runs):
                url = _database(server)
                projection = Projection(
                    kafka.connect(PROJECTION), url, CODEC, consumer_name=f"bench-{run}"
                )
                started = time.perf_counter()
                projection.run(threading.Event(), until_end=True)
                elapsed = time.perf_counter() - started
                dumped, rows = _rows(url)
                copy_s = _copy(_database(server), dumped)
                projected.append((projection.applied, rows, elapsed))
                copied.append((rows, copy_s))
                print(
                    f"run {run + 1}: projection {projection.applied} records -> {rows} rows in "
                    f"{elapsed:.2f} s; bare COPY of the same {rows} rows {copy_s:.2f} s",
                    flush=True,
                )
        finally:
            if postgres is not None:
                postgres.stop()
    records = projected[0][0]
    rows = projected[0][1]
    projection_s = statistics.median(e for _, _, e in projected)
    copy_s = statistics.median(c for _, c in copied)
    print(
        f"projection: {records / projection_s:,.0f} records/s, {rows / projection_s:,.0f} "
        f"rows/s (median of {args.runs}: {projection_s:.2f} s)"
    )
    print(f"baseline bare COPY: {rows / copy_s:,.0f} rows/s (median {copy_s:.2f} s)")
    print(f"ratio projection/COPY (rows/s): {copy_s / projection_s:.2f}")


if __name__ == "__main__":
    main()
