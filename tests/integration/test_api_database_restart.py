"""The query API after a database restart: the first request is answered, not a 503."""

from __future__ import annotations

import json
import threading
import urllib.request

from streams.http.api import Api, make_server
from streams.http.queries import Queries
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.ops.duties import Duty
from streams.ops.migrations import migrate
from tests.tokens import credentials_of

TOKEN = "restart-test-token-0001"  # noqa: S105 - a throwaway token of a throwaway server


def _get(url: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        json.loads(response.read())
        return int(response.status)


def test_the_first_request_after_a_database_restart_is_answered(tmp_path):
    postgres = LocalPostgres(tmp_path / "home", port=free_port())
    queries = None
    server = None
    serving = None
    try:
        postgres.start()
        migrate(postgres.url(Duty.OWNER).reveal())
        queries = Queries(postgres.url(Duty.API).reveal())
        server = make_server(
            Api(credentials_of([f"{TOKEN} customs"]), queries, None), "127.0.0.1", 0
        )
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        serving.start()
        host, port = server.server_address[:2]
        base = f"http://{host!s}:{port}"
        assert _get(f"{base}/deviations") == 200
        postgres.stop()
        postgres.start()
        assert _get(f"{base}/deviations") == 200, "the pooled connection was replaced"
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if serving is not None:
            serving.join(10)
        if queries is not None:
            queries.close()
        postgres.stop()
