"""The tracking core's worker, SIGKILLed again and again, publishes what replay computes, once.

A port's worth of events (bindings, quay passages, holds, releases, lifts, gate passages, exits)
is fed in waves, each wave to one topic, waiting for the worker to take a wave before sending
the next, so the order in which the worker sees the events is the file's order wherever it
matters. Meanwhile the worker process is killed with SIGKILL at random moments and restarted.
At the end every output topic must hold exactly what ``iotrack replay`` computes for the same
input, each record once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from processors.core import Channel, CoreState, apply
from processors.identifiers import container, mrn
from processors.ids import deterministic_uuid7
from streams.kafka.reading import committed_up_to_end, read_committed
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.replay.lines import read_events
from streams.replay.publish import publish
from streams.workers.channels import CHANNEL_TOPICS, topic_of
from streams.workers.core import GROUP
from tests.integration.embedded import cli_env, own_broker
from topics import catalog
from topics.clients import KafkaConnection
from topics.codec import SingleObjectCodec, plain
from topics.parties import CORE, CUSTOMS

CHECKOUT = Path(__file__).resolve().parents[2]
CODEC = SingleObjectCodec()
T0 = 1_795_600_000_000
MINUTE = 60_000
UNITS = 500


def _line(record: str, at: int, n: int, **fields: object) -> str:
    value = {
        "event_id": deterministic_uuid7(at, "crash", str(n)),
        "source": "test",
        "occurred_at": at,
        **fields,
    }
    return json.dumps({"type": f"iotrack.{record}", "value": value})


def _scenario(rng: random.Random) -> list[list[str]]:
    """Waves of input lines; each wave goes to one topic."""
    n = 0

    def line(record: str, at: int, **fields: object) -> str:
        nonlocal n
        n += 1
        return _line(record, at, n, **fields)

    units = []
    for _ in range(UNITS):
        body = (
            "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
            + "U"
            + (f"{rng.randrange(10**6):06d}")
        )
        code = body + container.check_digit(body)
        mrn_body = f"26IT{rng.randrange(10**12):012d}R"
        units.append((code, mrn_body + mrn.check_digit(mrn_body)))
    waves: list[list[str]] = []
    waves.append(
        [
            line(
                "MissionPathDefined",
                T0,
                mission_path_id="CRASH-PATH",
                version=1,
                defined_by="test",
                legs=[{"from_node": "QUAY", "to_node": "GATE", "time_budget_ms": 30 * 86_400_000}],
                nodes=[
                    {"node_id": "QUAY", "kind": "TERMINAL", "role": "DEPARTURE"},
                    {"node_id": "GATE", "kind": "PORT_GATE", "role": "DESTINATION"},
                ],
            )
        ]
    )
    waves.append(
        [
            line(
                "BindingRequested",
                T0 + MINUTE + i,
                request_id=f"CR-{i}",
                mrns=[m],
                itus=[{"kind": "CONTAINER", "value": c}],
                mission_path_id="CRASH-PATH",
                requested_by="officer",
            )
            for i, (c, m) in enumerate(units)
        ]
        + [
            line(
                "BindingRequested",
                T0 + MINUTE,
                request_id="CR-bad",
                mrns=[],
                itus=[{"kind": "CONTAINER", "value": "CSQU3054384"}],
                mission_path_id="CRASH-PATH",
                requested_by="officer",
            )
        ]
    )
    iots = [deterministic_uuid7(T0 + MINUTE + i, "iot", f"CR-{i}") for i in range(UNITS)]

    def passages(at: int, node: str, direction: str) -> list[str]:
        return [
            line(
                "Passage",
                at + i,
                read_point_id=f"{node}-{i % 4}",
                node_id=node,
                lane="1",
                direction=direction,
                started_at=at + i,
                ended_at=at + i,
                identifiers=[{"kind": "CONTAINER", "value": c}],
                evidence=[],
                sensors_agree=True,
            )
            for i, (c, _) in enumerate(units)
        ]

    waves.append(passages(T0 + 60 * MINUTE, "QUAY", "IN"))
    held = [i for i in range(UNITS) if i % 10 == 0]
    waves.append(
        [
            line(
                "HoldPlaced",
                T0 + 120 * MINUTE + i,
                iot_id=iots[i],
                hold_id=f"H-{i}",
                agency="CUSTOMS" if i % 20 else "PHYTOSANITARY",
                hold_type="SCANNER",
                placed_by="officer",
            )
            for i in held
        ]
    )
    waves.append(
        [
            line(
                "CustomsRelease",
                T0 + 180 * MINUTE + i,
                iot_id=iots[i],
                mrn=m,
                released_by="officer",
            )
            for i, (_, m) in enumerate(units)
        ]
    )
    waves.append(
        [
            line(
                "HoldLifted",
                T0 + 240 * MINUTE + i,
                iot_id=iots[i],
                hold_id=f"H-{i}",
                agency="CUSTOMS" if i % 20 else "PHYTOSANITARY",
                hold_type="SCANNER",
                lifted_by="officer",
            )
            for i in held[::2]
        ]
    )
    waves.append(passages(T0 + 300 * MINUTE, "GATE", "OUT"))
    waves.append(
        [
            line(
                "ExitConfirmed",
                T0 + 360 * MINUTE + i,
                iot_id=iots[i],
                mode="ROAD",
                gate_node_id="GATE",
                confirmed_by="gdf",
            )
            for i in range(UNITS)
        ]
    )
    return waves


def _expected(lines: list[str]) -> list[tuple[str, str, str | None, str]]:
    state, found = CoreState(), []
    for event in read_events(lines):
        state, outputs = apply(state, event.schema, event.value, event.sender)
        for output in outputs:
            if output.channel is Channel.REFUSALS or output.to is not None:
                continue
            topic = topic_of(output)
            key = output.key if output.value is None else topic.key_of(output.value).decode()
            found.append((topic.name, key, output.schema, json.dumps(output.value, sort_keys=True)))
    return found


def _published(connection: KafkaConnection) -> list[tuple[str, str, str | None, str]]:
    """Every output record, read as Customs (who may read all of them)."""
    found = []
    names = {t.name: t for t in CHANNEL_TOPICS.values() if t is not catalog.DEAD_LETTERS}
    for topic in names.values():
        for message in read_committed(connection, topic):
            value = message.value()
            decoded = None if value is None else CODEC.decode(value)
            found.append(
                (
                    topic.name,
                    (message.key() or b"").decode(),
                    decoded.schema if decoded else None,
                    json.dumps(plain(decoded.value) if decoded else None, sort_keys=True),
                )
            )
    return found


class Worker:
    """The core worker as a separate process that can be killed."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        """``env``: `iotrack run` on the broker's embedded default, signed in as the core."""
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streams.cli",
                    "run",
                    "--no-fusion",
                    "--metrics-port",
                    "0",
                ],
                cwd=CHECKOUT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


