"""Subscriptions for real: the API (in-process, on loopback) takes a party's subscriptions, the
delivery worker (``iotrack subscriptions run``, its own process) reads the real broker and POSTs
to a receiving HTTP server on loopback, and a stream client reads ``text/event-stream``.

"Down for a minute" is shortened to 8 s: the worker runs with retries from 0.1 s up to 1 s (so
the receiver is retried several times while down, each attempt in the delivery log), which is
what a minute with the default policy (0.5 s up to 60 s) would show, in less time.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from streams.http.api import Api, make_server
from streams.http.pool import ReadPool
from streams.http.queries import Queries
from streams.http.subscriptions import subscription_routes
from streams.local import runtime
from streams.local.processes import free_port
from streams.ops.duties import Duty
from streams.ops.settings import CHECKOUT
from streams.subscriptions.destinations import Destinations, parse_networks
from streams.subscriptions.notify import Notifier
from streams.subscriptions.store import Store
from tests.integration.databases import scratch_database
from tests.integration.embedded import cli_env
from tests.integration.writers import AsWriters
from tests.tokens import credentials_of
from topics import catalog
from topics.codec import SingleObjectCodec
from topics.examples import example
from topics.parties import SUBSCRIPTIONS
from topics.schemas import repository

CODEC = SingleObjectCodec()
TOKENS = {
    "customs": "subs-customs-token-0001",
    "terminal": "subs-terminal-token-001",
    "rail": "subs-rail-op1-token-001",
}
CREDENTIALS = credentials_of(
    [
        f"{TOKENS['customs']} customs",
        f"{TOKENS['terminal']} terminal",
        f"{TOKENS['rail']} rail-operator op-one",
    ]
)
LOOPBACK = "127.0.0.0/8"
WORKER_OPTIONS = ["--retry-base", "0.1", "--retry-max", "1", "--suspend-after", "300"]


# ------------------------------------------------------------------------------ a receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on loopback that can go down (connections refused) and come back."""

    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(Received(dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def notifications(self) -> list[dict[str, Any]]:
        return [n for r in list(self.requests) for n in json.loads(r.body)]


# ------------------------------------------------------------------------------ fixtures


@dataclass
class Setup:
    database: runtime.Endpoints  # a scratch database's, one role per duty
    base: str
    services: runtime.Endpoints  # the session's broker: each client signs in as its party

    def url(self, duty: Duty) -> str:
        return self.database.database(duty).reveal()


@pytest.fixture(scope="module")
def setup(services) -> Iterator[Setup]:
    with scratch_database(services, "subs") as found:
        url = found.database(Duty.API).reveal()
        queries, writer = Queries(url), ReadPool(url, size=4, read_only=False)
        notifier = Notifier(url)
        notifier.start()
        api = Api(CREDENTIALS, queries, None)
        stopping = threading.Event()
        # The receivers are on loopback: the operator's allowance that lets webhooks go there.
        routes = subscription_routes(
            api,
            Store(writer),
            notifier,
            heartbeat_s=1.0,
            stopping=stopping,
            destinations=Destinations(parse_networks(LOOPBACK)),
        )
        server = make_server(api, "127.0.0.1", 0, extra=(routes,), stopping=stopping)
        thread = server.start()
        host, port = server.server_address
        try:
            yield Setup(found, f"http://{host}:{port}", services)
        finally:
            server.shutdown()
            thread.join(10)
            server.server_close()
            notifier.stop()
            writer.close()
            queries.close()


class Worker:
    """``iotrack subscriptions run`` as a process of its own, to be killed."""

    def __init__(
        self, setup: Setup, options: list[str] = WORKER_OPTIONS, allowed: str = LOOPBACK
    ) -> None:
        self.setup = setup
        self.options = options
        self.allowed = allowed
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = cli_env(
            self.setup.services,
            SUBSCRIPTIONS,
            DATABASE_URL=self.setup.url(Duty.SUBSCRIPTIONS),
            IOTRACK_WEBHOOK_ALLOWED_NETWORKS=self.allowed,
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "subscriptions",
                "run",
                "--port",
                str(self.port),
                *self.options,
            ],
            cwd=CHECKOUT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while self.ready()[0] != 200:
            assert self.process.poll() is None, "the delivery worker exited"
            assert time.monotonic() < deadline, "the delivery worker did not get ready"
            time.sleep(0.2)

    def ready(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())
        except OSError:
            return 0, {}

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def worker(setup) -> Iterator[Worker]:
    running = Worker(setup)
    running.start()
    try:
        yield running
    finally:
        running.stop()


# ------------------------------------------------------------------------------ helpers


def _call(setup: Setup, method: str, path: str, who: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(setup.base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {TOKENS[who]}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _subscribe(setup: Setup, who: str, topic: str, filters: dict, url: str | None) -> dict:
    status, created = _call(
        setup, "POST", "/subscriptions", who, {"topic": topic, "filters": filters, "url": url}
    )
    assert status == 201, created
    return created


def _deviations(
    services: runtime.Endpoints, node: str, keys: list[str], count: int, start: int = 0
) -> list:
    """``count`` deviations at ``node``, round-robin over the IOT_IDs ``keys``: (key, event id)
    in the order published, as the core (their one writer) publishes them."""
    out = AsWriters(services)
    published = []
    template = example(repository().get("iotrack.Deviation"))
    for n in range(start, start + count):
        key = keys[n % len(keys)]
        value = {
            **template,
            "event_id": str(uuid.uuid4()),
            "iot_id": key,
            "node_id": node,
            "kind": "OVERDUE",
            "severity": "WARNING",
            "observed": f"number {n}",
            "mission_path_id": "IMPORT-ROAD",
        }
        out.produce(
            catalog.DEVIATIONS.name,
            key=catalog.DEVIATIONS.key_of(value),
            value=CODEC.encode("iotrack.Deviation", value),
        )
        published.append((key, value["event_id"]))
        out.poll(0)
    assert out.flush(30) == 0
    return published


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _in_order_per_key(published: list, received: list[dict[str, Any]]) -> None:
    """Every published id arrived; per key, the first arrivals are in publishing order, and
    an id arriving again is one already seen (at-least-once, never out of order)."""
    assert {n["id"] for n in received} == {eid for _, eid in published}
    expected: dict[str, list[str]] = defaultdict(list)
    for key, eid in published:
        expected[key].append(eid)
    firsts: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for notification in received:
        if notification["id"] in seen:
            continue
        seen.add(notification["id"])
        firsts[notification["key"]].append(notification["id"])
    assert dict(firsts) == dict(expected)


# ------------------------------------------------------------------------------ the tests


def test_webhooks_are_signed_and_a_receiver_down_gets_everything_after_in_order(setup, worker):
    receiver = Receiver()
    receiver.up()
    node = f"NODE-{uuid.uuid4().hex[:6].upper()}"
    keys = [str(uuid.uuid4()) for _ in range(4)]
    subscription = _subscribe(setup, "customs", "deviations", {"nodes": [node]}, receiver.url)
    try:
        published = _deviations(setup.services, node, keys, 20)
        _wait_for(lambda: len(receiver.notifications()) >= 20, 60, "first deliveries")
        for request in receiver.requests:
            expected = hmac.new(
                subscription["secret"].encode(), request.body, hashlib.sha256
            ).hexdigest()
            assert request.headers["Notification-Signature"] == f"sha256={expected}"
            assert request.headers["Content-Type"] == "application/json"

        receiver.down()
        published += _deviations(setup.services, node, keys, 30, start=20)
        time.sleep(8)  # "down for a minute", shortened (see the module's doc)
        status, log = _call(
            setup, "GET", f"/subscriptions/{subscription['subscription_id']}/deliveries", "customs"
        )
        assert status == 200
        failed = [d for d in log["items"] if d["status_code"] is None]
        assert len(failed) >= 3, "retried while the receiver was down, each attempt logged"
        assert all(d["error"] for d in failed)
        receiver.up()
        _wait_for(
            lambda: {n["id"] for n in receiver.notifications()} >= {e for _, e in published},
            60,
            "everything after the receiver came back",
        )
        _in_order_per_key(published, receiver.notifications())
        path = f"/subscriptions/{subscription['subscription_id']}"
        # The worker records a delivery once the receiver has answered it: a moment after.
        _wait_for(
            lambda: _call(setup, "GET", path, "customs")[1]["failing_since"] is None,
            10,
            "the subscription healthy again once a delivery succeeded",
        )
        status, found = _call(setup, "GET", path, "customs")
        assert (status, found["status"]) == (200, "ACTIVE")
        assert found["delivered_seq"] >= 50
        assert "secret" not in found
    finally:
        receiver.down()


def test_a_rotated_secret_signs_and_the_previous_one_goes_on_for_its_grace(setup, worker):
    receiver = Receiver()
    receiver.up()
    node = f"NODE-{uuid.uuid4().hex[:6].upper()}"
    first = _subscribe(setup, "customs", "deviations", {"nodes": [node]}, receiver.url)
    sid = first["subscription_id"]
    try:
        status, rotated = _call(setup, "POST", f"/subscriptions/{sid}/secret", "customs")
        assert status == 200
        assert rotated["secret"] != first["secret"]
        published = _deviations(setup.services, node, [str(uuid.uuid4())], 3)
        _wait_for(lambda: len(receiver.notifications()) >= 3, 60, "deliveries after rotation")
        for request in receiver.requests:
            for header, secret in (
                ("Notification-Signature", rotated["secret"]),
                ("Notification-Signature-Previous", first["secret"]),
            ):
                digest = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
                assert request.headers[header] == f"sha256={digest}"
        assert {n["id"] for n in receiver.notifications()} == {e for _, e in published}
    finally:
        receiver.down()


def test_a_sigkilled_delivery_worker_loses_nothing(setup, worker):
    receiver = Receiver()
    receiver.up()
    node = f"NODE-{uuid.uuid4().hex[:6].upper()}"
    keys = [str(uuid.uuid4()) for _ in range(3)]
    _subscribe(setup, "customs", "deviations", {"nodes": [node]}, receiver.url)
    published: list = []
    try:
        for wave in range(3):
            published += _deviations(setup.services, node, keys, 40, start=40 * wave)
            time.sleep(0.3 * wave)  # killed at different points: before, during, after
            worker.kill()
            worker.start()
        _wait_for(
            lambda: {n["id"] for n in receiver.notifications()} >= {e for _, e in published},
            90,
            "every notification after the kills",
        )
        _in_order_per_key(published, receiver.notifications())
    finally:
        receiver.down()


def test_a_terminal_never_receives_customs_only_fields_nor_subscribes_beyond_its_role(
    setup, worker
):
    receiver = Receiver()
    receiver.up()
    node = f"TERMINAL-{uuid.uuid4().hex[:6].upper()}"
    iot = str(uuid.uuid4())
    with psycopg.connect(setup.url(Duty.PROJECTION), autocommit=True) as db:
        db.execute(
            "INSERT INTO iot_state (iot_id, status, mission_path_id, current_node_id, version, "
            "updated_at) VALUES (%s, 'AT_NODE', 'IMPORT-ROAD', %s, 1, now())",
            (iot, node),
        )
    assert _call(setup, "POST", "/subscriptions", "terminal", {"topic": "deviations"})[0] == 403
    status, refused = _call(setup, "POST", "/subscriptions", "terminal", {"topic": "verdicts"})
    assert (status, refused["parameter"]) == (400, "filters.nodes")
    _subscribe(setup, "terminal", "verdicts", {"nodes": [node]}, receiver.url)
    out = AsWriters(setup.services)  # the core, the one writer of holds and verdicts
    hold = {
        **example(repository().get("iotrack.HoldPlaced")),
        "iot_id": iot,
        "agency": "CUSTOMS",
        "reason_code": "RISK-7",
        "reason": "risk profile match",
    }
    out.produce(
        catalog.HOLDS.name,
        key=catalog.HOLDS.key_of(hold),
        value=CODEC.encode("iotrack.HoldPlaced", hold),
    )
    verdict = {
        **example(repository().get("iotrack.ClearanceVerdict")),
        "iot_id": iot,
        "verdict": "HELD",
        "may_leave": False,
        "itu": {
            "kind": "CONTAINER",
            "value": "CSQU3054383",
            "country": None,
            "seal_class": None,
            "issuer": None,
        },
    }
    out.produce(
        catalog.CLEARANCE_BY_ITU.name,
        key=catalog.CLEARANCE_BY_ITU.key_of(verdict),
        value=CODEC.encode("iotrack.ClearanceVerdict", verdict),
    )
    assert out.flush(30) == 0
    try:
        _wait_for(receiver.notifications, 60, "the terminal's verdict")
        [notification] = receiver.notifications()
        assert notification["data"]["verdict"] == "HELD"
        assert notification["data"]["open_holds"][0]["agency"] == "CUSTOMS"
        body = b"".join(r.body for r in receiver.requests).decode()
        for customs_only in ("reason_code", '"reason"', "outcome", "RISK-7", "risk profile"):
            assert customs_only not in body
    finally:
        receiver.down()


def _read_events(response: http.client.HTTPResponse, count: int, timeout: float) -> list:
    """The next ``count`` events (id, data) of a stream, and whether a heartbeat came."""
    events: list[tuple[int, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    current: dict[str, str] = {}
    while len(events) < count:
        assert time.monotonic() < deadline, f"{len(events)} of {count} events"
        line = response.readline().decode().rstrip("\n")
        if line.startswith("id: "):
            current["id"] = line[4:]
        elif line.startswith("data: "):
            current["data"] = line[6:]
        elif not line and "data" in current:
            events.append((int(current["id"]), json.loads(current["data"])))
            current = {}
    return events


def _stream(setup: Setup, sid: str, last: int | None) -> tuple[http.client.HTTPConnection, Any]:
    host, port = urlsplit(setup.base).hostname, urlsplit(setup.base).port
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    headers = {"Authorization": f"Bearer {TOKENS['customs']}", "Accept": "text/event-stream"}
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    connection.request("GET", f"/subscriptions/{sid}/events", headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return connection, response


def test_a_stream_client_that_drops_resumes_from_its_last_id_with_heartbeats(setup, worker):
    node = f"NODE-{uuid.uuid4().hex[:6].upper()}"
    keys = [str(uuid.uuid4()) for _ in range(2)]
    sid = _subscribe(setup, "customs", "deviations", {"nodes": [node]}, None)["subscription_id"]
    connection, response = _stream(setup, sid, None)
    published = _deviations(setup.services, node, keys, 5)
    first = _read_events(response, 5, 60)
    _in_order_per_key(published, [d for _, d in first])
    assert [seq for seq, _ in first] == sorted(seq for seq, _ in first)
    heartbeat = response.readline() + response.readline()
    assert b": heartbeat" in heartbeat, "a heartbeat while nothing comes (1 s here)"
    connection.close()  # the client drops
    later = _deviations(setup.services, node, keys, 5, start=5)
    time.sleep(1)
    connection, response = _stream(setup, sid, first[-1][0])
    try:
        resumed = _read_events(response, 5, 60)
        _in_order_per_key(later, [d for _, d in resumed])  # from its last id on, nothing before
        assert resumed[0][0] > first[-1][0]
    finally:
        connection.close()


def test_subscriptions_belong_to_their_party(setup):
    created = _subscribe(setup, "customs", "trains", {}, None)
    sid = created["subscription_id"]
    assert _call(setup, "GET", f"/subscriptions/{sid}", "rail")[0] == 404
    assert _call(setup, "DELETE", f"/subscriptions/{sid}", "rail")[0] == 404
    assert sid not in {
        s["subscription_id"] for s in _call(setup, "GET", "/subscriptions", "rail")[1]["items"]
    }
    status, changed = _call(
        setup, "PATCH", f"/subscriptions/{sid}", "customs", {"status": "SUSPENDED"}
    )
    assert (status, changed["status"]) == (200, "SUSPENDED")
    status, changed = _call(
        setup, "PATCH", f"/subscriptions/{sid}", "customs", {"status": "ACTIVE"}
    )
    assert (status, changed["status"], changed["suspended_reason"]) == (200, "ACTIVE", None)
    status, bad = _call(
        setup, "PATCH", f"/subscriptions/{sid}", "customs", {"filters": {"kinds": ["X"]}}
    )
    assert (status, bad["parameter"]) == (400, "filters.kinds")
    assert _call(setup, "DELETE", f"/subscriptions/{sid}", "customs")[0] == 204
    assert _call(setup, "GET", f"/subscriptions/{sid}", "customs")[0] == 404


def test_a_failing_subscription_is_suspended_with_its_reason_and_resumes_where_it_stopped(setup):
    receiver = Receiver(status=500)
    receiver.up()
    worker = Worker(setup, ["--retry-base", "0.1", "--retry-max", "0.5", "--suspend-after", "2"])
    worker.start()
    node = f"NODE-{uuid.uuid4().hex[:6].upper()}"
    keys = [str(uuid.uuid4()) for _ in range(2)]
    sid = _subscribe(setup, "customs", "deviations", {"nodes": [node]}, receiver.url)[
        "subscription_id"
    ]
    try:
        published = _deviations(setup.services, node, keys, 6)

        def suspended() -> bool:
            return _call(setup, "GET", f"/subscriptions/{sid}", "customs")[1]["status"] == (
                "SUSPENDED"
            )

        _wait_for(suspended, 60, "suspended after failing for 2 s")
        found = _call(setup, "GET", f"/subscriptions/{sid}", "customs")[1]
        assert "HTTP 500" in found["suspended_reason"]
        assert found["delivered_seq"] == 0
        tried = len(receiver.requests)
        time.sleep(1.5)
        assert len(receiver.requests) == tried, "no delivery while suspended"
        published += _deviations(setup.services, node, keys, 4, start=6)
        receiver.status = 200
        status, resumed = _call(
            setup, "PATCH", f"/subscriptions/{sid}", "customs", {"status": "ACTIVE"}
        )
        assert (status, resumed["status"], resumed["suspended_reason"]) == (200, "ACTIVE", None)
        _wait_for(
            lambda: (
                {n["id"] for r in receiver.requests[tried:] for n in json.loads(r.body)}
                >= {e for _, e in published}
            ),
            60,
            "everything, from where it stopped, after the resume",
        )
        _in_order_per_key(
            published, [n for r in receiver.requests[tried:] for n in json.loads(r.body)]
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as r:
            exposition = r.read().decode()
        assert 'iotrack_subscription_deliveries_total{outcome="suspended"}' in exposition
        assert 'iotrack_subscription_deliveries_total{outcome="delivered"}' in exposition
        assert f'iotrack_subscription_pending_records{{subscription="{sid}"}}' in exposition
        for key in keys:
            assert key not in exposition, "no IOT_ID in any label"
    finally:
        worker.stop()
        receiver.down()


def test_a_webhook_to_an_address_the_worker_does_not_allow_is_never_sent(setup):
    """The URL passed the API's check (its allowance has loopback), but the delivery worker's
    does not: it checks again at every delivery, sends nothing and suspends with the reason."""
    receiver = Receiver()
    receiver.up()
    worker = Worker(
        setup, ["--retry-base", "0.1", "--retry-max", "0.5", "--suspend-after", "2"], "10.9.0.0/16"
    )
    worker.start()
    node = f"NODE-{uuid.uuid4().hex[:6].upper()}"
    sid = _subscribe(setup, "customs", "deviations", {"nodes": [node]}, receiver.url)[
        "subscription_id"
    ]
    try:
        _deviations(setup.services, node, [str(uuid.uuid4())], 2)

        def suspended() -> bool:
            found = _call(setup, "GET", f"/subscriptions/{sid}", "customs")[1]
            return found["status"] == "SUSPENDED"

        _wait_for(suspended, 60, "suspended: its address refused at every delivery")
        found = _call(setup, "GET", f"/subscriptions/{sid}", "customs")[1]
        assert "127.0.0.1 is a loopback address" in found["suspended_reason"]
        assert receiver.requests == [], "nothing reached the refused address"
        status, log = _call(setup, "GET", f"/subscriptions/{sid}/deliveries", "customs")
        assert status == 200
        assert all("loopback" in (entry["error"] or "") for entry in log["items"])
    finally:
        worker.stop()
        receiver.down()


def test_the_retention_deletes_what_is_delivered_or_streamed_and_a_stream_is_told_the_gap(setup):
    """Past the retention the worker's role deletes a stream's notifications and a webhook's
    delivered ones (never its undelivered ones) and old delivery logs; a stream resumed from
    before what went is told with a ``gap`` event, then goes on."""
    streamed = _subscribe(setup, "customs", "deviations", {"nodes": ["NODE-GONE"]}, None)
    hooked = _subscribe(
        setup, "customs", "deviations", {"nodes": ["NODE-GONE"]}, "http://127.0.0.1:9/"
    )
    sids = (streamed["subscription_id"], hooked["subscription_id"])
    pool = ReadPool(setup.url(Duty.SUBSCRIPTIONS), size=2, read_only=False)
    worker_store = Store(pool)
    try:
        rows = [
            (sid, str(uuid.uuid4()), "deviation", f"key-{n}", {"n": n}, None)
            for n in range(4)
            for sid in sids
        ]
        worker_store.record(rows, {})
        seqs = {sid: [q.seq for q in worker_store.queued(sid, 0, 10)] for sid in sids}
        worker_store.delivered(sids[1], seqs[sids[1]][1])  # two of the webhook's four delivered
        worker_store.log(sids[1], attempt=1, seqs=(seqs[sids[1]][0], seqs[sids[1]][1], 2),
                         status_code=200, error=None, latency_ms=3.0)  # fmt: skip
        with psycopg.connect(setup.url(Duty.OWNER), autocommit=True) as owner:
            owner.execute(
                "UPDATE subscription_events SET recorded_at = now() - interval '8 days' "
                "WHERE subscription_id = ANY(%s)",
                (list(sids),),
            )
            owner.execute(
                "UPDATE subscription_deliveries SET attempted_at = now() - interval '8 days' "
                "WHERE subscription_id = ANY(%s)",
                (list(sids),),
            )
        events, deliveries = worker_store.prune(datetime.now(UTC) - timedelta(days=7))
        assert events >= 6
        assert deliveries >= 1
        assert worker_store.queued(sids[0], 0, 10) == []
        assert [q.seq for q in worker_store.queued(sids[1], 0, 10)] == seqs[sids[1]][2:], (
            "a webhook's undelivered notifications stay"
        )
        assert _call(setup, "GET", f"/subscriptions/{sids[1]}/deliveries", "customs")[1] == {
            "items": []
        }
        pruned = worker_store.row(sids[0])
        assert pruned is not None
        assert pruned.pruned_through == seqs[sids[0]][-1]
    finally:
        pool.close()
    connection, response = _stream(setup, sids[0], 0)
    try:
        [(gap_id, gap)] = _read_events(response, 1, 30)
        assert gap_id == seqs[sids[0]][-1]
        assert gap["after"] == 0
        assert gap["pruned_through"] == seqs[sids[0]][-1]
    finally:
        connection.close()


def test_streams_take_a_bounded_share_of_the_api_and_requests_go_on(setup):
    """One holder keeps at most 8 streams open; the 9th is answered 503 with Retry-After, the
    API goes on answering, and a stream closed makes room for a new one."""
    sid = _subscribe(setup, "customs", "deviations", {"nodes": ["NODE-MANY"]}, None)[
        "subscription_id"
    ]
    opened = [_stream(setup, sid, None) for _ in range(8)]
    try:
        host, port = urlsplit(setup.base).hostname, urlsplit(setup.base).port
        extra = http.client.HTTPConnection(str(host), port, timeout=10)
        extra.request(
            "GET",
            f"/subscriptions/{sid}/events",
            headers={"Authorization": f"Bearer {TOKENS['customs']}"},
        )
        refused = extra.getresponse()
        assert refused.status == 503
        assert refused.headers["Retry-After"]
        assert "8 event streams open" in json.loads(refused.read())["message"]
        extra.close()
        assert _call(setup, "GET", "/subscriptions", "customs")[0] == 200
        opened.pop()[0].close()
        deadline = time.monotonic() + 10
        while True:  # the server sees the client gone at its next write (a heartbeat: 1 s)
            connection = http.client.HTTPConnection(str(host), port, timeout=10)
            connection.request(
                "GET",
                f"/subscriptions/{sid}/events",
                headers={"Authorization": f"Bearer {TOKENS['customs']}"},
            )
            answer = connection.getresponse()
            if answer.status == 200:
                opened.append((connection, answer))
                break
            connection.close()
            assert time.monotonic() < deadline, "the closed stream's slot did not come back"
            time.sleep(0.5)
    finally:
        for connection, _ in opened:
            connection.close()
