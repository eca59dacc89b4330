"""The query API without its database or gate state: 503 as JSON, and /health says which."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from streams.http.api import Api, make_server
from streams.http.queries import Queries
from streams.local.processes import free_port
from tests.tokens import credentials_of

TOKEN = "unit-test-token-000001"  # noqa: S105 - a throwaway token of a throwaway server


@pytest.fixture
def base():
    queries = Queries(f"postgresql://nobody@127.0.0.1:{free_port()}/nothing")
    server = make_server(Api(credentials_of([f"{TOKEN} customs"]), queries, None), "127.0.0.1", 0)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    serving.start()
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}"
    server.shutdown()
    serving.join(10)
    server.server_close()
    queries.close()


def _get(url: str, token: str | None = TOKEN) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_queries_without_a_database_answer_503(base):
    status, body = _get(f"{base}/lookup?kind=CONTAINER&value=CSQU3054383")
    assert status == 503
    assert body["message"] == "the database is unavailable"
    assert _get(f"{base}/deviations")[0] == 503


def test_a_gate_check_without_the_gate_state_answers_503(base):
    status, body = _get(f"{base}/gate-check?container=CSQU3054383")
    assert status == 503
    assert "gate state" in body["message"]


def test_health_says_what_is_missing(base):
    assert _get(f"{base}/health", None) == (
        503,
        {
            "status": "degraded",
            "database": "unavailable",
            "gate_state": "loading",
            "gate_state_skipped": 0,
            "gate_state_last_skipped": None,
        },
    )


def test_ready_fails_naming_the_lost_database(base):
    status, ready = _get(f"{base}/ready", None)
    assert (status, ready["status"], ready["process"]) == (503, "not ready", "api")
    failing = {c["check"]: c["reason"] for c in ready["checks"] if not c["ok"]}
    assert failing == {"database": "the database does not answer"}


def test_only_get_is_served(base):
    request = urllib.request.Request(f"{base}/lookup", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405
    assert refused.value.headers["Allow"] == "GET"
    refused.value.close()
