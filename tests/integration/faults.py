"""What the cluster fault tests (test_cluster_faults.py) are made of: a 3-node cluster with its
own Postgres, the processes of a port as subprocesses of the command line, devices that post
payloads to the readers at a steady rate, and the figures a run measures.

Nothing here kills anything by name: a broker node is killed by the pid its folder records, a
process by its own handle, and whatever was started is stopped by the one who started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from processors.identifiers import container, mrn
from processors.ids import deterministic_uuid7
from streams.local.kafka import KafkaNode, LocalKafka
from streams.local.postgres import LocalPostgres
from streams.local.runtime import Endpoints
from tests.integration.embedded import CHECKOUT
from topics import catalog
from topics.clients import admin_client, consumer

T0 = 1_796_000_000_000
MINUTE = 60_000
DAY = 86_400_000
QUAY, GATE, PATH = "FAULT-QUAY", "FAULT-GATE", "FAULT-PATH"
SPACING_MS = 15_000
"""Event time between two payloads of one lane: more than fusion's gap and lateness (14 s), so
each payload is one passage whatever the wall clock does."""
PLATE = "ABCDFGHJKLMNPRSTVWXYZ"


def line(record: str, at: int, tag: str, **fields: object) -> str:
    """One replay/publish line of ``iotrack.<record>``."""
    value = {
        "event_id": deterministic_uuid7(at, "fault", tag),
        "source": "test",
        "occurred_at": at,
        **fields,
    }
    return json.dumps({"type": f"iotrack.{record}", "value": value})


MISSION_PATH = line(
    "MissionPathDefined",
    T0 - DAY,
    "path",
    mission_path_id=PATH,
    version=1,
    defined_by="test",
    legs=[{"from_node": QUAY, "to_node": GATE, "time_budget_ms": 365 * DAY}],
    nodes=[
        {"node_id": QUAY, "kind": "TERMINAL", "role": "DEPARTURE"},
        {"node_id": GATE, "kind": "PORT_GATE", "role": "DESTINATION"},
    ],
)


@dataclass(frozen=True)
class Unit:
    """A container bound on the fault path, its binding line and its IOT_ID."""

    code: str
    binding: str
    iot_id: str


def units(run: int, count: int) -> list[Unit]:
    """``count`` containers of run ``run`` (codes and MRNs no other run uses), bound one
    minute apart an hour before the run's first passage."""
    found = []
    owner = "FL" + "ABCDEFGHJK"[run]
    for i in range(count):
        body = f"{owner}U{run}{i:05d}"
        code = body + container.check_digit(body)
        mrn_body = f"26IT{run:02d}{i:010d}R"
        at = T0 + run * DAY - 60 * MINUTE + i
        request = f"FLT-{run}-{i}"
        binding = line(
            "BindingRequested",
            at,
            request,
            request_id=request,
            mrns=[mrn_body + mrn.check_digit(mrn_body)],
            itus=[{"kind": "CONTAINER", "value": code}],
            mission_path_id=PATH,
            requested_by="officer",
        )
        found.append(Unit(code, binding, deterministic_uuid7(at, "iot", request)))
    return found


