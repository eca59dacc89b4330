"""``GET /trains/{id}`` for a rail operator: another operator's train and a train that does not
exist both answer 404; does the first take longer (an existence oracle)?

A throwaway local Postgres (unless ``DATABASE_URL`` is set) gets one train of another operator
(status, two manifest versions, a loading list, a permission); ``iotrack api``'s application is
served twice in this process, as it is now (one query, then 404, whether the train exists or
not) and as it was before (the whole train read and its document built, then 404), and each is
asked ``--samples`` times for the other operator's train and for a missing one, interleaved,
timing each request from send to the parsed answer.

Run: ``.venv/bin/python -m bench.train_lookup [--samples N]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg2

from streams.http.access import (
    Forbidden,
    Principal,
    Role,
    authorize_train,
    parse_credentials,
    token_line,
)
from streams.http.api import Api, make_server
from streams.http.errors import NotFound
from streams.http.queries import Queries
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.ops.duties import Duty
from streams.ops.migrations import migrate

TOKEN = "bench-rail-op1-token-0001"  # noqa: S105 - a throwaway token for a throwaway server
CREDENTIALS = parse_credentials([token_line(TOKEN, "rail-operator", "bench", "op-one")])


class PreviousApi(Api):
    """The train lookup as it was: the whole train read and built, then 404 if not one's own."""

    def train(self, who: Principal, train_id: str) -> dict[str, Any]:
        found = self.queries.train(train_id)
        try:
            authorize_train(who, found["operator"])
        except Forbidden:
            if who.role is Role.RAIL_OPERATOR:
                raise NotFound(f"no train {train_id} in the projection") from None
            raise
        return found


def _seed(owner_url: str, train: str) -> None:
    wagons = json.dumps(
        [{"position": n, "wagon_number": "218124712173", "itus": [], "mrns": []} for n in range(20)]
    )
    with psycopg2.connect(owner_url) as db, db.cursor() as cursor:
        for version in (1, 2):
            cursor.execute(
                "INSERT INTO train_manifests (train_id, version, event_id, occurred_at, operator,"
                " supersedes_version, wagons) VALUES (%s, %s, %s, now(), 'op-two', NULL, %s)",
                (train, version, str(uuid.uuid4()), wagons),
            )
        cursor.execute(
            "INSERT INTO train_permissions (event_id, train_id, manifest_version, occurred_at,"
            " granted, reasons, decided_by) VALUES (%s, %s, 2, now(), false, %s, 'officer')",
            (str(uuid.uuid4()), train, ["unit not released"] * 5),
        )
        cursor.execute(
            "INSERT INTO train_loading_lists (event_id, train_id, occurred_at, operator,"
            " planned_departure, answered, items) VALUES (%s, %s, now(), 'op-two', now(), true,"
            " %s)",
            (str(uuid.uuid4()), train, wagons),
        )
        cursor.execute(
            "INSERT INTO train_status (train_id, event_id, occurred_at, operator, phase,"
            " manifest_version, manifest_versions, permission_granted, reasons, units,"
            " units_ready, iot_ids, exited) VALUES (%s, %s, now(), 'op-two', 'REFUSED', 2,"
            " '{1,2}', false, %s, 20, 0, %s::uuid[], 0)",
            (train, str(uuid.uuid4()), ["x"] * 5, [str(uuid.uuid4()) for _ in range(20)]),
        )
    db.close()


def _timed(port: int, path: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        answer = connection.getresponse()
        json.loads(answer.read())
        elapsed = time.perf_counter() - started
        assert answer.status == 404, answer.status
        return elapsed
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    given = os.environ.get("DATABASE_URL")
    postgres = None
    home = Path(tempfile.mkdtemp(prefix="bench-trains-"))
    try:
        if given:
            owner = api_url = given
        else:
            postgres = LocalPostgres(home, port=free_port())
            postgres.start()
            owner = postgres.url(Duty.OWNER).reveal()
            api_url = postgres.url(Duty.API).reveal()
        migrate(owner)
        train = f"BENCH-{uuid.uuid4().hex[:8]}"
        _seed(owner, train)
        results: dict[str, dict[str, list[float]]] = {}
        for name, kind in (("now", Api), ("before", PreviousApi)):
            queries = Queries(api_url, size=2)
            server = make_server(kind(CREDENTIALS, queries, None), "127.0.0.1", 0)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            port = server.server_address[1]
            samples: dict[str, list[float]] = {"another operator's": [], "missing": []}
            for _ in range(20):  # warm up both paths
                _timed(port, f"/trains/{train}")
                _timed(port, "/trains/NO-SUCH-TRAIN")
            for n in range(args.samples):
                samples["another operator's"].append(_timed(port, f"/trains/{train}"))
                samples["missing"].append(_timed(port, f"/trains/NO-SUCH-{n}"))
            server.shutdown()
            server.server_close()
            queries.close()
            results[name] = samples
        print(f"GET /trains/{{id}} as a rail operator, 404, {args.samples} samples each")
        print(f"{'path':<8} {'train':<20} {'median ms':>10} {'p90 ms':>8}")
        for name, samples in results.items():
            for case, values in samples.items():
                ordered = sorted(values)
                p90 = ordered[int(0.9 * (len(ordered) - 1))]
                print(
                    f"{name:<8} {case:<20} {statistics.median(values) * 1000:>10.3f} "
                    f"{p90 * 1000:>8.3f}"
                )
            ratio = statistics.median(samples["another operator's"]) / statistics.median(
                samples["missing"]
            )
            print(f"{name:<8} {'ratio':<20} {ratio:>10.2f}")
    finally:
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
