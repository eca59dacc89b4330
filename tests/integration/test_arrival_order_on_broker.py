"""Arrival order live: twenty bindings and their releases published together, the releases
first, onto their two topics; the running core ends with twenty IOT_IDs cleared and no dead
letter (a release that comes before its binding waits for it)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from processors.ids import deterministic_uuid7
from streams.kafka.reading import committed_up_to_end, read_committed
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.local.runtime import Endpoints
from streams.ops.settings import CHECKOUT
from streams.replay.lines import EventLines, read_events
from streams.replay.publish import publish
from streams.workers.core import GROUP, CoreWorker
from tests.golden.domain import _mrn, _unit
from tests.integration.embedded import cli_env, own_broker
from topics import catalog
from topics.codec import SingleObjectCodec, plain
from topics.parties import CORE, CUSTOMS

CODEC = SingleObjectCodec()
PAIRS = 20
T0 = 1_796_000_000_000


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """A broker of its own, set up as `iotrack up` makes it, with the core running on it."""
    kafka = LocalKafka(tmp_path_factory.mktemp("arrival"), base_port=free_port())
    stop = threading.Event()
    thread = None
    try:
        kafka.start()
        found = own_broker(kafka)
        worker = CoreWorker(found.kafka(CORE), CODEC)
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        paths = (CHECKOUT / "deploy" / "mission-paths.jsonl").read_text().splitlines()
        publish(found.kafka, CODEC, paths)
        _wait(found, [catalog.MISSION_PATHS])
        yield found
    finally:
        stop.set()
        if thread is not None:
            thread.join(30)
        kafka.stop()


def _wait(found: Endpoints, topics: list[catalog.Topic]) -> None:
    deadline = time.monotonic() + 90
    while not committed_up_to_end(found.kafka_admin(), f"{CORE.principal}.{GROUP}", topics):
        assert time.monotonic() < deadline, "the core did not take the events"
        time.sleep(0.2)


def test_twenty_releases_published_with_their_bindings_all_clear(core: Endpoints) -> None:
    lines = EventLines("arrival-order", "customs")
    bindings, releases, iots = [], [], []
    for n in range(PAIRS):
        unit = _unit(f"TGHU{100000 + n}")
        declared = _mrn(f"26IT{n:012d}R")
        at = T0 + n * 1000
        request = f"PAIR-{n}"
        iot = deterministic_uuid7(at, "iot", request)
        iots.append(iot)
        bindings.append(
            lines.line(
                "BindingRequested",
                at,
                request_id=request,
                mrns=[declared],
                itus=[{"kind": "CONTAINER", "value": unit}],
                mission_path_id="IMPORT-ROAD",
                requested_by="officer.rossi",
            )
        )
        releases.append(
            lines.line("CustomsRelease", at + 500, iot_id=iot, mrn=declared, released_by="o")
        )
    publish(core.kafka, CODEC, releases)
    publish(core.kafka, CODEC, bindings)
    _wait(core, [catalog.BINDING_REQUESTS, catalog.CUSTOMS_RELEASES])
    verdicts = {
        (m.key() or b"").decode(): plain(CODEC.decode(m.value()).value)["verdict"]
        for m in read_committed(core.kafka(CUSTOMS), catalog.CLEARANCE_BY_IOT)
        if m.value() is not None
    }
    assert {iot: verdicts.get(iot) for iot in iots} == dict.fromkeys(iots, "CLEARED")
    assert read_committed(core.kafka(CUSTOMS), catalog.DEAD_LETTERS) == []
    assert [e.topic for e in read_events(releases[:1])] == [catalog.CUSTOMS_RELEASES]


def _iotrack(found: Endpoints, *args: str) -> subprocess.CompletedProcess[str]:
    """``iotrack ...`` on the broker's embedded default, as Customs."""
    env = cli_env(found, CUSTOMS)
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_customs_binds_from_the_command_line_and_learns_the_iot_id_or_the_refusal(
    core: Endpoints, tmp_path: Path
) -> None:
    unit, declared = _unit("BNDU123456"), _mrn("26IT000000009999R")
    bound = _iotrack(core, "bind", "--container", unit, "--mrn", declared, "--path",
                     "IMPORT-ROAD", "--json")  # fmt: skip
    assert bound.returncode == 0, bound.stderr
    answer = json.loads(bound.stdout)
    assert answer["status"] == "BOUND"
    assert answer["units"] == f"CONTAINER:{unit}"
    assert uuid.UUID(answer["iot_id"]).version == 7
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        json.dumps({"path": "RAIL-EXPORT", "mrns": [declared], "units": [{"unit": unit}]}) + "\n"
    )
    again = _iotrack(core, "bind", str(requests))
    assert again.returncode == 1, again.stderr
    assert "refused" in again.stdout
    assert answer["iot_id"] in again.stdout, "the refusal names the IOT_ID the unit is bound to"
