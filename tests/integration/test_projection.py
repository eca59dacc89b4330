"""The Postgres projection, killed mid-stream and restarted, leaves tables equal to a rebuild."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from streams.db import migrate
from streams.kafka_io import producer
from streams.projection import Projection, gate_check
from topics import admin, catalog
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.schemas import repository

CHECKOUT = Path(__file__).resolve().parents[2]
CODEC = SingleObjectCodec()
T0 = 1_795_600_000_000
TABLES = {
    "iot_state": "iot_id",
    "clearance_by_itu": "itu_key",
    "deviations": "event_id",
}


@pytest.fixture
def databases(services):
    url = services.database_url.reveal()
    names = [f"projection_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin_db = psycopg2.connect(url)
    admin_db.autocommit = True
    with admin_db.cursor() as cursor:
        for name in names:
            cursor.execute(f'CREATE DATABASE "{name}"')
    urls = [urlsplit(url)._replace(path=f"/{name}").geturl() for name in names]
    for each in urls:
        migrate(each)
    yield urls
    with admin_db.cursor() as cursor:
        for name in names:
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin_db.close()


def _feed(bootstrap: str, rng: random.Random) -> str:
    """A few thousand state records with updates and tombstones; one unit's ITU key."""
    schemas = repository()
    out = producer(bootstrap)
    iots = [str(uuid.uuid4()) for _ in range(300)]
    keys = [f"CONTAINER:TST{n:07d}" for n in range(300)]
    for n in range(4000):
        at = T0 + n
        choice = rng.random()
        if choice < 0.4:
            value = {
                **example(schemas.get("iotrack.IotState")),
                "iot_id": rng.choice(iots),
                "version": n,
                "occurred_at": at,
                "last_seen_at": at,
                "deadline": None,
                "definitive_at": None,
            }
            out.produce(
                catalog.IOT_STATE.name,
                key=value["iot_id"].encode(),
                value=CODEC.encode("iotrack.IotState", value),
            )
        elif choice < 0.75:
            key = rng.choice(keys)
            kind, _, unit = key.partition(":")
            value = {
                **example(schemas.get("iotrack.ClearanceVerdict")),
                "iot_id": rng.choice(iots),
                "as_of": at,
                "occurred_at": at,
                "itu": {
                    "kind": kind,
                    "value": unit,
                    "country": None,
                    "seal_class": None,
                    "issuer": None,
                },
                "may_leave": n % 3 == 0,
                "verdict": "CLEARED" if n % 3 == 0 else "HELD",
            }
            out.produce(
                catalog.CLEARANCE_BY_ITU.name,
                key=key.encode(),
                value=CODEC.encode("iotrack.ClearanceVerdict", value),
            )
        elif choice < 0.8:
            key = rng.choice(keys)
            out.produce(catalog.CLEARANCE_BY_ITU.name, key=key.encode(), value=None)
        else:
            value = {
                **example(schemas.get("iotrack.Deviation")),
                "iot_id": rng.choice(iots),
                "occurred_at": at,
                "event_id": str(uuid.uuid4()),
            }
            out.produce(
                catalog.DEVIATIONS.name,
                key=value["iot_id"].encode(),
                value=CODEC.encode("iotrack.Deviation", value),
            )
        out.poll(0)
    out.produce(
        catalog.CLEARANCE_BY_ITU.name,
        key=b"CONTAINER:GATE0000001",
        value=CODEC.encode(
            "iotrack.ClearanceVerdict",
            {
                **example(schemas.get("iotrack.ClearanceVerdict")),
                "iot_id": iots[0],
                "verdict": "CLEARED",
                "may_leave": True,
                "as_of": T0,
                "occurred_at": T0,
                "mrns_pending": [],
                "open_holds": [],
                "reasons": [],
                "itu": {
                    "kind": "CONTAINER",
                    "value": "GATE0000001",
                    "country": None,
                    "seal_class": None,
                    "issuer": None,
                },
            },
        ),
    )
    assert out.flush(60) == 0
    return "CONTAINER:GATE0000001"


def _tables(url: str) -> dict[str, list[tuple]]:
    with psycopg2.connect(url) as db, db.cursor() as cursor:
        found = {}
        for table, key in TABLES.items():
            cursor.execute(f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608 - fixed names
            found[table] = cursor.fetchall()
        return found


def _progress(url: str) -> int:
    with psycopg2.connect(url) as db, db.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(next_offset), 0) FROM consumer_positions")
        return int(cursor.fetchone()[0])


def _start(bootstrap: str, url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": url,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "project", "--exit-when-idle", "3"],
        cwd=CHECKOUT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_killed_projection_equals_a_rebuild_and_answers_the_gate(services, databases):
    admin.apply(admin.admin_client(services.bootstrap))
    gate_key = _feed(services.bootstrap, random.Random(5))
    killed, rebuilt = databases
    kills = 0
    for _ in range(3):
        process = _start(services.bootstrap, killed)
        before = _progress(killed)
        deadline = time.monotonic() + 60
        while _progress(killed) == before and process.poll() is None:
            assert time.monotonic() < deadline, "the projection made no progress"
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    final = _start(services.bootstrap, killed)
    assert final.wait(120) == 0
    assert kills >= 1, "killed at least once mid-stream"
    Projection(services.bootstrap, rebuilt, CODEC, consumer_name="rebuild").run(
        threading.Event(), exit_when_idle_s=3
    )
    assert _tables(killed) == _tables(rebuilt)
    assert len(_tables(rebuilt)["deviations"]) > 500
    verdict = gate_check(killed, gate_key)
    assert verdict is not None
    assert verdict["may_leave"] is True
    assert gate_check(killed, "CONTAINER:NOPE0000000") is None
