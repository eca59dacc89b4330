"""``iotrack demo``: bring the system up, apply the topics, round-trip one event of each type.

This is the foundation's demonstration: every event contract goes through its catalogued topic
on the real broker and comes back equal. The port-day simulation replaces it as the tracking
core lands.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from streams import runtime
from streams.kafka_io import produce_sync, producer, read_at
from streams.settings import Settings
from topics import admin
from topics.catalog import topic_for_schema
from topics.codec import codec_for, plain
from topics.examples import example
from topics.schemas import repository


@dataclass(frozen=True)
class RoundTrip:
    """One event type's trip through its topic."""

    schema: str
    topic: str
    partition: int
    offset: int
    size: int
    equal: bool
    milliseconds: float


def round_trip_all(settings: Settings, bootstrap: str) -> list[RoundTrip]:
    """Produce one example of every event type to its topic, read it back, compare."""
    codec = codec_for(settings.schema_registry_url)
    schemas = repository()
    out = producer(bootstrap)
    results = []
    for name in schemas.event_names():
        topic = topic_for_schema(name)
        value = example(schemas.get(name))
        started = time.perf_counter()
        data = codec.encode(name, value, topic=topic.name)
        delivered = produce_sync(out, topic, topic.key_of(value), data)
        message = read_at(bootstrap, delivered)
        decoded = codec.decode(message.value() or b"", topic=topic.name)
        elapsed = (time.perf_counter() - started) * 1000
        equal = decoded.schema == name and plain(decoded.value) == plain(value)
        results.append(
            RoundTrip(
                name, topic.name, delivered.partition, delivered.offset, len(data), equal, elapsed
            )
        )
    return results


def run(settings: Settings, *, as_json: bool, keep_running: bool) -> int:
    """The whole demo; stops what it started unless ``keep_running``."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    kafka_was_up = settings.embedded_kafka and runtime.local_kafka(settings).running()
    postgres_was_up = settings.embedded_postgres and runtime.local_postgres(settings).running()
    try:
        found = runtime.up(settings)
        timings["up_s"] = round(time.monotonic() - started, 2)
        mark = time.monotonic()
        reports = admin.apply(admin.admin_client(found.bootstrap))
        timings["topics_s"] = round(time.monotonic() - mark, 2)
        mark = time.monotonic()
        trips = round_trip_all(settings, found.bootstrap)
        timings["round_trips_s"] = round(time.monotonic() - mark, 2)
    finally:
        if not keep_running:
            if settings.embedded_kafka and not kafka_was_up:
                runtime.local_kafka(settings).stop()
            if settings.embedded_postgres and not postgres_was_up:
                runtime.local_postgres(settings).stop()
    summary: dict[str, Any] = {
        "topics": {str(o): sum(r.outcome is o for r in reports) for o in admin.Outcome},
        "events": len(trips),
        "round_trips_equal": sum(t.equal for t in trips),
        "timings": timings,
        "left_running": keep_running,
    }
    if as_json:
        print(json.dumps({**summary, "round_trips": [t.__dict__ for t in trips]}, indent=2))
    else:
        width = max(len(t.schema) for t in trips)
        print(f"{'event type':<{width}}  {'topic':<38}  part  offset  bytes  equal     ms")
        for t in trips:
            print(
                f"{t.schema:<{width}}  {t.topic:<38}  {t.partition:>4}  {t.offset:>6}  "
                f"{t.size:>5}  {'yes' if t.equal else 'NO':>5}  {t.milliseconds:>5.1f}"
            )
        print(
            f"{summary['round_trips_equal']}/{len(trips)} event types came back equal; "
            f"topics {summary['topics']}; timings {timings}"
        )
        print(
            "left running: iotrack status, iotrack down"
            if keep_running
            else "everything the demo started is stopped again"
        )
    return 0 if summary["round_trips_equal"] == len(trips) else 1
