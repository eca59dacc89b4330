"""`iotrack demo --json` in an empty home: a consistent port-day summary, nothing left running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from tests.integration.embedded import embedded_home

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_demo_plays_a_port_day_and_stops_what_it_started(tmp_path):
    home = tmp_path / "home"
    kafka_port = free_port()
    # The demo stops what it started; should it fail to, this stops it after the assertions.
    with embedded_home(home, IOTRACK_KAFKA_PORT=str(kafka_port)) as env:
        _the_demo(env, home, kafka_port)


def _the_demo(env: dict[str, str], home, kafka_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--json"],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["passages"] == sum(summary["passages_by_node"].values()) > 0
    assert summary["passages_by_node"]["TERMINAL-QUAY-1"] == 120, "every discharged container"
    assert sum(summary["iot_ids"].values()) == 117, "every bound container has a state"
    assert summary["iot_ids"]["DEFINITIVE"] > 100
    for kind in ("EXIT_WHILE_HELD", "EXIT_WITHOUT_RELEASE", "UNKNOWN_UNIT"):
        assert summary["deviations"][kind] > 0
    assert summary["dead_letters"] == summary["reader_payloads"]["rejected"] > 0
    assert summary["ocr_repairs"]["REPAIRED"] > 0
    train = summary["train"]
    assert train["phase"] == "DEPARTED"
    assert (train["manifest_versions"], train["exited"]) == ([1, 2, 3], 19)
    assert [c["matched"] for c in train["consist_checks"]] == [False, True], "the swap was caught"
    assert sum(summary["gate_checks"].values()) == 120, "every unit asked at the gate"
    assert summary["gate_checks"]["UNKNOWN"] == 3, "the three units Customs missed"
    assert not LocalKafka(home, base_port=kafka_port).running(), "nothing left running"
