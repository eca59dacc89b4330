"""Metric names follow Prometheus conventions and never carry a unit or IOT_ID as a label."""

from __future__ import annotations

import json

from prometheus_client import generate_latest

from streams import metrics


def test_names_are_prefixed_counters_end_in_total_and_labels_are_closed_sets():
    text = generate_latest(metrics.REGISTRY).decode()
    families = [line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE")]
    assert families
    for name, kind in families:
        assert name.startswith("iotrack_"), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
    for collector in (metrics.EVENTS_IN, metrics.DEVIATIONS, metrics.CONSUMER_LAG):
        assert not set(collector._labelnames) & metrics.FORBIDDEN_LABELS


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
            }
        }
    }
    metrics.lag_from_statistics("test-group")(json.dumps(stats))
    value = metrics.REGISTRY.get_sample_value(
        "iotrack_consumer_lag_records", {"group": "test-group", "topic": "iotrack.passages.v1"}
    )
    assert value == 12
