"""The tracking core's worker outlives its broker: stopped and started five times while the core
works, every input is applied once and every output topic ends as ``iotrack replay`` computes.

Before, the worker's main thread sat for good in ``send_offsets_to_transaction`` (no bound)
once the broker it had begun a transaction with went away: the broker rolled the transaction
back, the batch was never applied, and a hold placed afterwards never reached the gate check.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter

from streams.kafka.reading import committed_up_to_end
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.replay.lines import read_events
from streams.replay.publish import publish
from streams.workers.core import GROUP
from tests.integration.embedded import cli_env, own_broker
from tests.integration.test_core_worker_crash import (
    CODEC,
    Worker,
    _expected,
    _published,
    _scenario,
)
from topics.parties import CORE, CUSTOMS

RESTARTS = 5


def test_core_worker_survives_broker_restarts_under_load(tmp_path):
    rng = random.Random(20261201)
    waves = _scenario(rng)
    kafka = LocalKafka(tmp_path / "home", base_port=free_port())
    worker: Worker | None = None
    restarted = 0
    try:
        kafka.start()
        found = own_broker(kafka)
        worker = Worker(cli_env(found), tmp_path / "worker.log")
        worker.start()
        group = f"{CORE.principal}.{GROUP}"
        for number, wave in enumerate(waves):
            publish(found.kafka, CODEC, wave)
            if 0 < number <= RESTARTS:
                # While the core consumes, applies and commits this wave.
                time.sleep(rng.uniform(0.0, 0.4))
                kafka.stop()
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
