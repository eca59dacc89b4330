"""What the console's operations and day pages show, gathered from where it already is: the
status ``iotrack status`` reports (:mod:`streams.ops.status`), each worker's readiness and lag
(its Kafka consumer group's members and committed offsets; the projection's stored positions
and advisory lock), the inputs the tracking core keeps waiting (its metrics), and the day's
dead letters (the dead-letter topic, read from midnight UTC).

Every Kafka client here signs in as the query API (``service.api``, the console runs in its
process): it reads the dead letters (declared a reader in ``topics.catalog``, for Customs) and
describes the workers' groups and topics without reading them (``topics.parties.OBSERVERS``).

Every function here asks and changes nothing; each failure becomes a line in what it returns,
never an error page: an operations page is most needed when something is down.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client.parser import text_string_to_metric_families

from streams.errors import StreamsError
from streams.http.queries import Queries
from topics import catalog
from topics.clients import KafkaConnection, admin_client, consumer
from topics.codec import Codec, plain
from topics.parties import CORE, FUSION

LOG = logging.getLogger("iotrack.console")
TIMEOUT_S = 5.0
WORKER_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("passage fusion", f"{FUSION.principal}.passages", "iotrack fuse / iotrack run"),
    ("tracking core", f"{CORE.principal}.tracking", "iotrack run"),
)
"""The workers that read Kafka as a consumer group: name, group (named after its principal:
``readers.fusion_worker.GROUP``, ``streams.workers.core.GROUP``), the command that runs it."""


@dataclass(frozen=True)
class ProcessState:
    """One process as the operations page shows it."""

    name: str
    command: str
    ready: bool | None
    """True: running; False: not running; None: cannot tell."""
    detail: str
    lag_records: int | None = None


@dataclass
class Operations:
    """Everything the operations page shows."""

    processes: list[ProcessState]
    status: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def _latest(
    admin: AdminClient, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    wanted = {TopicPartition(t, p): latest for t, p in partitions}
    if not wanted:
        return {}
    futures = admin.list_offsets(
        wanted, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=TIMEOUT_S
    )
    return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}


def group_state(admin: AdminClient, name: str, group: str, command: str) -> ProcessState:
    """A consumer group's worker: running while the group has members; lag = records its
    committed offsets are behind the ends of its partitions."""
    try:
        described = admin.describe_consumer_groups([group], request_timeout=TIMEOUT_S)[group]
        members = len(described.result().members)
        offsets = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=TIMEOUT_S
        )[group].result()
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in offsets.topic_partitions or ()
            if tp.offset >= 0
        }
        ends = _latest(admin, committed)
    except KafkaException as exc:
        return ProcessState(name, command, None, f"the broker did not answer: {exc.args[0]}")
    lag = sum(max(0, ends[key] - offset) for key, offset in committed.items() if key in ends)
    if members:
        detail = f"{members} member(s) in group {group}"
    elif committed:
        detail = f"not running (group {group} has no member)"
    else:
        detail = f"never ran here (group {group} has committed nothing)"
    return ProcessState(name, command, members > 0, detail, lag if committed else None)


def projection_state(admin: AdminClient, queries: Queries, consumer: str) -> ProcessState:
    """The Postgres projection: running while it holds its advisory lock; lag = records its
    stored positions are behind the ends of its topics."""
    from streams.workers.projection.lock import lock_key

    command = "iotrack project"
    try:
        running = queries.advisory_lock_held(lock_key(consumer))
        positions = queries.projection_positions(consumer)
    except StreamsError as exc:
        return ProcessState("Postgres projection", command, None, f"Postgres: {exc}")
    try:
        ends = _latest(admin, positions)
    except KafkaException as exc:
        return ProcessState(
            "Postgres projection", command, running, f"the broker did not answer: {exc.args[0]}"
        )
    lag = sum(max(0, ends[key] - offset) for key, offset in positions.items() if key in ends)
    detail = "holds its lock on the database" if running else "not running (its lock is free)"
    return ProcessState("Postgres projection", command, running, detail, lag)


def waiting_inputs(metrics_url: str) -> tuple[dict[str, float], dict[str, float], str | None]:
    """The inputs the tracking core keeps until what they refer to appears, by what they wait
    for, and the oldest one's age in seconds, from its ``/metrics``; with the problem when it
    did not answer."""
    counts: dict[str, float] = {}
    oldest: dict[str, float] = {}
    try:
        with urllib.request.urlopen(metrics_url, timeout=TIMEOUT_S) as answer:  # noqa: S310 - a URL of the settings
            text = answer.read().decode()
    except (OSError, ValueError) as exc:
        return counts, oldest, f"{metrics_url} did not answer ({exc})"
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            waiting_for = sample.labels.get("waiting_for", "")
            if sample.name == "iotrack_core_waiting_inputs":
                counts[waiting_for] = sample.value
            elif sample.name == "iotrack_core_waiting_oldest_age_seconds":
                oldest[waiting_for] = sample.value
    return counts, oldest, None


@dataclass
class DeadLetters:
    """The day's dead letters: how many, by what refused them and why, and the latest ones."""

    since: datetime
    total: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    latest: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None


