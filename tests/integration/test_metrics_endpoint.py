"""A running worker serves /metrics with what it did, labelled without unit identifiers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from streams.kafka.reading import committed_up_to_end
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.replay.lines import read_events
from streams.replay.publish import publish
from streams.workers.core import GROUP
from tests.integration.embedded import cli_env, own_broker
from topics.codec import SingleObjectCodec
from topics.parties import CORE

CHECKOUT = Path(__file__).resolve().parents[2]
GOLDEN = CHECKOUT / "tests" / "golden" / "exit-attempt-while-phytosanitary-hold.in.jsonl"


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_the_core_worker_reports_inputs_outputs_deviations_and_latency(tmp_path):
    # A broker of its own: the shared one holds other tests' inputs, whose later event times
    # would put this scenario's beyond the core's dedupe horizon (refused, not counted). Set up
    # as `iotrack up` does, so `iotrack run` signs in as service.core from its home.
    kafka = LocalKafka(tmp_path / "home", base_port=free_port())
    kafka.start()
    found = own_broker(kafka)
    port = free_port()
    env = cli_env(found)
    core_group = f"{CORE.principal}.{GROUP}"
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "run", "--metrics-port", str(port)],
        cwd=CHECKOUT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # One event at a time, each taken before the next, so the scenario plays in file order.
        for line in GOLDEN.read_text().splitlines():
            publish(found.kafka, SingleObjectCodec(), [line])
            topic = next(read_events([line])).topic
            deadline = time.monotonic() + 60
            while not committed_up_to_end(found.kafka_admin(), core_group, [topic]):
                assert time.monotonic() < deadline, f"the worker did not take {topic.name}"
                time.sleep(0.1)
        deadline = time.monotonic() + 30
        text = ""
        while 'iotrack_deviations_total{kind="EXIT_WHILE_HELD",node="' not in text:
            assert process.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, f"no deviation counted; last scrape:\n{text}"
            time.sleep(0.5)
            text = _scrape(port)
        assert 'iotrack_events_in_total{processor="core",record_type="iotrack.Passage"}' in text
        assert "iotrack_end_to_end_latency_seconds_count" in text
        assert "iotrack_core_transaction_seconds_count" in text
        assert "iotrack_fusion_records_total" in text
        assert 'iotrack_events_in_total{processor="fusion",record_type="iotrack.RawRead"}' in text
        assert f'iotrack_consumer_lag_records{{group="{core_group}",' in text
        assert 'iotrack_iot_ids{status="' in text
        # The phytosanitary hold was placed, then lifted: seen, none open now.
        assert 'iotrack_holds_open{agency="PHYTOSANITARY"} 0.0' in text
        assert "TCNU7200794" not in text, "no unit identifier in any label"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        kafka.stop()
