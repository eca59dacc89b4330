"""A train operator's day against a real broker and the running tracking core, through the
``iotrack rail`` commands: a loading list of 30 units with one held, a refused manifest, an
amendment without the held unit, a swapped wagon caught at the exit, and a departure."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from processors.identifiers import container, mrn, wagon
from processors.ids import deterministic_uuid7
from processors.parties import PartyKind, Sender
from streams.kafka.reading import committed_up_to_end, read_committed
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.ops.settings import CHECKOUT
from streams.replay.lines import read_events
from streams.replay.publish import publish
from streams.workers.core import GROUP, CoreWorker
from tests.integration.embedded import cli_env, own_broker
from topics import catalog
from topics.codec import SingleObjectCodec, plain
from topics.parties import CORE, GDF

CODEC = SingleObjectCodec()
T0 = int(time.time() * 1000) - 3_600_000
UNITS = [c + container.check_digit(c) for c in (f"TRLU{n:06d}" for n in range(100, 130))]
HELD = UNITS[6]
FOLLOWED = [c + container.check_digit(c) for c in ("FLWU000001", "FLWU000002")]
STALE = "STLU000009" + container.check_digit("STLU000009")
WAGONS = [w + wagon.check_digit(w) for w in (f"3180{n:07d}" for n in range(1, 16))]


def declaration(unit: str) -> str:
    body = f"26IT{int(unit[4:10]):012d}R"
    return body + mrn.check_digit(body)


def line(record: str, n: int, **fields: Any) -> str:
    at = T0 + n
    value = {"event_id": deterministic_uuid7(at, "rail", str(n)), "source": "test",
             "occurred_at": at, **fields}  # fmt: skip
    return json.dumps({"type": f"iotrack.{record}", "value": value})


def iot_of(n: int, unit: str) -> str:
    return deterministic_uuid7(T0 + n, "iot", f"R-{unit}")


def itu(unit: str) -> dict[str, Any]:
    return {"kind": "CONTAINER", "value": unit}


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    home = tmp_path_factory.mktemp("rail")
    kafka = LocalKafka(home, base_port=free_port())
    stop = threading.Event()
    thread = None
    try:
        kafka.start()
        found = own_broker(kafka, PARTIES)
        worker = CoreWorker(found.kafka(CORE), CODEC)
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        paths = [
            x
            for x in (CHECKOUT / "deploy" / "mission-paths.jsonl").read_text().splitlines()
            if x.strip() and not x.startswith("#")
        ]
        feed(found, paths)
        lines, iots = [], {}
        for n, unit in enumerate(UNITS + FOLLOWED, start=1):
            iots[unit] = iot_of(n, unit)
            lines.append(
                line("BindingRequested", n, request_id=f"R-{unit}", mrns=[declaration(unit)],
                     itus=[itu(unit)], mission_path_id="RAIL-EXPORT", requested_by="officer")
            )  # fmt: skip
        feed(found, lines)
        lines = [
            line("CustomsRelease", 100 + n, iot_id=iots[u], mrn=declaration(u), released_by="o")
            for n, u in enumerate(UNITS + FOLLOWED)
        ]
        lines += [hold(200 + n, iots[u], placed=True) for n, u in enumerate((HELD, FOLLOWED[1]))]
        feed(found, lines)
        yield found, iots, home
    finally:
        stop.set()
        if thread is not None:
            thread.join(30)
        kafka.stop()


PARTIES = (
    Sender.rail_operator("tuscan-rail"),
    Sender.rail_operator("op"),
    Sender(PartyKind.RAIL_PORTAL, "rail-gate-1-ocr"),
)
"""The rail operators and the exit portal the tests admit."""


def hold(n: int, iot_id: str, *, placed: bool) -> str:
    common = {"iot_id": iot_id, "hold_id": "H-1", "agency": "CUSTOMS", "hold_type": "SCANNING"}
    if placed:
        return line("HoldPlaced", n, **common, reason_code="RISK-3", reason="x-ray",
                    placed_by="customs.duty")  # fmt: skip
    return line("HoldLifted", n, **common, lifted_by="customs.duty", outcome="clean scan")


def feed(found, lines: list[str]) -> None:
    """Publish the lines, each as its party, and wait until the core has taken them."""
    publish(found.kafka, CODEC, lines)
    names = {event.topic.name for event in read_events(lines)}
    topics = [catalog.topic_named(name) for name in sorted(names)]
    deadline = time.monotonic() + 60
    while not committed_up_to_end(found.kafka_admin(), f"{CORE.principal}.{GROUP}", topics):
        assert time.monotonic() < deadline, "the core worker did not take the events"
        time.sleep(0.2)


def rail(found, *args: str) -> subprocess.CompletedProcess[str]:
    """``iotrack rail ...`` on the broker's embedded default: as the operator, portal or GdF."""
    env = cli_env(found)
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "rail", *args, "--json"],
        cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def manifest_json(path: Path, units: list[str]) -> Path:
    wagons = [
        {"position": p, "wagon_number": WAGONS[p - 1],
         "units": [{"unit": u} for u in units[2 * (p - 1): 2 * p]],
         "mrns": [declaration(u) for u in units[2 * (p - 1): 2 * p]]}
        for p in range(1, (len(units) + 1) // 2 + 1)
    ]  # fmt: skip
    path.write_text(json.dumps({"wagons": wagons}))
    return path


def manifest_csv(path: Path, units: list[str]) -> Path:
    rows = ["position,wagon_number,unit,mrn"]
    rows += [f"{n // 2 + 1},{WAGONS[n // 2]},{u},{declaration(u)}" for n, u in enumerate(units)]
    path.write_text("\n".join(rows) + "\n")
    return path


def portal(path: Path, units: list[str], order: list[int], misread: str | None = None) -> Path:
    reads = []
    for position, p in enumerate(order, start=1):
        codes = units[2 * (p - 1) : 2 * p]
        reads.append(
            {"device_id": "ocr-rail-portal",
             "wagon": {"number": WAGONS[p - 1], "position": position},
             "containers": [{"code": misread if c == units[0] and misread else c,
                             "confidence": 0.9, "candidates": []} for c in codes],
             "ilus": []}
        )  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in reads))
    return path