def payload(run: int, reader: int, k: int, read_point: str, unit: Unit) -> bytes:
    """An OCR portal's payload for the ``k``-th truck through ``read_point``: the container,
    the truck's and the trailer's plates (no other truck has them), three reads."""
    at = T0 + run * DAY + k * SPACING_MS
    letters = f"{PLATE[run]}{PLATE[reader]}"
    tail = f"{PLATE[k // 1000 % len(PLATE)]}A"
    document = {
        "device_id": f"ocr-{read_point.lower()}",
        "passage_ref": f"{run}-{reader}-{k}",
        "lane": "1",
        "direction": "IN",
        "captured_at": at,
        "containers": [{"code": unit.code, "confidence": 0.97}],
        "truck_plate": {"text": f"{letters}{k % 1000:03d}{tail}", "country": "IT"},
        "trailer_plate": {
            "text": f"X{letters[0]}{k % 1000:03d}{letters[1]}{tail[0]}",
            "country": "IT",
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


# -- processes ---------------------------------------------------------------------------------


class Child:
    """One `iotrack` command as a subprocess, its output in a log file."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", *args],
                cwd=CHECKOUT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> None:
        """Fails naming the process and the end of its log when it exited."""
        assert self.process.poll() is None, (
            f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
        )

    def stop(self, wait_s: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """GET a local endpoint: its status and JSON document (0 and {} when nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as got:
            return got.status, json.load(got)
    except urllib.error.HTTPError as refused:
        try:
            return refused.code, json.load(refused)
        except ValueError:
            return refused.code, {}
    except (OSError, ValueError):
        return 0, {}


def until(what: str, check: Callable[[], bool], timeout_s: float, *also: Child) -> float:
    """Wait until ``check()`` holds, failing with ``what`` after ``timeout_s`` or as soon as
    one of ``also`` exits; the seconds it took."""
    started = time.monotonic()
    while not check():
        for child in also:
            child.alive()
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(0.2)
    return time.monotonic() - started


# -- devices -----------------------------------------------------------------------------------


@dataclass
class Posted:
    """What one device posted to its reader: each payload's read ids as the reader answered
    202 for them (spooled: acknowledged to the device), and when."""

    payloads: list[bytes]
    event_ids: dict[int, tuple[str, ...]] = field(default_factory=dict)
    at: dict[int, float] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


class Device(threading.Thread):
    """Posts its payloads to a reader's ``POST /payloads`` in batches, at ``rate`` per second."""

    def __init__(self, port: int, payloads: list[bytes], rate: float, batch: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.rate = rate
        self.batch = batch
        self.posted = Posted(payloads)
        self.started_at = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        self.started_at = time.monotonic()
        payloads = self.posted.payloads
        for first in range(0, len(payloads), self.batch):
            due = self.started_at + first / self.rate
            if self.stop.wait(max(0.0, due - time.monotonic())):
                return
            chunk = payloads[first : first + self.batch]
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/payloads",
                data=b"[" + b",".join(chunk) + b"]",
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    document = json.load(answer)
            except (OSError, ValueError) as exc:
                self.posted.refused.append(f"payloads {first}..: {exc}")
                return
            now = time.monotonic()
            for item in document["items"]:
                index = first + int(item["index"])
                if "event_ids" not in item:
                    self.posted.refused.append(f"payload {index}: {item}")
                    continue
                self.posted.event_ids[index] = tuple(item["event_ids"])
                self.posted.at[index] = now


# -- the cluster -------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The 3-node cluster, its Postgres and their endpoints."""

    kafka: LocalKafka
    postgres: LocalPostgres
    found: Endpoints
    home: Path
    admin: Any = None

    def __post_init__(self) -> None:
        self.admin = admin_client(self.found.kafka_admin())

    def node(self, node_id: int) -> KafkaNode:
        [found] = [n for n in self.kafka.nodes if n.node_id == node_id]
        return found

    def kill(self, node_id: int) -> float:
        """SIGKILL one node's JVM (by the pid its folder records) and wait until it is gone;
        the monotonic time it was killed."""
        node = self.node(node_id)
        pid = node.pid()
        assert pid is not None, f"node {node_id} is not running"
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        until(f"node {node_id} gone after SIGKILL", lambda: node.pid() is None, 30)
        return killed

    def metadata(self, topic: catalog.Topic) -> dict[int, tuple[int, list[int], list[int]]]:
        """Each partition's leader, replicas and in-sync replicas, as a live broker says."""
        described = self.admin.list_topics(topic.name, timeout=10).topics[topic.name]
        return {
            p: (m.leader, list(m.replicas), list(m.isrs)) for p, m in described.partitions.items()
        }

    def leader(self, topic: catalog.Topic, partition: int) -> int | None:
        """The partition's leader now (None while no live broker answers or none leads)."""
        try:
            leader = self.metadata(topic)[partition][0]
        except Exception:  # the brokers left are busy electing: not yet
            return None
        return leader if leader >= 0 else None

    def ends(self, topic: catalog.Topic) -> dict[int, int]:
        """Each partition's high watermark."""
        probe = consumer(self.found.kafka_admin(), "probe", **{"log_level": 0})
        try:
            return {
                p: probe.get_watermark_offsets(TopicPartition(topic.name, p), timeout=10)[1]
                for p in range(topic.partitions)
            }
        finally:
            probe.close()

    def active_controller(self) -> int:
        """The KRaft quorum's active controller: the node that last became it, by epoch, as
        the nodes' own logs tell (through the brokers, DescribeCluster names any broker)."""
        newest: tuple[int, int] | None = None
        pattern = re.compile(
            r"\[QuorumController id=(\d+)\] Becoming the active controller at epoch (\d+)"
        )
        for node in self.kafka.nodes:
            for log in sorted(node.logs.glob("server.log*")):
                with contextlib.suppress(OSError):
                    for match in pattern.finditer(log.read_text(errors="replace")):
                        epoch, node_id = int(match[2]), int(match[1])
                        if newest is None or epoch > newest[0]:
                            newest = (epoch, node_id)
        assert newest is not None, "no node's log says it became the active controller"
        return newest[1]

    def fully_replicated(self, topics: Sequence[catalog.Topic]) -> bool:
        """Every partition of ``topics`` with all three replicas in sync."""
        try:
            return all(len(isrs) == 3 for t in topics for _, _, isrs in self.metadata(t).values())
        except Exception:  # a broker still starting, the metadata not there yet
            return False


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """A list to put started processes in; each stopped at the end, whatever happened."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()
