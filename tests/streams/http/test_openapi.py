"""The hand-written OpenAPI document describes every route the API answers, and holds together."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from streams.http import params
from streams.http.api import find_route
from streams.http.openapi import document
from topics.schemas import AVRO_DIR

SPEC = document()
PATH_PARAMETER = re.compile(r"\{([a-z_]+)\}")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_it_is_an_openapi_3_1_document_in_json():
    assert SPEC["openapi"] == "3.1.0"
    assert json.loads(json.dumps(SPEC)) == SPEC
    assert {"title", "version"} <= set(SPEC["info"])


def test_every_reference_resolves():
    for ref in _refs(SPEC):
        node: Any = SPEC
        assert ref.startswith("#/")
        for step in ref[2:].split("/"):
            assert step in node, ref
            node = node[step]


@pytest.mark.parametrize("path", sorted(SPEC["paths"]))
def test_every_described_path_is_served(path):
    concrete = PATH_PARAMETER.sub("x", path)
    assert concrete in ("/health", "/openapi.json", "/metrics") or find_route(concrete) is not None
    operation = SPEC["paths"][path]["get"]
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    assert declared == set(PATH_PARAMETER.findall(path))
    assert "200" in operation["responses"]
    if operation.get("security", SPEC["security"]):
        assert {"401", "403"} <= set(operation["responses"])


@pytest.mark.parametrize(
    "path", ["/iot/x/timeline", "/lookup", "/deviations", "/trains/x", "/gate-check"]
)
def test_every_served_route_is_described(path):
    assert find_route(path) is not None
    described = {PATH_PARAMETER.sub("x", p) for p in SPEC["paths"]}
    assert path in described


def test_the_query_parameters_the_handlers_read_are_described():
    source = json.dumps(SPEC["paths"])
    for name in ("kind", "value", "country", "since", "node", "limit", "after", "container"):
        assert f'"name": "{name}"' in source
    assert set(params.LOOKUP_KINDS) == set(
        next(p for p in SPEC["paths"]["/lookup"]["get"]["parameters"] if p["name"] == "kind")[
            "schema"
        ]["enum"]
    )


def test_the_security_scheme_is_bearer():
    assert SPEC["components"]["securitySchemes"]["bearer"] == {
        **SPEC["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    unauthorized = SPEC["components"]["responses"]["Unauthorized"]
    assert "WWW-Authenticate" in unauthorized["headers"]


def test_other_methods_and_the_deviation_kinds_are_described():
    for path, item in SPEC["paths"].items():
        responses = item["get"]["responses"]
        if item["get"].get("security", SPEC["security"]):
            assert {"405", "501"} <= set(responses), path
    assert {"MethodNotAllowed", "NotImplemented"} <= set(SPEC["components"]["responses"])
    symbols = json.loads((AVRO_DIR / "iotrack.DeviationKind.avsc").read_text())["symbols"]
    kind = next(p for p in SPEC["paths"]["/deviations"]["get"]["parameters"] if p["name"] == "kind")
    assert kind["schema"]["enum"] == symbols
    assert SPEC["components"]["schemas"]["Deviation"]["properties"]["kind"]["enum"] == symbols


def test_no_server_address_is_hard_coded():
    assert SPEC["servers"] == [{"url": "/"}]
