"""Prometheus metrics of every long-running iotrack process, declared once here.

Names follow Prometheus conventions: the ``iotrack_`` prefix, base units (seconds), ``_total`` on
counters. Labels are small closed sets (processor, record type, topic, outcome, kind, reason,
group); never a unit, a plate or an IOT_ID, whose number grows without bound.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from readers.fusion_worker import FusionWorker
from readers.service import ReaderService
from streams.errors import StreamsError

REGISTRY = CollectorRegistry(auto_describe=True)
FORBIDDEN_LABELS = frozenset({"iot_id", "container", "plate", "itu", "mrn", "seal", "unit"})

EVENTS_IN = Counter(
    "iotrack_events_in_total",
    "Records a processor took from its input, by record type.",
    ["processor", "record_type"],
    registry=REGISTRY,
)
EVENTS_OUT = Counter(
    "iotrack_events_out_total",
    "Records a processor published, by topic.",
    ["processor", "topic"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "iotrack_dead_letters_total",
    "Inputs sent to the dead-letter topic, by kind of error.",
    ["processor", "reason"],
    registry=REGISTRY,
)
DEVIATIONS = Counter(
    "iotrack_deviations_total",
    "Deviations raised for Customs, by kind.",
    ["kind"],
    registry=REGISTRY,
)
END_TO_END = Histogram(
    "iotrack_end_to_end_latency_seconds",
    "From a passage produced to the tracking core's outputs for it committed.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
TRANSACTION = Histogram(
    "iotrack_core_transaction_seconds",
    "Time to commit one batch's Kafka transaction.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "iotrack_consumer_lag_records",
    "Records not yet consumed, per consumer group and topic (from librdkafka statistics).",
    ["group", "topic"],
    registry=REGISTRY,
)
PROJECTION_APPLIED = Counter(
    "iotrack_projection_records_total",
    "Records the Postgres projection applied, by topic.",
    ["topic"],
    registry=REGISTRY,
)
GATE_CHECK = Histogram(
    "iotrack_gate_check_seconds",
    "Time to answer one gate check.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
    registry=REGISTRY,
)

_served: set[int] = set()
_lock = threading.Lock()


def serve(port: int, address: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``address:port`` (once per process and port)."""
    with _lock:
        if port in _served:
            return
        try:
            start_http_server(port, addr=address, registry=REGISTRY)
        except OSError as exc:
            raise StreamsError(
                f"cannot serve metrics on {address}:{port} ({exc.strerror}): choose another "
                "port with --metrics-port, or 0 to serve none"
            ) from exc
        _served.add(port)


def lag_from_statistics(group: str) -> Callable[[str], None]:
    """A librdkafka ``stats_cb`` that records the consumer lag of each topic of ``group``."""

    def record(raw: str) -> None:
        try:
            stats: dict[str, Any] = json.loads(raw)
        except ValueError:
            return
        for topic, data in (stats.get("topics") or {}).items():
            lag = 0
            for partition, numbers in (data.get("partitions") or {}).items():
                if partition == "-1":
                    continue
                value = numbers.get("consumer_lag", -1)
                if isinstance(value, int) and value > 0:
                    lag += value
            CONSUMER_LAG.labels(group, topic).set(lag)

    return record


class ReaderCollector(Collector):
    """Metrics of the edge, read from the readers' own counters at scrape time (the readers
    package does not know Prometheus)."""

    def __init__(self) -> None:
        self.readers: list[ReaderService] = []
        self.fusions: list[FusionWorker] = []

    def collect(self) -> Any:
        payloads = CounterMetricFamily(
            "iotrack_reader_payloads",
            "Device payloads a reader answered for, by outcome.",
            labels=["kind", "outcome"],
        )
        spooled = GaugeMetricFamily(
            "iotrack_reader_spooled_records",
            "Records waiting in a reader's spool.",
            labels=["kind"],
        )
        for service in self.readers:
            rejected = service.stats.dead_letters
            payloads.add_metric([service.kind, "accepted"], service.stats.payloads - rejected)
            payloads.add_metric([service.kind, "dead_lettered"], rejected)
            spooled.add_metric([service.kind], len(service.spool))
        repairs = CounterMetricFamily(
            "iotrack_ocr_repairs",
            "OCR reads of checked identifiers by repair outcome.",
            labels=["outcome"],
        )
        fused = CounterMetricFamily(
            "iotrack_fusion_records",
            "Raw reads fused and passages published.",
            labels=["direction"],
        )
        for worker in self.fusions:
            for outcome, count in sorted(worker.stats.repairs.items()):
                repairs.add_metric([outcome], count)
            fused.add_metric(["reads_in"], worker.stats.reads)
            fused.add_metric(["passages_out"], worker.stats.passages)
        yield from (payloads, spooled, repairs, fused)


EDGE = ReaderCollector()
REGISTRY.register(EDGE)