def midnight_utc(now: datetime | None = None) -> datetime:
    """The start of today, UTC.

    >>> midnight_utc(datetime(2026, 11, 25, 14, 3, tzinfo=UTC)).isoformat()
    '2026-11-25T00:00:00+00:00'
    """
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def dead_letters_since(
    connection: KafkaConnection,
    codec: Codec,
    since: datetime,
    *,
    keep: int = 50,
    most: int = 100_000,
) -> DeadLetters:
    """The dead letters written since ``since`` (at most ``most`` read), newest ``keep``
    first; ``connection``: the query API's."""
    found = DeadLetters(since)
    topic = catalog.DEAD_LETTERS
    reader = consumer(
        connection,
        "console-dead-letters",
        **{"enable.partition.eof": True, "isolation.level": "read_committed", "log_level": 0},
    )
    try:
        at = int(since.timestamp() * 1000)
        wanted = [TopicPartition(topic.name, p, at) for p in range(topic.partitions)]
        starts = reader.offsets_for_times(wanted, timeout=TIMEOUT_S)
        ends = {
            p: reader.get_watermark_offsets(TopicPartition(topic.name, p), timeout=TIMEOUT_S)[1]
            for p in range(topic.partitions)
        }
        assigned = [tp for tp in starts if tp.offset >= 0 and tp.offset < ends[tp.partition]]
        if not assigned:
            return found
        reader.assign(assigned)
        open_parts = {tp.partition for tp in assigned}
        letters: list[dict[str, Any]] = []
        while open_parts and found.total < most:
            message = reader.poll(TIMEOUT_S)
            if message is None:
                break
            error = message.error()
            if error is not None:
                open_parts.discard(message.partition() or 0)
                continue
            if message.value() is None:
                continue
            decoded = codec.decode(message.value() or b"", topic=topic.name)
            value = plain(decoded.value)
            found.total += 1
            letters.append(value)
            if (message.offset() or 0) + 1 >= ends[message.partition() or 0]:
                open_parts.discard(message.partition() or 0)
    except (KafkaException, StreamsError) as exc:
        found.problem = f"the dead-letter topic could not be read: {exc}"
        return found
    finally:
        reader.close()
    found.by_source = dict(Counter(str(v["source"]) for v in letters).most_common())
    found.by_kind = dict(Counter(str(v["error_kind"]) for v in letters).most_common())
    letters.sort(key=lambda v: v["occurred_at"], reverse=True)
    found.latest = letters[:keep]
    return found


@dataclass(frozen=True)
class Dashboard:
    title: str
    url: str


def dashboards(folder: Path, grafana_url: str) -> list[Dashboard]:
    """The Grafana dashboards of ``deploy/grafana/dashboards`` as links into ``grafana_url``."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.append(
            Dashboard(str(document.get("title", path.stem)), f"{grafana_url}/d/{document['uid']}")
        )
    return found


def operations(
    connection: KafkaConnection,
    queries: Queries,
    status: Callable[[], dict[str, Any]],
    this_process: ProcessState,
    projection_consumer: str,
) -> Operations:
    """Every process's readiness and lag, and what ``iotrack status`` reports; ``connection``:
    the query API's."""
    admin = admin_client(connection, **{"socket.timeout.ms": 5000})
    processes = [this_process]
    processes.extend(group_state(admin, *spec) for spec in WORKER_GROUPS)
    processes.append(projection_state(admin, queries, projection_consumer))
    try:
        reported = status()
    except StreamsError as exc:
        reported = {"problems": [str(exc)]}
    return Operations(processes, reported, list(reported.get("problems", [])))