def train_status(found, train_id: str) -> dict[str, Any]:
    """The train's latest status, as the GdF reads it."""
    statuses = [
        plain(CODEC.decode(m.value(), topic=catalog.TRAINS.name).value)
        for m in read_committed(found.kafka(GDF), catalog.TRAINS)
        if m.key() == train_id.encode() and m.value() is not None
    ]
    return statuses[-1]


def test_a_train_from_loading_list_to_departure(port, tmp_path):
    found, iots, _ = port
    listing = tmp_path / "list.csv"
    listing.write_text("unit,mrn\n" + "".join(f"{u},{declaration(u)}\n" for u in UNITS))
    result = rail(found, "loading-list", str(listing), "--train", "IT-4711", "--operator",
                  "tuscan-rail")  # fmt: skip
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["units"], answer["ready"]) == (30, 29)
    [held] = [i for i in answer["items"] if not i["ready"]]
    assert (held["unit"], held["reasons"]) == (HELD, ["HELD: held by CUSTOMS (SCANNING)"])
    assert held["iot_id"] == iots[HELD]

    result = rail(found, "manifest", str(manifest_json(tmp_path / "m1.json", UNITS)),
                  "--train", "IT-4711", "--operator", "tuscan-rail")  # fmt: skip
    assert result.returncode == 1, result.stderr
    refused = json.loads(result.stdout)
    assert (refused["manifest_version"], refused["granted"]) == (1, False)
    assert refused["reasons"] == ["HELD: position 4: held by CUSTOMS (SCANNING)"]

    kept = [u for u in UNITS if u != HELD]
    amended = manifest_csv(tmp_path / "m2.csv", kept)
    result = rail(found, "manifest", str(amended), "--train", "IT-4711", "--operator",
                  "tuscan-rail")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["manifest_version"] == 2

    swapped = list(range(1, 16))
    swapped[2], swapped[3] = swapped[3], swapped[2]
    result = rail(found, "consist", str(portal(tmp_path / "bad.jsonl", kept, swapped)),
                  "--train", "IT-4711")  # fmt: skip
    assert result.returncode == 1, result.stderr
    check = json.loads(result.stdout)
    assert [p.split(":")[0] for p in check["problems"]] == ["SWAPPED_WAGON", "SWAPPED_WAGON"]
    assert train_status(found, "IT-4711")["phase"] == "REVOKED"

    result = rail(found, "manifest", str(amended), "--train", "IT-4711", "--operator",
                  "tuscan-rail")  # fmt: skip
    assert json.loads(result.stdout)["granted"] is True, "v3, the train recomposed"
    misread = kept[0][:5] + "O" + kept[0][6:] if kept[0][5] == "0" else None
    good = portal(tmp_path / "good.jsonl", kept, list(range(1, 16)), misread)
    result = rail(found, "consist", str(good))  # the portal knows no train id
    assert result.returncode == 0, result.stdout + result.stderr
    check = json.loads(result.stdout)
    assert check["train_id"] == "IT-4711", "found by its wagon numbers"
    assert sorted(check["exit_candidates"]) == sorted(iots[u] for u in kept)
    assert len(check["repairs"]) == (1 if misread else 0)

    exits = [
        line("ExitConfirmed", 300 + n, iot_id=iots[u], mode="RAIL", gate_node_id="RAIL-GATE-1",
             confirmed_by="gdf.bianchi")
        for n, u in enumerate(kept)
    ]  # fmt: skip
    feed(found, exits)
    status = train_status(found, "IT-4711")
    assert (status["phase"], status["exited"], status["manifest_versions"]) == (
        "DEPARTED", 29, [1, 2, 3]
    )  # fmt: skip


