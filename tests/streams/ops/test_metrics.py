"""Metric names follow Prometheus conventions and never carry a unit or IOT_ID as a label."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from streams.ops import metrics

NAME = re.compile(r"^iotrack_[a-z][a-z0-9_]*$")
BASE_UNITS = ("_seconds", "_bytes", "_records", "_ratio")
NOT_BASE_UNITS = ("_ms", "_milliseconds", "_minutes", "_hours", "_days", "_kb", "_mb")
UNIT_LABELS = {"iot_id", "container", "plate", "itu", "mrn"}


class _Spool(list):
    """A reader's spool as the metrics read it."""

    def oldest_age_s(self) -> float:
        return 3.0 if self else 0.0

    def quarantined_count(self) -> int:
        return 0


def _declared() -> list[MetricWrapperBase]:
    return [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]


def _fake_edge() -> tuple[SimpleNamespace, SimpleNamespace]:
    reader = SimpleNamespace(
        kind="ocr", stats=SimpleNamespace(payloads=5, reads=4, dead_letters=1), spool=_Spool([1, 2])
    )
    fusion = SimpleNamespace(
        stats=SimpleNamespace(
            reads=4,
            passages=2,
            dead_letters=1,
            repairs={"REPAIRED": 1, "VALID": 3},
            dead_letter_reasons={"SchemaError": 1},
            errors=0,
        )
    )
    return reader, fusion


def test_every_metric_is_named_by_convention_and_no_label_names_a_unit():
    reader, fusion = _fake_edge()
    metrics.EDGE.readers.append(reader)
    metrics.EDGE.fusions.append(fusion)
    try:
        text = generate_latest(metrics.REGISTRY).decode()
    finally:
        metrics.EDGE.clear()
    families = list(text_string_to_metric_families(text))
    names = [f.name for f in families]
    assert len(names) == len(set(names)), "one family per name"
    declared = _declared()
    assert len(declared) >= 14
    assert {d._name for d in declared} <= set(names), "every declared metric is exported"
    for family in families:
        exported = family.name + ("_total" if family.type == "counter" else "")
        assert NAME.match(exported), exported
        assert not exported.endswith(NOT_BASE_UNITS), f"{exported}: use a base unit"
        if family.type == "counter":
            assert exported.endswith("_total"), exported
        else:
            assert not exported.endswith("_total"), f"{exported}: only counters end in _total"
        if family.type == "histogram":
            assert exported.endswith(BASE_UNITS), f"{exported}: a histogram names its unit"
        assert family.documentation.strip(), f"{exported} has no help text"
        for sample in family.samples:
            assert not set(sample.labels) & UNIT_LABELS, (exported, sample.labels)
            assert not set(sample.labels) & metrics.FORBIDDEN_LABELS, (exported, sample.labels)
    for metric in declared:
        labels = set(metric._labelnames)
        assert not labels & UNIT_LABELS, (metric._name, labels)
        assert not labels & metrics.FORBIDDEN_LABELS, (metric._name, labels)
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", label) for label in labels)


def test_the_edge_counts_join_the_processors_families_summed_per_label_set():
    reader, fusion = _fake_edge()
    metrics.EDGE.readers.extend([reader, reader])  # two readers of one kind: one series
    metrics.EDGE.fusions.append(fusion)
    try:
        sample = metrics.REGISTRY.get_sample_value
        assert (
            sample(
                "iotrack_events_in_total", {"processor": "reader", "record_type": "device_payload"}
            )
            == 10
        )
        assert (
            sample("iotrack_reader_payloads_total", {"kind": "ocr", "outcome": "dead_lettered"})
            == 2
        )
        assert (
            sample(
                "iotrack_events_out_total", {"processor": "fusion", "topic": "iotrack.passages.v1"}
            )
            == 2
        )
        assert (
            sample("iotrack_dead_letters_total", {"processor": "fusion", "reason": "SchemaError"})
            == 1
        )
        assert sample("iotrack_ocr_repairs_total", {"outcome": "AMBIGUOUS"}) == 0
        assert sample("iotrack_errors_total", {"processor": "fusion", "kind": "consumer"}) == 0
    finally:
        metrics.EDGE.clear()


def test_consumer_lag_is_summed_per_topic_from_librdkafka_statistics():
    stats = {
        "topics": {
            "iotrack.passages.v1": {
                "partitions": {
                    "0": {"consumer_lag": 5},
                    "1": {"consumer_lag": 7},
                    "2": {"consumer_lag": -1},
                    "-1": {"consumer_lag": 99},
                }
            },
            # Offsets not committed to the group (a transaction, or kept in Postgres): the
            # consumer's position against the last stable offset.
            "iotrack.iot-state.v1": {
                "partitions": {
                    "0": {"consumer_lag": -1, "app_offset": 90, "ls_offset": 100, "hi_offset": 101},
                    "1": {"consumer_lag": 50, "app_offset": 40, "ls_offset": 40, "hi_offset": 40},
                }
            },
        }
    }
    metrics.lag_from_statistics("test-group")(json.dumps(stats))
    value = metrics.REGISTRY.get_sample_value
    assert (
        value(
            "iotrack_consumer_lag_records", {"group": "test-group", "topic": "iotrack.passages.v1"}
        )
        == 12
    )
    assert (
        value(
            "iotrack_consumer_lag_records", {"group": "test-group", "topic": "iotrack.iot-state.v1"}
        )
        == 10
    )
