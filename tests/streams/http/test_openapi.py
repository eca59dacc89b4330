"""The OpenAPI document is generated from the routes and models: every route is described, every
role and error documented, and the enums are the Avro schemas' own."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from streams.http import params
from streams.http.access import ENDPOINT_ROLES
from streams.http.api import Api, make_app
from streams.http.pool import ReadPool
from streams.http.queries import Queries
from streams.http.subscriptions import subscription_routes
from streams.subscriptions.store import Store
from tests.tokens import credentials_of
from topics.schemas import AVRO_DIR

NOWHERE = "postgresql://nobody@127.0.0.1:1/nothing"
API = Api(credentials_of(["openapi-test-token-0001 customs"]), Queries(NOWHERE), None)
APP = make_app(API, subscription_routes(API, Store(ReadPool(NOWHERE))))
SPEC = APP.openapi()
PUBLIC = {"/health", "/ready", "/metrics", "/openapi.json"}
PATH_PARAMETER = re.compile(r"\{([a-z_]+)\}")
ERRORS = {"400", "401", "403", "405", "501", "503"}


def _symbols(name: str) -> list[str]:
    for path in AVRO_DIR.glob("*.avsc"):
        text = path.read_text()
        found = re.search(r'"name": "' + name + r'",[^}]*?"symbols": (\[[^\]]*\])', text, re.S)
        if found:
            return list(json.loads(found.group(1)))
    raise AssertionError(name)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
    ]


def _schema(name: str) -> dict[str, Any]:
    return SPEC["components"]["schemas"][name]


def test_it_is_an_openapi_3_1_document_in_json():
    assert SPEC["openapi"].startswith("3.1")
    assert json.loads(json.dumps(SPEC)) == SPEC
    assert {"title", "version"} <= set(SPEC["info"])


def test_every_reference_resolves():
    for ref in _refs(SPEC):
        node: Any = SPEC
        assert ref.startswith("#/")
        for step in ref[2:].split("/"):
            assert step in node, ref
            node = node[step]


def _routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route, through the routers included (FastAPI keeps those as branches)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += _routes(route.original_router.routes)
    return found


def test_every_route_is_described_and_every_described_path_served():
    served = {
        (route.path, method.lower())
        for route in _routes(APP.routes)
        if route.include_in_schema
        for method in route.methods
    }
    assert len(served) >= 15
    described = {(path, method) for path, method, _ in _operations()}
    assert served == described
    for path, _, operation in _operations():
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(PATH_PARAMETER.findall(path)), path
        assert {"200", "201", "204"} & set(operation["responses"]), path
        assert operation.get("operationId"), path


@pytest.mark.parametrize(("path", "method", "operation"), _operations())
def test_every_operation_documents_its_roles_and_errors(path, method, operation):
    if path in PUBLIC:
        assert not operation.get("security"), path
        return
    assert operation["security"] == [{"bearer": []}]
    assert set(operation["responses"]) >= ERRORS, path
    assert "422" not in operation["responses"]
    for status in ERRORS:
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]
    assert operation["responses"]["503"]["headers"]["Retry-After"]
    assert operation["responses"]["405"]["headers"]["Allow"]
    assert operation["x-roles"], path
    assert set(operation["x-roles"]) <= {"customs", "gdf", "terminal", "rail-operator"}


def test_the_read_side_roles_are_the_access_rules():
    by_operation = {op["operationId"]: set(op.get("x-roles", [])) for _, _, op in _operations()}
    for endpoint, operation in (
        ("timeline", "timeline"),
        ("lookup", "lookup"),
        ("binding", "binding"),
        ("deviations", "deviations"),
        ("train", "train"),
        ("gate-check", "gateCheck"),
        ("subscriptions", "createSubscription"),
        ("subscriptions", "subscriptionEvents"),
    ):
        assert by_operation[operation] == {role.value for role in ENDPOINT_ROLES[endpoint]}


def test_the_enums_are_the_avro_schemas():
    kind = next(p for p in SPEC["paths"]["/deviations"]["get"]["parameters"] if p["name"] == "kind")
    assert json.dumps(kind["schema"]).count('"$ref"') == 1
    assert _schema("DeviationKind")["enum"] == _symbols("DeviationKind")
    assert _schema("Agency")["enum"] == _symbols("Agency")
    assert _schema("Verdict")["enum"] == _symbols("Verdict")
    assert _schema("TrainPhase")["enum"] == _symbols("TrainPhase")
    assert _schema("NodeKind")["enum"] == _symbols("NodeKind")
    lookup_kind = next(
        p for p in SPEC["paths"]["/lookup"]["get"]["parameters"] if p["name"] == "kind"
    )
    assert set(lookup_kind["schema"]["enum"]) == set(params.LOOKUP_KINDS)
    assert set(params.LOOKUP_KINDS) <= set(_symbols("ItuKind"))


def test_the_query_parameters_the_routes_read_are_described():
    source = json.dumps(SPEC["paths"])
    for name in ("kind", "value", "country", "since", "node", "limit", "after", "container"):
        assert f'"name": "{name}"' in source
    limit = next(
        p for p in SPEC["paths"]["/deviations"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)


def test_the_security_scheme_is_bearer_and_errors_have_one_shape():
    scheme = SPEC["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert set(_schema("Error")["required"]) == {"error", "status", "message"}
    assert "HTTPValidationError" not in SPEC["components"]["schemas"]


def test_customs_only_fields_say_so():
    hold = _schema("Hold")["properties"]
    for field in ("reason_code", "reason", "outcome"):
        assert "Customs role only" in hold[field]["description"]


def test_no_server_address_is_hard_coded():
    assert SPEC["servers"] == [{"url": "/"}]
    assert "127.0.0.1" not in json.dumps(SPEC)
