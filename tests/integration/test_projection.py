"""The Postgres projection: killed mid-stream and restarted, or paused by a database outage, it
leaves tables equal to a rebuild."""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from streams.workers.projection import TOPICS, Projection, gate_check, rebuild
from tests.integration.databases import scratch_database
from tests.integration.embedded import cli_env
from tests.integration.writers import AsWriters
from topics import catalog
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import PROJECTION
from topics.schemas import repository

CHECKOUT = Path(__file__).resolve().parents[2]
CODEC = SingleObjectCodec()
T0 = 1_795_600_000_000
TABLES = {
    "iot_state": "iot_id",
    "clearance_by_itu": "itu_key",
    "deviations": "event_id",
    "clearance_by_iot": "iot_id",
    "bindings": "iot_id",
    "binding_itus": "iot_id, itu_key, valid_from",
    "passages": "event_id",
    "iot_transitions": "iot_id, version",
    "holds": "iot_id, agency, hold_id",
    "releases": "iot_id, mrn",
    "exits": "iot_id",
    "declaration_states": "mrn",
    "mission_paths": "mission_path_id",
    "train_loading_lists": "event_id",
    "train_manifests": "train_id, version",
    "train_permissions": "event_id",
    "train_status": "train_id",
}
# The other record types of the read side, fed with example values around a few keys.
OTHERS = (
    "iotrack.IotBound",
    "iotrack.BindingChanged",
    "iotrack.BindingEnded",
    "iotrack.Passage",
    "iotrack.HoldPlaced",
    "iotrack.HoldLifted",
    "iotrack.CustomsRelease",
    "iotrack.ExitConfirmed",
    "iotrack.DeclarationStatus",
    "iotrack.MissionPathDefined",
    "iotrack.TrainLoadingList",
    "iotrack.TrainManifest",
    "iotrack.PermissionToLeave",
    "iotrack.TrainStatus",
)


@pytest.fixture
def databases(services):
    """Two databases of this test's own (their endpoints: a URL per duty)."""
    with (
        scratch_database(services, "projection") as one,
        scratch_database(services, "projection") as other,
    ):
        yield one, other


def _feed(services, rng: random.Random) -> str:
    """A few thousand state records with updates and tombstones, each written as its topic's
    writer would; one unit's ITU key."""
    schemas = repository()
    out = AsWriters(services)
    iots = [str(uuid.uuid4()) for _ in range(300)]
    keys = [f"CONTAINER:TST{n:07d}" for n in range(300)]
    for n in range(4000):
        at = T0 + n
        choice = rng.random()
        if choice < 0.35:
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
        elif choice < 0.65:
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
        elif choice < 0.7:
            key = rng.choice(keys)
            out.produce(catalog.CLEARANCE_BY_ITU.name, key=key.encode(), value=None)
        elif choice < 0.8:
            _other(out, schemas, rng, iots, at)
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


def _other(out, schemas, rng: random.Random, iots: list[str], at: int) -> None:
    """One record of another projected type (a verdict by IOT_ID now and then)."""
    name = rng.choice((*OTHERS, "iotrack.ClearanceVerdict"))
    value = {
        **example(schemas.get(name)),
        "occurred_at": at,
        "event_id": str(uuid.uuid4()),
    }
    for field in ("iot_id", "train_id", "hold_id", "mission_path_id", "version"):
        if field in value:
            value[field] = {
                "iot_id": rng.choice(iots),
                "train_id": f"TRAIN-{rng.randrange(20)}",
                "hold_id": f"H-{rng.randrange(3)}",
                "mission_path_id": f"PATH-{rng.randrange(3)}",
                "version": rng.randrange(1, 5),
            }[field]
    topic = catalog.topic_for_schema(name, TOPICS)  # the public topic the projection reads
    if name == "iotrack.ClearanceVerdict":
        topic, value["itu"] = catalog.CLEARANCE_BY_IOT, None
    out.produce(
        topic.name, key=topic.key_of(value), value=CODEC.encode(name, value, topic=topic.name)
    )


