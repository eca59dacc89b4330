"""The committed Grafana dashboards are exactly what the generator writes, and query only
metrics iotrack exports, through the provisioned data source."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.ops import metrics

CHECKOUT = Path(__file__).resolve().parents[2]
GRAFANA = CHECKOUT / "deploy" / "grafana"


class _Spool(list):
    """A reader's spool as the metrics read it."""

    def oldest_age_s(self) -> float:
        return 3.0 if self else 0.0

    def quarantined_count(self) -> int:
        return 0


def generator() -> ModuleType:
    """deploy/grafana/dashboards.py, loaded by path (deploy/ is no package)."""
    name = "iotrack_grafana_dashboards"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, GRAFANA / "dashboards.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def committed() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in (GRAFANA / "dashboards").glob("*.json")}


def test_the_committed_json_is_what_the_generator_writes():
    rendered = generator().rendered()
    assert set(rendered) == {"operations.json", "customs.json"}
    assert committed() == rendered, "the dashboards changed: run 'make dashboards' and commit"


def test_every_panel_queries_the_provisioned_prometheus_for_exported_metrics():
    uid = generator().DATASOURCE_UID
    assert f"uid: {uid}" in (GRAFANA / "provisioning" / "datasources" / "iotrack.yaml").read_text()
    assert "type: file" in (GRAFANA / "provisioning" / "dashboards" / "iotrack.yaml").read_text()
    reader = SimpleNamespace(
        kind="ocr", stats=SimpleNamespace(payloads=1, reads=1, dead_letters=0), spool=_Spool()
    )
    fusion = SimpleNamespace(
        stats=SimpleNamespace(
            reads=1, passages=1, dead_letters=0, repairs={}, dead_letter_reasons={}, errors=0
        )
    )
    metrics.EDGE.readers.append(reader)
    metrics.EDGE.fusions.append(fusion)
    try:
        text = generate_latest(metrics.REGISTRY).decode()
    finally:
        metrics.EDGE.clear()
    exported = set()
    for family in text_string_to_metric_families(text):
        exported |= {sample.name for sample in family.samples}
        exported |= {family.name, f"{family.name}_bucket", f"{family.name}_total"}
    titles = set()
    for name, text in committed().items():
        document = json.loads(text)
        panels = [p for p in document["panels"] if p["type"] != "row"]
        assert len(panels) >= 8, name
        for panel in panels:
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            assert panel["title"] not in titles, f"two panels titled {panel['title']}"
            titles.add(panel["title"])
        for title, expr in generator().queries(document):
            used = set(re.findall(r"\biotrack_[a-z0-9_]+", expr))
            assert used, f"{title}: {expr}"
            assert used <= exported, f"{title}: {sorted(used - exported)} is not exported"
