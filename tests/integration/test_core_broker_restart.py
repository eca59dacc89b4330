"""The tracking core's worker outlives its broker: stopped and started five times while the core
works, every input is applied once and every output topic ends as ``iotrack replay`` computes;
its /ready says so while the broker is away, and is ready again once it is back.

Before, the worker's main thread sat for good in ``send_offsets_to_transaction`` (no bound)
once the broker it had begun a transaction with went away: the broker rolled the transaction
back, the batch was never applied, and a hold placed afterwards never reached the gate check.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from streams.kafka.reading import committed_up_to_end
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.replay.lines import read_events
from streams.replay.publish import publish
from streams.workers.core import GROUP
from tests.integration.embedded import cli_env, own_broker
from tests.integration.test_core_worker_crash import (
    CHECKOUT,
    CODEC,
    Worker,
    _expected,
    _published,
    _scenario,
)
from topics.parties import CORE, CUSTOMS

RESTARTS = 5
RUN = [sys.executable, "-m", "streams.cli", "run", "--no-fusion"]


class ServedWorker(Worker):
    """The worker with its /health, /ready and /metrics on ``port``."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        super().__init__(env, log)
        self.port = port

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*RUN, "--metrics-port", str(self.port)],
                cwd=CHECKOUT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def ready(self) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=5) as got:
                return got.status, json.load(got)
        except urllib.error.HTTPError as refused:
            return refused.code, json.load(refused)
        except OSError:
            return 0, {}

    def until_ready(self, ready: bool, timeout_s: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while True:
            status, document = self.ready()
            if status == (200 if ready else 503):
                return document
            assert time.monotonic() < deadline, f"/ready never {'200' if ready else '503'}"
            time.sleep(0.5)


def test_core_worker_survives_broker_restarts_under_load(tmp_path):
    rng = random.Random(20261201)
    waves = _scenario(rng)
    kafka = LocalKafka(tmp_path / "home", base_port=free_port())
    worker: ServedWorker | None = None
    restarted = 0
    try:
        kafka.start()
        found = own_broker(kafka)
        worker = ServedWorker(cli_env(found), tmp_path / "worker.log", free_port())
        worker.start()
        group = f"{CORE.principal}.{GROUP}"
        worker.until_ready(True)
        for number, wave in enumerate(waves):
            publish(found.kafka, CODEC, wave)
            if 0 < number <= RESTARTS:
                # While the core consumes, applies and commits this wave.
                time.sleep(rng.uniform(0.0, 0.4))
                kafka.stop()
                if number == 1:  # the broker away long enough for /ready to say so
                    reason = str(worker.until_ready(False)["reason"])
                    # No broker, a batch in hand too long, or, when the broker left in the
                    # middle of a transaction whose calls then timed out, starting again from
                    # the last committed batch (signed in, the core batches more: more often so).
                    assert any(
                        why in reason for why in ("broker", "in hand", "last committed batch")
                    ), reason
                else:
                    time.sleep(rng.uniform(0.5, 2.0))
                kafka.start()
                restarted += 1
            topic = next(read_events(wave[:1])).topic
            deadline = time.monotonic() + 240
            while not committed_up_to_end(found.kafka_admin(), group, [topic]):
                assert worker.process is not None
                assert worker.process.poll() is None, (
                    f"the worker exited: {(tmp_path / 'worker.log').read_text()[-3000:]}"
                )
                assert time.monotonic() < deadline, (
                    f"the worker never took the {topic.name} wave after the broker restarted: "
                    f"{(tmp_path / 'worker.log').read_text()[-3000:]}"
                )
                time.sleep(0.5)
        assert restarted == RESTARTS
        worker.until_ready(True)
        worker.stop()
        expected = _expected([line for wave in waves for line in wave])
        published = _published(found.kafka(CUSTOMS))
        ids = Counter((t, json.loads(v)["event_id"]) for t, _, s, v in published if s)
        assert max(ids.values()) == 1, "no transition or deviation published twice"
        assert Counter(published) == Counter(expected)
    finally:
        if worker is not None:
            worker.stop()
        kafka.stop()
