"""The Grafana dashboards, as code (grafana-foundation-sdk, Grafana 11 target).

``python deploy/grafana/dashboards.py`` (``make dashboards``) writes one JSON file per dashboard
into ``deploy/grafana/dashboards/``; those files are committed, and a test regenerates them in
memory and compares, so the JSON never drifts from this module. Grafana loads them through
``deploy/grafana/provisioning/`` (a Prometheus data source with the fixed uid below, and a
file provider for the dashboards folder).

- **operations**: throughput in and out per processor, consumer lag per group, projection lag,
  end-to-end latency, core transaction and gate-check latency, dead letters by reason, errors,
  the readers' spools and OCR repair outcomes;
- **customs**: deviations by kind and node, holds open by agency and the oldest one's age,
  IOT_IDs by status, gate decisions by verdict.

Every query uses only Grafana's ``$__rate_interval`` and ``$__range``; the dashboard test
replaces them with a concrete range and asks a real Prometheus for each.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    prometheus,
    stat,
    timeseries,
)
from grafana_foundation_sdk.builders.dashboard import Row
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DATASOURCE_UID = "iotrack-prometheus"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
RATE = "$__rate_interval"
RANGE = "$__range"

Panel = timeseries.Panel | stat.Panel | bargauge.Panel


def _query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    return query.legend_format(legend) if legend else query


def _series(
    title: str, description: str, unit: str, *queries: prometheus.Dataquery, span: int = 12
) -> Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(span)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(common_models.LegendDisplayMode.LIST)
            .placement(common_models.LegendPlacement.BOTTOM)
        )
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _bars(title: str, description: str, unit: str, query: prometheus.Dataquery) -> Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(8)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .display_mode(common_models.BarGaugeDisplayMode.BASIC)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(query.instant())
    )


def _stat(title: str, description: str, unit: str, query: prometheus.Dataquery) -> Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(6)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(query)
    )


def _quantiles(metric: str, by: str = "") -> list[prometheus.Dataquery]:
    group = f"sum by (le{', ' + by if by else ''})"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [
        _query(
            f"histogram_quantile({q}, {group} (rate({metric}_bucket[{RATE}])))",
            f"{prefix}p{round(q * 100)}",
            ref,
        )
        for q, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
    ]


def _assemble(uid: str, title: str, description: str, tags: list[str], rows: Any) -> Any:
    builder = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(tags)
        .editable()
        .timezone("browser")
        .time("now-30m", "now")
        .refresh("10s")
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
    )
    number = 0
    for row_title, panels in rows:
        number += 1
        builder = builder.with_row(Row(row_title).id(number))
        for panel in panels:
            number += 1
            builder = builder.with_panel(panel.id(number))
    return builder.build()


def operations() -> Any:
    """Throughput, lag, latency, dead letters and errors of every iotrack process."""
    rows = [
        (
            "Throughput",
            [
                _series(
                    "Events in per processor",
                    "Records each processor took from its input (readers: device payloads).",
                    "ops",
                    _query(
                        f"sum by (processor) (rate(iotrack_events_in_total[{RATE}]))",
                        "{{processor}}",
                    ),
                ),
                _series(
                    "Events out per processor",
                    "Records each processor published (dead letters included).",
                    "ops",
                    _query(
                        f"sum by (processor) (rate(iotrack_events_out_total[{RATE}]))",
                        "{{processor}}",
                    ),
                ),
                _series(
                    "Events out by topic",
                    "Records published per topic, every processor together.",
                    "ops",
                    _query(f"sum by (topic) (rate(iotrack_events_out_total[{RATE}]))", "{{topic}}"),
                ),
                _series(
                    "Projection: records applied to Postgres",
                    "Records the Postgres projection applied, by topic.",
                    "ops",
                    _query(
                        f"sum by (topic) (rate(iotrack_projection_records_total[{RATE}]))",
                        "{{topic}}",
                    ),
                ),
            ],
        ),
        (
            "Lag and latency",
            [
                _series(
                    "Consumer lag per group",
                    "Records not yet consumed: the last stable offset minus the consumer's "
                    "position, from librdkafka statistics (every 5 s).",
                    "short",
                    _query("sum by (group) (iotrack_consumer_lag_records)", "{{group}}"),
                ),
                _series(
                    "Projection lag",
                    "How far the Postgres tables are behind the topics (0: caught up).",
                    "s",
                    _query("max(iotrack_projection_lag_seconds)", "projection"),
                ),
                _series(
                    "End-to-end latency: passage produced to verdict published",
                    "From the fusion worker producing a passage to the tracking core's "
                    "transaction with its state, verdicts and deviations committed.",
                    "s",
                    *_quantiles("iotrack_end_to_end_latency_seconds"),
                ),
                _series(
                    "Tracking core: transaction commit time",
                    "Time to commit one batch's Kafka transaction (offsets and outputs).",
                    "s",
                    *_quantiles("iotrack_core_transaction_seconds"),
                ),
                _series(
                    "Gate check latency",
                    "Time to answer 'may this unit leave?' from the in-memory verdicts.",
                    "s",
                    *_quantiles("iotrack_gate_check_seconds"),
                ),
                _series(
                    "Readers: records waiting in the spool",
                    "Raw reads and dead letters spooled by the readers, not yet on the broker "
                    "(grows while the broker is unreachable).",
                    "short",
                    _query("sum by (kind) (iotrack_reader_spooled_records)", "{{kind}}"),
                ),
            ],
        ),
        (
            "Dead letters and errors",
            [
                _series(
                    "Dead letters by reason",
                    "Inputs sent to the dead-letter topic, by processor and kind of error.",
                    "ops",
                    _query(
                        f"sum by (processor, reason) (rate(iotrack_dead_letters_total[{RATE}]))",
                        "{{processor}} {{reason}}",
                    ),
                ),
                _series(
                    "Errors",
                    "Consumer errors a processor went on from, batches it aborted.",
                    "ops",
                    _query(
                        f"sum by (processor, kind) (rate(iotrack_errors_total[{RATE}]))",
                        "{{processor}} {{kind}}",
                    ),
                ),
                _bars(
                    "Dead letters in the time range",
                    "Dead letters by processor and reason over the dashboard's time range.",
                    "short",
                    _query(
                        "sum by (processor, reason) "
                        f"(increase(iotrack_dead_letters_total[{RANGE}]))",
                        "{{processor}} {{reason}}",
                    ),
                ),
                _bars(
                    "OCR repair outcomes in the time range",
                    "OCR reads of checked identifiers by what the check-digit repair made of them.",
                    "short",
                    _query(
                        f"sum by (outcome) (increase(iotrack_ocr_repairs_total[{RANGE}]))",
                        "{{outcome}}",
                    ),
                ),
                _bars(
                    "Reader payloads in the time range",
                    "Device payloads the readers answered for: accepted or dead-lettered.",
                    "short",
                    _query(
                        "sum by (kind, outcome) "
                        f"(increase(iotrack_reader_payloads_total[{RANGE}]))",
                        "{{kind}} {{outcome}}",
                    ),
                ),
            ],
        ),
    ]
    return _assemble(
        "iotrack-operations",
        "iotrack: operations",
        "Throughput, lag, latency, dead letters and errors of the iotrack processes.",
        ["iotrack", "operations"],
        rows,
    )


def customs() -> Any:
    """What Customs watches: deviations, holds, IOT_IDs by status, gate decisions."""
    rows = [
        (
            "Deviations",
            [
                _bars(
                    "Deviations by kind in the time range",
                    "Deviations raised for Customs over the dashboard's time range.",
                    "short",
                    _query(
                        f"sum by (kind) (increase(iotrack_deviations_total[{RANGE}]))", "{{kind}}"
                    ),
                ),
                _bars(
                    "Deviations by node in the time range",
                    "Deviations by the logistic node they were raised at (none: not at a node, "
                    "e.g. an overdue leg or a binding conflict).",
                    "short",
                    _query(
                        f"sum by (node) (increase(iotrack_deviations_total[{RANGE}]))", "{{node}}"
                    ),
                ),
                _bars(
                    "Deviations by kind and node in the time range",
                    "Which kind of deviation happens where.",
                    "short",
                    _query(
                        f"sum by (kind, node) (increase(iotrack_deviations_total[{RANGE}]))",
                        "{{kind}} at {{node}}",
                    ),
                ),
                _series(
                    "Deviations over time by kind",
                    "Deviations raised per second, by kind.",
                    "ops",
                    _query(f"sum by (kind) (rate(iotrack_deviations_total[{RATE}]))", "{{kind}}"),
                    span=24,
                ),
            ],
        ),
        (
            "Holds and IOT_IDs",
            [
                _stat(
                    "Holds open",
                    "Holds open now, every agency.",
                    "short",
                    _query("sum(iotrack_holds_open)", "open holds"),
                ),
                _stat(
                    "Oldest open hold",
                    "Age of the oldest hold still open, in event time.",
                    "s",
                    _query("max(iotrack_hold_oldest_age_seconds)", "oldest"),
                ),
                _stat(
                    "IOT_IDs tracked",
                    "IOT_IDs the tracking core holds (retired ones excluded).",
                    "short",
                    _query("sum(iotrack_iot_ids)", "IOT_IDs"),
                ),
                _stat(
                    "Gate checks refused in the time range",
                    "Gate checks whose answer was 'may not leave'.",
                    "short",
                    _query(
                        "sum(increase(iotrack_gate_decisions_total"
                        f'{{verdict!="CLEARED"}}[{RANGE}]))',
                        "refused",
                    ),
                ),
                _series(
                    "Holds open by agency",
                    "Holds open on tracked IOT_IDs, by the agency that placed them.",
                    "short",
                    _query("sum by (agency) (iotrack_holds_open)", "{{agency}}"),
                ),
                _series(
                    "Oldest open hold by agency",
                    "Age of each agency's oldest open hold, in event time.",
                    "s",
                    _query("max by (agency) (iotrack_hold_oldest_age_seconds)", "{{agency}}"),
                ),
                _bars(
                    "IOT_IDs by status",
                    "IOT_IDs the tracking core holds now, by status.",
                    "short",
                    _query("sum by (status) (iotrack_iot_ids)", "{{status}}"),
                ),
                _series(
                    "IOT_IDs by status over time",
                    "IOT_IDs by status.",
                    "short",
                    _query("sum by (status) (iotrack_iot_ids)", "{{status}}"),
                    span=16,
                ),
            ],
        ),
        (
            "Gate",
            [
                _bars(
                    "Gate decisions by verdict in the time range",
                    "Answers to 'may this unit leave?' (UNKNOWN: no IOT_ID bound to the unit).",
                    "short",
                    _query(
                        f"sum by (verdict) (increase(iotrack_gate_decisions_total[{RANGE}]))",
                        "{{verdict}}",
                    ),
                ),
                _series(
                    "Gate decisions over time",
                    "Gate checks answered per second, by verdict.",
                    "ops",
                    _query(
                        f"sum by (verdict) (rate(iotrack_gate_decisions_total[{RATE}]))",
                        "{{verdict}}",
                    ),
                    span=16,
                ),
            ],
        ),
    ]
    return _assemble(
        "iotrack-customs",
        "iotrack: Customs",
        "Deviations by kind and node, holds open and their age, IOT_IDs by status, gate decisions.",
        ["iotrack", "customs"],
        rows,
    )


DASHBOARDS = {"operations": operations, "customs": customs}


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard, as written to ``dashboards/``."""
    return {
        f"{name}.json": json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def queries(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every target of every panel of a dashboard's JSON."""
    for panel in document.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                if target.get("expr"):
                    yield str(inner.get("title")), str(target["expr"])


def main(argv: list[str]) -> int:
    """Write every dashboard into ``dashboards/`` (``--check``: compare, write nothing)."""
    drift = []
    for name, text in rendered().items():
        path = OUT / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                drift.append(name)
            continue
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent.parent)}")
    if drift:
        print(f"out of date: {', '.join(drift)}; run 'make dashboards'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