def test_a_bad_file_and_a_stale_version_are_refused_with_the_reason(port, tmp_path):
    found, _, _ = port
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,mrn\nTRLU0001000,\n,26IT\n")
    result = rail(found, "loading-list", str(bad), "--train", "T-X", "--operator", "op")
    assert result.returncode == 2
    assert "line 3: the unit code is empty" in result.stderr
    wagons = manifest_json(tmp_path / "m.json", [STALE])
    first = rail(found, "manifest", str(wagons), "--train", "T-S", "--operator", "op",
                 "--version", "2")  # fmt: skip
    assert first.returncode == 1, first.stderr
    assert json.loads(first.stdout)["reasons"] == [
        f"NOT_RELEASED: position 1: MRN {declaration(STALE)} not released"
    ], "Customs bound the unit from the manifest; nobody released it yet"
    stale = rail(found, "manifest", str(wagons), "--train", "T-S", "--operator", "op",
                 "--version", "1")  # fmt: skip
    assert stale.returncode == 2
    assert "manifest v1 is not newer than v2" in stale.stderr


def test_follow_prints_the_answer_again_when_a_hold_is_lifted(port, tmp_path):
    found, iots, _ = port
    listing = tmp_path / "follow.json"
    listing.write_text(json.dumps({"items": [{"unit": u, "mrn": None} for u in FOLLOWED]}))
    env = cli_env(found)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "rail", "loading-list", str(listing), "--train",
         "IT-FOLLOW", "--operator", "op", "--json", "--follow"],
        cwd=CHECKOUT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        first = json.loads(watcher.stdout.readline())
        assert [i["ready"] for i in first["items"]] == [True, False]
        feed(found, [hold(400, iots[FOLLOWED[1]], placed=False)])
        second = json.loads(watcher.stdout.readline())
        assert [i["ready"] for i in second["items"]] == [True, True]
    finally:
        watcher.kill()
        watcher.wait()
        if watcher.stdout is not None:
            watcher.stdout.close()


def test_the_readme_walkthrough_with_the_example_files(port):
    found, _, _ = port
    examples = CHECKOUT / "deploy" / "examples" / "rail"
    env = cli_env(found)
    for kind, name in (("rail-operator", "tuscan-rail"), ("rail-portal", "rail-gate-1-ocr")):
        admitted = subprocess.run(
            [sys.executable, "-m", "streams.cli", "parties", "add", kind, name],
            cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert admitted.returncode == 0, admitted.stderr
        assert f"{kind}.{name} admitted" in admitted.stdout
    for name in ("1-customs-bindings.jsonl", "2-customs-decisions.jsonl"):
        feed(found, (examples / name).read_text().splitlines())
    train = ("--train", "IT-4712")
    operator = ("--operator", "tuscan-rail")

    def step(*args: str) -> tuple[int, dict[str, Any]]:
        result = rail(found, *args)
        assert result.returncode in (0, 1), result.stderr
        return result.returncode, json.loads(result.stdout)

    code, answer = step("loading-list", str(examples / "loading-list.csv"), *train, *operator)
    assert (code, answer["ready"], answer["units"]) == (1, 5, 6)
    code, decision = step("manifest", str(examples / "manifest-v1.json"), *train, *operator)
    assert (code, decision["granted"]) == (1, False)
    code, decision = step("manifest", str(examples / "manifest-v2.csv"), *train, *operator)
    assert (code, decision["granted"], decision["units"]) == (0, True, 5)
    code, check = step("consist", str(examples / "portal-swapped.jsonl"), *train)
    assert (code, check["matched"]) == (1, False)
    code, decision = step("manifest", str(examples / "manifest-v2.csv"), *train, *operator)
    assert (code, decision["manifest_version"]) == (0, 3)
    code, check = step("consist", str(examples / "portal.jsonl"), *train)
    assert (code, check["matched"], len(check["repairs"])) == (0, True, 1)
    code, done = step("confirm-exits", *train, "--officer", "gdf.bianchi")
    assert (code, done["phase"], done["exited"]) == (0, "DEPARTED", 5)
