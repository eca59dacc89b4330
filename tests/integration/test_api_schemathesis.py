"""Bad input through the whole HTTP surface: schemathesis generates requests (valid and invalid)
from the generated OpenAPI document and sends them to the API served on loopback (uvicorn, the
real serving layer) over a real Postgres projection and gate state, with every role's token of
``deploy/api/tokens.dev``. No answer may be a 500; every answer must match its documented
status, content type, headers and schema. Bounded: a few dozen examples per operation and role.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from streams.demo import dev_tokens
from streams.http.api import Api, make_app, make_server
from streams.http.pool import ReadPool
from streams.http.queries import Queries
from streams.http.subscriptions import subscription_routes
from streams.http.tokens_file import load_credentials
from streams.subscriptions.store import Store
from streams.workers.gate_state import GateState
from tests.integration.test_api import CODEC, day  # noqa: F401 - the projected port day
from topics.parties import API

DEV_TOKENS = {
    f"{t.role}{'-' + t.operator if t.operator else ''}": t.token for t in dev_tokens.DEV_TOKENS
}
TOKENS_FILE = dev_tokens.DEV_TOKENS_FILE


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx, except 501: the documented answer to a method iotrack serves nowhere (TRACE,
    OPTIONS, ...), which schemathesis sends among its invalid requests."""
    if response.status_code >= 500 and response.status_code != 501:
        raise AssertionError(f"{response.status_code} for {case.method} {case.formatted_path}")


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
NOWHERE = "postgresql://nobody@127.0.0.1:1/x"
OFFLINE = Api(load_credentials(TOKENS_FILE), Queries(NOWHERE), None)
SCHEMA = schemathesis.openapi.from_dict(
    make_app(OFFLINE, subscription_routes(OFFLINE, Store(ReadPool(NOWHERE)))).openapi()
)


@pytest.fixture(scope="module")
def served(day, services) -> Iterator[str]:  # noqa: F811 - the fixture imported above
    gate = GateState(services.kafka(API), CODEC)
    gate.start()
    queries = Queries(day.api_url)
    writer = ReadPool(day.api_url, size=4, read_only=False)
    api = Api(load_credentials(TOKENS_FILE), queries, gate)
    stopping = threading.Event()
    routes = subscription_routes(api, Store(writer), stopping=stopping)
    server = make_server(api, "127.0.0.1", 0, extra=(routes,), stopping=stopping)
    thread = server.start()
    host, port = server.server_address
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        gate.stop()
        writer.close()
        queries.close()


def test_the_dev_tokens_cover_every_role():
    assert {"customs", "gdf", "terminal"} <= set(DEV_TOKENS)
    assert any(name.startswith("rail-operator") for name in DEV_TOKENS)


@pytest.mark.parametrize("role", sorted(DEV_TOKENS))
@SCHEMA.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_endpoint_with_every_role_answers_as_documented(case, role, served):
    if case.path.endswith("/events"):  # a stream ends only when asked to
        case.query = {**(case.query if isinstance(case.query, dict) else {}), "close_after_s": 0.5}
    case.call_and_validate(
        base_url=served,
        headers={"Authorization": f"Bearer {DEV_TOKENS[role]}"},
        checks=CHECKS,
        timeout=15,
    )


@pytest.mark.parametrize("role", sorted(DEV_TOKENS))
def test_the_projected_documents_match_their_schemas_for_every_role(role, served, day):  # noqa: F811
    headers = {"Authorization": f"Bearer {DEV_TOKENS[role]}"}
    requests = [
        ("/iot/{iot_id}/timeline", {"path_parameters": {"iot_id": day.held_iot}}),
        ("/iot/{iot_id}/timeline", {"path_parameters": {"iot_id": day.cleared_iot}}),
        ("/lookup", {"query": {"kind": "CONTAINER", "value": day.held}}),
        ("/bindings/{request_id}", {"path_parameters": {"request_id": f"TEST-{day.held}"}}),
        ("/lookup", {"query": {"kind": "PLATE", "value": day.plate, "country": "IT"}}),
        ("/gate-check", {"query": {"container": day.held, "gate": "PORT-GATE-1"}}),
        ("/gate-check", {"query": {"plate": day.plate, "country": "IT"}}),
        ("/deviations", {"query": {"limit": 500}}),
        ("/trains/{train_id}", {"path_parameters": {"train_id": day.train}}),
        ("/health", {}),
    ]
    for path, parts in requests:
        case = SCHEMA[path]["GET"].Case(**parts)
        case.call_and_validate(base_url=served, headers=headers, checks=CHECKS, timeout=15)