def test_core_worker_killed_repeatedly_publishes_everything_once(tmp_path):
    rng = random.Random(20261125)
    waves = _scenario(rng)
    kafka = LocalKafka(tmp_path / "home", base_port=free_port())
    worker: Worker | None = None
    stop_killing = threading.Event()
    try:
        kafka.start()
        found = own_broker(kafka)
        worker = Worker(cli_env(found), tmp_path / "worker.log")
        worker.start()

        def killer() -> None:
            while not stop_killing.wait(rng.uniform(1.0, 3.0)):
                worker.kill()
                time.sleep(rng.uniform(0.0, 0.5))
                worker.start()

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        group = f"{CORE.principal}.{GROUP}"
        for wave in waves:
            publish(found.kafka, CODEC, wave)
            topic = next(read_events(wave[:1])).topic
            deadline = time.monotonic() + 240
            while not committed_up_to_end(found.kafka_admin(), group, [topic]):
                assert time.monotonic() < deadline, f"the worker never took the {topic.name} wave"
                time.sleep(0.5)
        stop_killing.set()
        thread.join()
        worker.stop()
        assert worker.kills >= 3, "the worker was killed several times"
        expected = _expected([line for wave in waves for line in wave])
        published = _published(found.kafka(CUSTOMS))
        ids = Counter((t, json.loads(v)["event_id"]) for t, _, s, v in published if s)
        assert max(ids.values()) == 1, "no transition or deviation published twice"
        assert Counter(published) == Counter(expected)
        kinds = Counter(
            json.loads(v)["kind"] for t, _, s, v in expected if s == "iotrack.Deviation"
        )
        still_held = len(range(10, UNITS, 20))  # CUSTOMS holds never lifted
        assert kinds["EXIT_WHILE_HELD"] == 2 * still_held, "at the gate read and at the exit"
    finally:
        stop_killing.set()
        if worker is not None:
            worker.stop()
        kafka.stop()