def _tables(url: str) -> dict[str, list[tuple]]:
    with psycopg2.connect(url) as db, db.cursor() as cursor:
        found = {}
        for table, key in TABLES.items():
            cursor.execute(f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608 - fixed names
            # deviations.seq numbers rows in the order one database recorded them: not content.
            names = [column.name for column in cursor.description]
            kept = [n for n, name in enumerate(names) if name != "seq"]
            found[table] = [tuple(row[n] for n in kept) for row in cursor.fetchall()]
        return found


def _progress(url: str) -> int:
    with psycopg2.connect(url) as db, db.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(next_offset), 0) FROM consumer_positions")
        return int(cursor.fetchone()[0])


def _env(services, url: str) -> dict[str, str]:
    return cli_env(services, PROJECTION, DATABASE_URL=url)


def _start(services, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "project", "--exit-when-idle", "3"],
        cwd=CHECKOUT,
        env=_env(services, url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_killed_projection_equals_a_rebuild_and_answers_the_gate(services, databases):
    gate_key = _feed(services, random.Random(5))
    killed_at = databases[0]
    killed, rebuilt = (found.database(Duty.PROJECTION).reveal() for found in databases)
    kills = 0
    for _ in range(3):
        process = _start(services, killed)
        before = _progress(killed)
        deadline = time.monotonic() + 60
        while _progress(killed) == before and process.poll() is None:
            assert time.monotonic() < deadline, "the projection made no progress"
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    final = _start(services, killed)
    assert final.wait(120) == 0
    assert kills >= 1, "killed at least once mid-stream"
    # The rebuild starts from tables that already hold rows: it truncates them first.
    Projection(services.kafka(PROJECTION), rebuilt, CODEC).run(threading.Event(), until_end=True)
    rebuilding = subprocess.run(
        [sys.executable, "-m", "streams.cli", "projection", "rebuild"],
        cwd=CHECKOUT,
        env=_env(services, rebuilt),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rebuilding.returncode == 0, rebuilding.stderr
    assert "projection rebuilt:" in rebuilding.stdout
    assert _tables(killed) == _tables(rebuilt)
    empty = [table for table, rows in _tables(rebuilt).items() if not rows]
    assert not empty, "every table has rows"
    assert len(_tables(rebuilt)["deviations"]) > 500
    reader = killed_at.database(Duty.API).reveal()  # gate-check: the read-only role
    verdict = gate_check(reader, gate_key)
    assert verdict is not None
    assert verdict["may_leave"] is True
    assert gate_check(reader, "CONTAINER:NOPE0000000") is None


@pytest.fixture
def own_postgres(tmp_path):
    """A Postgres of this test's own, which it may stop and start."""
    postgres = LocalPostgres(tmp_path / "home", port=free_port())
    postgres.start()
    migrate(postgres.url(Duty.OWNER).reveal())
    yield postgres, postgres.url(Duty.PROJECTION).reveal()
    postgres.stop()


def test_a_database_outage_pauses_the_projection_and_it_resumes_with_nothing_lost(
    services, own_postgres, caplog
):
    postgres, url = own_postgres
    _feed(services, random.Random(11))
    projection = Projection(services.kafka(PROJECTION), url, CODEC, max_backoff_s=1.0)
    stop = threading.Event()
    worker = threading.Thread(target=projection.run, args=(stop,), daemon=True)
    caplog.set_level(logging.WARNING, logger="iotrack.projection")
    worker.start()
    deadline = time.monotonic() + 60
    while _progress(url) == 0:
        assert time.monotonic() < deadline, "the projection made no progress"
        time.sleep(0.01)
    postgres.stop()
    _feed(services, random.Random(12))  # more records while the database is down
    time.sleep(2)
    postgres.start()
    deadline = time.monotonic() + 120
    while not (projection.outages and projection.caught_up()):
        assert time.monotonic() < deadline, "the projection did not resume"
        time.sleep(0.1)
    stop.set()
    worker.join(30)
    assert projection.outages >= 1
    paused = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
    assert paused, "one line says the projection paused"
    assert "database is unavailable" in paused[0]
    assert any("resumed" in r.getMessage() for r in caplog.records)
    # The same database, rebuilt from the topics, holds the same rows.
    resumed = _tables(url)
    rebuild(services.kafka(PROJECTION), url, CODEC)
    assert _tables(url) == resumed
