"""Prometheus metrics of every long-running iotrack process, declared once here.

Names follow Prometheus conventions: the ``iotrack_`` prefix, base units (seconds), ``_total`` on
counters. Labels are small closed sets (processor, record type, topic, outcome, kind, reason,
group, logistic node, status, agency, verdict); never a unit, a plate, an MRN or an IOT_ID,
whose number grows without bound (``tests/streams/test_metrics.py`` walks the registry).
"""

from __future__ import annotations

import json
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from readers.fusion_worker import FusionWorker
from readers.service import ReaderService
from streams.errors import StreamsError
from topics.catalog import DEAD_LETTERS as DEAD_LETTERS_TOPIC
from topics.catalog import PASSAGES, RAW_READS

REGISTRY = CollectorRegistry(auto_describe=True)
FORBIDDEN_LABELS = frozenset({"iot_id", "container", "plate", "itu", "mrn", "seal", "unit"})

# Processors in this package count into these; the edge (readers, fusion) keeps plain counters
# that EDGE adds to the same families at scrape time, so each name is one family per process.
EVENTS_IN = Counter(
    "iotrack_events_in_total",
    "Records a processor took from its input, by record type.",
    ["processor", "record_type"],
    registry=None,
)
EVENTS_OUT = Counter(
    "iotrack_events_out_total",
    "Records a processor published, by topic.",
    ["processor", "topic"],
    registry=None,
)
DEAD_LETTERS = Counter(
    "iotrack_dead_letters_total",
    "Inputs sent to the dead-letter topic, by kind of error.",
    ["processor", "reason"],
    registry=None,
)
RECORDS_SKIPPED = Counter(
    "iotrack_records_skipped_total",
    "Records a read-side consumer of public state could not use (undecodable, not of the "
    "topic's type) and went past, by kind of error; each is logged with its topic, partition "
    "and offset, and the projection dead-letters the same record.",
    ["processor", "reason"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "iotrack_errors_total",
    "Errors a processor met: consumer errors it went on from, batches it aborted.",
    ["processor", "kind"],
    registry=None,
)
DEVIATIONS = Counter(
    "iotrack_deviations_total",
    "Deviations raised for Customs, by kind and logistic node (none: not at a node; other: "
    "a node on no known mission path).",
    ["kind", "node"],
    registry=REGISTRY,
)
IOT_IDS = Gauge(
    "iotrack_iot_ids",
    "IOT_IDs the tracking core holds, by status.",
    ["status"],
    registry=REGISTRY,
)
HOLDS_OPEN = Gauge(
    "iotrack_holds_open",
    "Holds open on the IOT_IDs the tracking core holds, by agency.",
    ["agency"],
    registry=REGISTRY,
)
HOLD_OLDEST_AGE = Gauge(
    "iotrack_hold_oldest_age_seconds",
    "Age of the oldest open hold, by agency, in event time (the core's newest event time "
    "minus the time the hold was placed).",
    ["agency"],
    registry=REGISTRY,
)
WAITING_INPUTS = Gauge(
    "iotrack_core_waiting_inputs",
    "Inputs the tracking core keeps until what they refer to appears (an IOT_ID's binding, a "
    "mission path), and passages of units with no IOT_ID kept for a late binding.",
    ["waiting_for"],
    registry=REGISTRY,
)
WAITING_OLDEST_AGE = Gauge(
    "iotrack_core_waiting_oldest_age_seconds",
    "Age of the oldest input the tracking core keeps waiting, in event time (the core's newest "
    "event time minus the input's own).",
    ["waiting_for"],
    registry=REGISTRY,
)
END_TO_END = Histogram(
    "iotrack_end_to_end_latency_seconds",
    "From a passage produced to the tracking core's outputs for it (state, verdicts, "
    "deviations) committed.",
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
PROJECTION_LAG = Gauge(
    "iotrack_projection_lag_seconds",
    "How far the Postgres tables are behind the topics: now minus the broker timestamp of the "
    "newest record of the last batch committed; 0 once the projection has caught up.",
    registry=REGISTRY,
)
GATE_DECISIONS = Counter(
    "iotrack_gate_decisions_total",
    "Gate checks answered, by verdict (UNKNOWN: no IOT_ID bound to the unit).",
    ["verdict"],
    registry=REGISTRY,
)
GATE_CHECK = Histogram(
    "iotrack_gate_check_seconds",
    "Time to decide one gate check: in iotrack api the in-memory verdict lookup only "
    "(GateState.check, no parsing, HTTP or JSON); in iotrack gate-check the database "
    "connection and query. The whole API request: iotrack_api_gate_check_request_seconds.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
    registry=REGISTRY,
)
API_GATE_CHECK = Histogram(
    "iotrack_api_gate_check_request_seconds",
    "Time iotrack api takes to answer GET /gate-check once the request is read and "
    "authenticated: its parameters checked and the decision with holds and pending MRNs "
    "assembled (not the JSON encoding or the network).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
    registry=REGISTRY,
)
API_CONNECTIONS_REFUSED = Counter(
    "iotrack_api_connections_refused_total",
    "Client connections iotrack api answered 503 and closed because it already served its "
    "maximum number of connections.",
    registry=REGISTRY,
)
API_CONNECTIONS_EVICTED = Counter(
    "iotrack_api_connections_evicted_total",
    "Client connections iotrack api closed, at its maximum, to make room for a new one: the "
    "connection that had waited longest for its request (idle, or sending it slowly).",
    registry=REGISTRY,
)

API_STREAMS_OPEN = Gauge(
    "iotrack_api_streams_open",
    "Event streams (subscription streams, the web console's live pages) iotrack api holds open; "
    "beyond 32 (8 per token) a new one is answered 503.",
    registry=REGISTRY,
)

SUBSCRIPTION_QUEUED = Counter(
    "iotrack_subscription_events_total",
    "Events the delivery worker queued for subscriptions (one per matching subscription), "
    "by topic.",
    ["topic"],
    registry=REGISTRY,
)
SUBSCRIPTION_DELIVERIES = Counter(
    "iotrack_subscription_deliveries_total",
    "Webhook requests by outcome (delivered: a 2xx; failed: anything else; suspended: the "
    "failure that suspended a subscription).",
    ["outcome"],
    registry=REGISTRY,
)
SUBSCRIPTION_PRUNED = Counter(
    "iotrack_subscription_pruned_total",
    "Rows the delivery worker deleted past the retention: queued notifications (delivered, or "
    "only streamed) and delivery log entries, by table.",
    ["table"],
    registry=REGISTRY,
)
SUBSCRIPTION_NOTIFICATIONS = Counter(
    "iotrack_subscription_notifications_delivered_total",
    "Notifications delivered by webhooks (acknowledged with a 2xx).",
    registry=REGISTRY,
)
SUBSCRIPTION_DELIVERY = Histogram(
    "iotrack_subscription_delivery_seconds",
    "Time of one webhook request, from sending to the receiver's answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=REGISTRY,
)
SUBSCRIPTION_PENDING = Gauge(
    "iotrack_subscription_pending_records",
    "Notifications queued for a webhook subscription and not yet delivered, by subscription "
    "id (a subscription, never a unit).",
    ["subscription"],
    registry=REGISTRY,
)
SUBSCRIPTION_LAG = Gauge(
    "iotrack_subscription_lag_seconds",
    "How far the delivery worker is behind the topics: now minus the broker timestamp of the "
    "newest record of its last batch; 0 once caught up.",
    registry=REGISTRY,
)


class ReadinessCollector(Collector):
    """``iotrack_ready{process,check}`` and ``iotrack_alive{process}``, evaluated at scrape
    time from the checks of the processes served here (streams.ops.readiness)."""

    def __init__(self) -> None:
        self._processes: list[Any] = []
        self._lock = threading.Lock()

    def add(self, readiness: Any) -> None:
        with self._lock:
            if readiness not in self._processes:
                self._processes.append(readiness)

    def remove(self, readiness: Any) -> None:
        with self._lock:
            if readiness in self._processes:
                self._processes.remove(readiness)

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "iotrack_ready",
            "1 while a check of a process's readiness holds, 0 while it fails (its reason on "
            "the process's /ready and in iotrack status).",
            labels=["process", "check"],
        )
        alive = GaugeMetricFamily(
            "iotrack_alive",
            "1 while a process's essential threads run, 0 once one died.",
            labels=["process"],
        )
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            found = process.checks()
            for check in found:
                ready.add_metric([process.kind, check.name], 1.0 if check.ok else 0.0)
            living = process.liveness()
            alive.add_metric([process.kind], 1.0 if all(c.ok for c in living) else 0.0)
        yield ready
        yield alive


READINESS = ReadinessCollector()
REGISTRY.register(READINESS)

_served: set[int] = set()
_lock = threading.Lock()


def serve(port: int, address: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``address:port`` (once per process and port; 0: serve none)."""
    with _lock:
        if not port or port in _served:
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
    """A librdkafka ``stats_cb`` that records the consumer lag of each topic of ``group``.

    Per partition: the end of the log a consumer may read (the last stable offset, which is the
    high watermark unless transactions are open) minus the consumer's position, so it holds
    whether offsets are committed to the group, in a transaction, or kept elsewhere (the
    projection keeps them in Postgres); librdkafka's own ``consumer_lag`` (end minus the
    committed offset) when the position is not known yet.
    """

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
                end = numbers.get("ls_offset", -1)
                if not isinstance(end, int) or end < 0:
                    end = numbers.get("hi_offset", -1)
                position = numbers.get("app_offset", -1)
                if isinstance(end, int) and isinstance(position, int) and min(end, position) >= 0:
                    lag += max(0, end - position)
                    continue
                value = numbers.get("consumer_lag", -1)
                if isinstance(value, int) and value > 0:
                    lag += value
            CONSUMER_LAG.labels(group, topic).set(lag)

    return record


REPAIR_OUTCOMES = ("VALID", "REPAIRED", "AMBIGUOUS", "INVALID")


def _merged(
    counter: Counter, labels: Sequence[str], edge: Tally[tuple[str, ...]]
) -> CounterMetricFamily:
    """``counter``'s samples and the edge's, as one family (summed where both have a series)."""
    values: dict[tuple[str, ...], float] = dict(edge)
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                key = tuple(sample.labels[name] for name in labels)
                values[key] = values.get(key, 0) + sample.value
    [metric] = counter.collect()
    family = CounterMetricFamily(metric.name, metric.documentation, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


class ReaderCollector(Collector):
    """Metrics of the edge, read from the readers' and fusion workers' own counters at scrape
    time (the readers package does not know Prometheus), merged with the processors' counters
    of the same names: one family per name, samples summed over the readers of one kind."""

    def __init__(self) -> None:
        self.readers: list[ReaderService] = []
        self.fusions: list[FusionWorker] = []

    def clear(self) -> None:
        """Forget every reader and worker (before their clients and spools are closed)."""
        self.readers.clear()
        self.fusions.clear()

    def collect(self) -> Iterator[Metric]:
        events_in: Tally[tuple[str, ...]] = Tally()
        events_out: Tally[tuple[str, ...]] = Tally()
        letters: Tally[tuple[str, ...]] = Tally()
        errors: Tally[tuple[str, ...]] = Tally()
        payloads: Tally[tuple[str, ...]] = Tally()
        spooled: Tally[tuple[str, ...]] = Tally()
        oldest: dict[tuple[str, ...], float] = {}
        quarantined: Tally[tuple[str, ...]] = Tally()
        repairs: Tally[tuple[str, ...]] = Tally()
        fused: Tally[tuple[str, ...]] = Tally()
        for service in list(self.readers):
            stats, rejected = service.stats, service.stats.dead_letters
            payloads[(service.kind, "accepted")] += stats.payloads - rejected
            payloads[(service.kind, "dead_lettered")] += rejected
            spooled[(service.kind,)] += len(service.spool)
            age = service.spool.oldest_age_s()
            oldest[(service.kind,)] = max(oldest.get((service.kind,), 0.0), age)
            quarantined[(service.kind,)] += service.spool.quarantined_count()
            events_in[("reader", "device_payload")] += stats.payloads
            events_out[("reader", RAW_READS.name)] += stats.reads
            events_out[("reader", DEAD_LETTERS_TOPIC.name)] += rejected
            letters[("reader", "PayloadError")] += rejected
        for worker in list(self.fusions):
            stats_ = worker.stats
            repairs.update({(outcome,): 0 for outcome in REPAIR_OUTCOMES})
            repairs.update({(o,): n for o, n in stats_.repairs.items()})
            fused[("reads_in",)] += stats_.reads
            fused[("passages_out",)] += stats_.passages
            events_in[("fusion", "iotrack.RawRead")] += stats_.reads
            events_out[("fusion", PASSAGES.name)] += stats_.passages
            events_out[("fusion", DEAD_LETTERS_TOPIC.name)] += stats_.dead_letters
            letters.update({("fusion", k): n for k, n in stats_.dead_letter_reasons.items()})
            errors[("fusion", "consumer")] += stats_.errors
        yield _merged(EVENTS_IN, ("processor", "record_type"), events_in)
        yield _merged(EVENTS_OUT, ("processor", "topic"), events_out)
        yield _merged(DEAD_LETTERS, ("processor", "reason"), letters)
        yield _merged(ERRORS, ("processor", "kind"), errors)
        families: tuple[tuple[Any, Any], ...] = (
            (
                CounterMetricFamily(
                    "iotrack_reader_payloads",
                    "Device payloads a reader answered for, by outcome.",
                    labels=["kind", "outcome"],
                ),
                payloads,
            ),
            (
                GaugeMetricFamily(
                    "iotrack_reader_spooled_records",
                    "Records waiting in a reader's spool.",
                    labels=["kind"],
                ),
                spooled,
            ),
            (
                GaugeMetricFamily(
                    "iotrack_reader_spool_oldest_age_seconds",
                    "How long the oldest record in a reader's spool has waited for the broker "
                    "(0: the spool is empty).",
                    labels=["kind"],
                ),
                oldest,
            ),
            (
                GaugeMetricFamily(
                    "iotrack_reader_quarantined_records",
                    "Records a reader moved aside because the broker refused them for good "
                    "('iotrack reader quarantine list').",
                    labels=["kind"],
                ),
                quarantined,
            ),
            (
                CounterMetricFamily(
                    "iotrack_ocr_repairs",
                    "OCR reads of checked identifiers by repair outcome.",
                    labels=["outcome"],
                ),
                repairs,
            ),
            (
                CounterMetricFamily(
                    "iotrack_fusion_records",
                    "Raw reads fused and passages published.",
                    labels=["direction"],
                ),
                fused,
            ),
        )
        for family, values in families:
            for key, value in sorted(values.items()):
                family.add_metric(list(key), value)
            yield family


EDGE = ReaderCollector()
REGISTRY.register(EDGE)
