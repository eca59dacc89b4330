"""The query API against the real broker and Postgres: a small port day is run through the
tracking core (in-process), its inputs and outputs published, projected into a database of its
own, and asked over HTTP with each role's token."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from processors.core import Channel, CoreState, apply
from processors.identifiers import container, mrn
from streams.http.api import Api, make_server
from streams.http.errors import NotFound
from streams.http.queries import Queries
from streams.ops.duties import Duty
from streams.ops.settings import CHECKOUT
from streams.replay.lines import read_events
from streams.workers.channels import CHANNEL_TOPICS
from streams.workers.gate_state import GateState
from streams.workers.projection import Projection
from tests.integration.databases import scratch_database
from tests.integration.writers import AsWriters
from tests.tokens import credentials_of
from topics import catalog
from topics.codec import SingleObjectCodec
from topics.parties import API, PROJECTION

CODEC = SingleObjectCodec()
TOKENS = {
    "customs": "test-customs-token-0001",
    "gdf": "test-gdf-token-000000001",
    "terminal": "test-terminal-token-0001",
    "rail": "test-rail-op1-token-0001",
    "rail2": "test-rail-op2-token-0001",
}
CREDENTIALS = credentials_of(
    [
        f"{TOKENS['customs']} customs",
        f"{TOKENS['gdf']} gdf",
        f"{TOKENS['terminal']} terminal",
        f"{TOKENS['rail']} rail-operator op-one",
        f"{TOKENS['rail2']} rail-operator op-two",
    ]
)


def _container(rng: random.Random) -> str:
    body = f"TSTU{rng.randrange(10**6):06d}"
    return body + container.check_digit(body)


def _mrn(rng: random.Random) -> str:
    body = f"26IT{rng.randrange(10**12):012d}R"
    return body + mrn.check_digit(body)


@dataclass
class Day:
    """What the scenario produced, for the assertions."""

    projection_url: str  # the projection's role: the one that writes the tables
    api_url: str  # the API's read-only role
    base: str
    held: str
    held_iot: str
    cleared: str
    cleared_iot: str
    plate: str
    train: str
    other_train: str


class _Scenario:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t0 = 1_796_000_000_000 + rng.randrange(10**9)
        self.lines: list[str] = []

    def add(self, record: str, offset_min: float, **fields: object) -> None:
        at = self.t0 + int(offset_min * 60_000)
        value = {"event_id": str(uuid.uuid4()), "source": "test", "occurred_at": at, **fields}
        self.lines.append(json.dumps({"type": f"iotrack.{record}", "value": value}))

    def passage(self, offset_min: float, node: str, point: str, direction: str, itus) -> None:
        at = self.t0 + int(offset_min * 60_000)
        self.add(
            "Passage",
            offset_min,
            read_point_id=point,
            node_id=node,
            lane="1",
            direction=direction,
            started_at=at,
            ended_at=at + 1500,
            identifiers=itus,
            evidence=[],
            sensors_agree=True,
        )


def _publish(services, lines: list[str]) -> None:
    """Each input onto its topic as its party, then what the tracking core made of it onto
    theirs as the core."""
    out = AsWriters(services)
    state = CoreState()
    paths = (CHECKOUT / "deploy" / "mission-paths.jsonl").read_text().splitlines()
    for event in read_events([*paths, *lines]):
        topic = event.topic
        out.produce(
            topic.name,
            key=topic.key_of(event.value),
            value=CODEC.encode(event.schema, event.value),
        )
        state, outputs = apply(state, event.schema, event.value, event.sender)
        for output in outputs:
            if output.channel is Channel.REFUSALS or output.to is not None:
                continue
            target = CHANNEL_TOPICS[output.channel]
            if output.value is None or output.schema is None:
                out.produce(target.name, key=output.key.encode(), value=None)
            else:
                out.produce(
                    target.name,
                    key=target.key_of(output.value),
                    value=CODEC.encode(output.schema, output.value),
                )
        out.poll(0)
    assert out.flush(60) == 0


TRAIN_IOT_IDS = [str(uuid.uuid4()), str(uuid.uuid4())]


def _train(services, train: str, operator: str, at: int) -> None:
    out = AsWriters(services)
    for version in (1, 2):
        manifest = {
            "event_id": str(uuid.uuid4()),
            "source": operator,
            "occurred_at": at + version,
            "train_id": train,
            "version": version,
            "operator": operator,
            "wagons": [
                {
                    "position": 1,
                    "wagon_number": "218124712173",
                    "itus": [{"kind": "CONTAINER", "value": "CSQU3054383"}],
                    "mrns": [],
                }
            ],
            "supersedes_version": None if version == 1 else 1,
        }
        out.produce(
            catalog.MANIFESTS.name,
            key=catalog.MANIFESTS.key_of(manifest),
            value=CODEC.encode("iotrack.TrainManifest", manifest),
        )
    permission = {
        "event_id": str(uuid.uuid4()),
        "source": "customs",
        "occurred_at": at + 10,
        "train_id": train,
        "manifest_version": 2,
        "granted": False,
        "reasons": ["unit CSQU3054383 is not released"],
        "decided_by": "officer.rossi",
    }
    out.produce(
        catalog.PERMISSIONS.name,
        key=train.encode(),
        value=CODEC.encode("iotrack.PermissionToLeave", permission),
    )
    status = {
        "event_id": str(uuid.uuid4()),
        "source": "iotrack-core",
        "occurred_at": at + 10,
        "train_id": train,
        "operator": operator,
        "phase": "REFUSED",
        "manifest_version": 2,
        "manifest_versions": [1, 2],
        "permission_granted": False,
        "reasons": permission["reasons"],
        "units": 1,
        "units_ready": 0,
        "iot_ids": TRAIN_IOT_IDS,
        "exited": 0,
    }
    out.produce(
        catalog.TRAINS.name, key=train.encode(), value=CODEC.encode("iotrack.TrainStatus", status)
    )
    assert out.flush(60) == 0


@pytest.fixture(scope="module")
def day(services) -> Iterator[Day]:
    rng = random.Random()
    held, cleared = _container(rng), _container(rng)
    plate = f"{rng.choice('ABCDFGH')}{rng.choice('ABCDFGH')}{rng.randrange(100, 999)}XY"
    scenario = _Scenario(rng)
    mrns = {held: _mrn(rng), cleared: _mrn(rng)}
    for unit in (held, cleared):
        itus = [{"kind": "CONTAINER", "value": unit}]
        if unit == cleared:
            itus.append({"kind": "PLATE", "value": plate, "country": "IT"})
        scenario.add(
            "BindingRequested",
            0,
            request_id=f"TEST-{unit}",
            mrns=[mrns[unit]],
            mission_path_id="IMPORT-ROAD",
            itus=itus,
            requested_by="officer.rossi",
        )
    for n, unit in enumerate((held, cleared)):
        scenario.passage(
            10 + n,
            "TERMINAL-QUAY-1",
            "QUAY-1-CRANE-1",
            "IN",
            [{"kind": "CONTAINER", "value": unit}],
        )
    scenario.add(
        "HoldPlaced",
        30,
        iot_id="",  # filled below, once the IOT_ID is known
        hold_id="H-1",
        agency="CUSTOMS",
        hold_type="PHYSICAL_INSPECTION",
        reason_code="RISK-7",
        reason="risk profile match",
        placed_by="customs.duty",
    )
    hold_line = len(scenario.lines) - 1
    for n, unit in enumerate((held, cleared)):
        scenario.add(
            "CustomsRelease", 40 + n, iot_id="", mrn=mrns[unit], released_by="officer.rossi"
        )
    scenario.passage(
        120, "PORT-GATE-1", "PORT-GATE-1-L1", "OUT", [{"kind": "CONTAINER", "value": held}]
    )
    scenario.add(
        "DeclarationStatus",
        35,
        mrn=mrns[held],
        state="UNDER_CONTROL",
        procedure="R",
        declarant=None,
        note="scanner lane 2",
    )
    # The IOT_ID is derived from the request, so the core tells it: run once to learn it.
    state = CoreState()
    paths = (CHECKOUT / "deploy" / "mission-paths.jsonl").read_text().splitlines()
    iots: dict[str, str] = {}
    for event in read_events([*paths, *scenario.lines[:2]]):
        state, outputs = apply(state, event.schema, event.value, event.sender)
        for output in outputs:
            if output.schema == "iotrack.IotBound" and output.value is not None:
                iots[output.value["itus"][0]["value"]] = output.value["iot_id"]
    lines = []
    for number, line in enumerate(scenario.lines):
        document = json.loads(line)
        if "iot_id" in document["value"]:
            unit = held if number == hold_line else (held, cleared)[number - hold_line - 1]
            document["value"]["iot_id"] = iots[unit]
        lines.append(json.dumps(document))
    _publish(services, lines)
    train, other = f"TRAIN-{uuid.uuid4().hex[:6]}", f"TRAIN-{uuid.uuid4().hex[:6]}"
    _train(services, train, "op-one", scenario.t0)
    _train(services, other, "op-two", scenario.t0)

    database = contextlib.ExitStack()
    found = database.enter_context(scratch_database(services, "api"))
    url = found.database(Duty.PROJECTION).reveal()
    Projection(services.kafka(PROJECTION), url, CODEC).run(threading.Event(), until_end=True)
    gate = GateState(services.kafka(API), CODEC)
    gate.start()
    queries = Queries(found.database(Duty.API).reveal())
    server = make_server(Api(CREDENTIALS, queries, gate), "127.0.0.1", 0)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    serving.start()
    host, port = server.server_address[:2]
    try:
        yield Day(
            url,
            found.database(Duty.API).reveal(),
            f"http://{host!s}:{port}",
            held,
            iots[held],
            cleared,
            iots[cleared],
            plate,
            train,
            other,
        )
    finally:
        server.shutdown()
        serving.join(10)
        server.server_close()
        gate.stop()
        queries.close()
        database.close()


def _get(day: Day, path: str, who: str | None = "customs", **params: str):
    """(status, JSON body, headers) of a GET."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    request = urllib.request.Request(day.base + path + query)
    if who is not None:
        request.add_header("Authorization", f"Bearer {TOKENS.get(who, who)}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), error.headers


def test_a_request_without_valid_credentials_gets_401(day):
    for who in (None, "not-a-token-of-ours-at-all"):
        status, body, headers = _get(day, "/deviations", who)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert body["status"] == 401
    request = urllib.request.Request(day.base + "/deviations")
    request.add_header("Authorization", f"Basic {TOKENS['customs']}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    refused.value.close()


def test_a_forbidden_request_gets_403(day):
    assert _get(day, "/deviations", "terminal")[0] == 403
    assert _get(day, f"/iot/{day.held_iot}/timeline", "rail")[0] == 403
    assert _get(day, "/gate-check", "rail", container=day.held)[0] == 403
    assert _get(day, f"/trains/{day.train}", "terminal")[0] == 403


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/iot/not-a-uuid/timeline", {}, "iot_id"),
        ("/lookup", {"kind": "BOAT", "value": "X"}, "kind"),
        ("/lookup", {"kind": "CONTAINER"}, "value"),
        ("/lookup", {"kind": "CONTAINER", "value": "CSQU3054384"}, "value"),
        ("/lookup", {"kind": "PLATE", "value": "AB123CD"}, "country"),
        ("/lookup", {"kind": "PLATE", "value": "AB123CD", "country": "QQ"}, "country"),
        ("/lookup", {"kind": "CONTAINER", "value": "CSQU3054383", "country": "IT"}, "country"),
        ("/deviations", {"since": "yesterday"}, "since"),
        ("/deviations", {"limit": "0"}, "limit"),
        ("/deviations", {"after": "garbage"}, "after"),
        ("/deviations", {"kind": "LATE"}, "kind"),
        ("/gate-check", {}, "container"),
        ("/gate-check", {"plate": "AB123CD"}, "country"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(day, path, params, parameter):
    status, body, _ = _get(day, path, **params)
    assert status == 400
    assert body["parameter"] == parameter
    assert body["message"].startswith(f"{parameter}:")


def test_another_operators_train_answers_as_a_train_that_does_not_exist(day):
    status, body, _ = _get(day, f"/trains/{day.other_train}", "rail")
    missing = _get(day, "/trains/NO-SUCH-TRAIN-0", "rail")
    assert status == missing[0] == 404
    assert body["message"] == f"no train {day.other_train} in the projection"
    assert missing[1]["message"] == "no train NO-SUCH-TRAIN-0 in the projection"
    assert _get(day, f"/trains/{day.other_train}", "rail2")[0] == 200
    assert _get(day, f"/trains/{day.other_train}", "gdf")[0] == 200


class _Recorded(Queries):
    """Queries that note every statement they run, in order."""

    def __init__(self, url: str) -> None:
        super().__init__(url, size=1)
        self.statements: list[str] = []

    @contextlib.contextmanager
    def cursor(self):
        with super().cursor() as cursor:
            queries = self

            class Noted:
                def execute(self, sql, params=None):
                    queries.statements.append(str(sql))
                    return cursor.execute(sql, params)

                def __getattr__(self, name):
                    return getattr(cursor, name)

            yield Noted()


def test_another_operators_train_costs_what_a_train_that_does_not_exist_costs(day):
    queries = _Recorded(day.api_url)
    api = Api(CREDENTIALS, queries, None)
    operator = CREDENTIALS.principal(TOKENS["rail"])
    assert operator is not None
    answers = []
    paths = []
    try:
        for train in (day.other_train, f"NO-SUCH-{uuid.uuid4().hex[:6]}"):
            queries.statements.clear()
            with pytest.raises(NotFound) as refused:
                api.train(operator, train)
            answers.append(str(refused.value).replace(train, "T"))
            paths.append(list(queries.statements))
        queries.statements.clear()
        own = api.train(operator, day.train)
    finally:
        queries.close()
    assert paths[0] == paths[1], "the same queries, whether the train exists or not"
    assert len(paths[0]) == 1
    assert answers[0] == answers[1] == "no train T in the projection"
    assert own["operator"] == "op-one"
    assert len(queries.statements) > 1, "its own train: the whole document"


def test_unknown_resources_get_404(day):
    assert _get(day, f"/iot/{uuid.uuid4()}/timeline")[0] == 404
    assert _get(day, "/trains/NO-SUCH-TRAIN")[0] == 404
    status, body, _ = _get(day, "/nothing/here")
    assert status == 404
    assert "openapi" in body["message"]


def test_the_timeline_shows_the_path_crossings_holds_and_deviations_by_role(day):
    status, timeline, _ = _get(day, f"/iot/{day.held_iot}/timeline", "customs")
    assert status == 200
    assert timeline["mission_path_id"] == "IMPORT-ROAD"
    nodes = {n["node_id"]: n for n in timeline["nodes"]}
    assert list(nodes) == ["TERMINAL-QUAY-1", "PORT-GATE-1"]
    assert all(n["crossed"] for n in nodes.values())
    assert nodes["TERMINAL-QUAY-1"]["first_seen_at"] < nodes["PORT-GATE-1"]["first_seen_at"]
    assert [p["node_id"] for p in timeline["passages"]] == ["TERMINAL-QUAY-1", "PORT-GATE-1"]
    assert [t["version"] for t in timeline["transitions"]] == sorted(
        t["version"] for t in timeline["transitions"]
    )
    assert timeline["verdict"]["verdict"] == "HELD"
    [hold] = timeline["holds"]
    assert hold["reason_code"] == "RISK-7"
    assert hold["reason"] == "risk profile match"
    assert "EXIT_WHILE_HELD" in {d["kind"] for d in timeline["deviations"]}
    assert timeline["releases"][0]["mrn"]
    [declaration] = timeline["declarations"]
    assert declaration["mrn"] == timeline["binding"]["mrns"][0]
    assert (declaration["state"], declaration["note"]) == ("UNDER_CONTROL", "scanner lane 2")

    _, seen_by_gdf, _ = _get(day, f"/iot/{day.held_iot}/timeline", "gdf")
    assert "declarations" not in seen_by_gdf
    [hold] = seen_by_gdf["holds"]
    assert hold["agency"] == "CUSTOMS"
    assert "reason_code" not in hold
    assert "reason" not in hold
    assert "outcome" not in hold
    assert seen_by_gdf["deviations"] == timeline["deviations"]

    _, seen_by_terminal, _ = _get(day, f"/iot/{day.held_iot}/timeline", "terminal")
    assert "holds" not in seen_by_terminal
    assert "deviations" not in seen_by_terminal
    assert "declarations" not in seen_by_terminal
    assert seen_by_terminal["verdict"]["verdict"] == "HELD"
    assert "RISK-7" not in json.dumps(seen_by_terminal)
    assert "RISK-7" not in json.dumps(seen_by_gdf)


def test_lookup_finds_the_active_iot_id_and_its_verdict(day):
    status, found, _ = _get(day, "/lookup", "terminal", kind="CONTAINER", value=day.cleared)
    assert status == 200
    assert [a["iot_id"] for a in found["active"]] == [day.cleared_iot]
    assert found["verdict"]["verdict"] == "CLEARED"
    assert found["verdict"]["may_leave"] is True
    _, by_plate, _ = _get(day, "/lookup", kind="plate", value=day.plate.lower(), country="it")
    assert by_plate["itu"] == f"PLATE:IT:{day.plate}"
    assert [a["iot_id"] for a in by_plate["active"]] == [day.cleared_iot]
    assert by_plate["verdict"]["iot_id"] is None
    assert by_plate["verdict"]["carried"] == [
        {
            "iot_id": day.cleared_iot,
            "unit": f"CONTAINER:{day.cleared}",
            "verdict": "CLEARED",
            "may_leave": True,
            "reasons": [],
        }
    ]
    _, unknown, _ = _get(day, "/lookup", kind="CONTAINER", value=_container(random.Random()))
    assert unknown["active"] == []
    assert unknown["verdict"]["verdict"] == "UNKNOWN"
    _, held, _ = _get(day, "/lookup", "gdf", kind="CONTAINER", value=day.held)
    assert held["verdict"]["may_leave"] is False
    assert held["active"][0]["status"] == "AT_NODE"


def test_customs_finds_the_iot_id_of_its_binding_request(day):
    status, found, _ = _get(day, f"/bindings/TEST-{day.cleared}", "customs")
    assert status == 200
    assert found["iot_id"] == day.cleared_iot
    assert (found["mission_path_id"], found["active"]) == ("IMPORT-ROAD", True)
    assert {i["itu"] for i in found["itus"]} == {
        f"CONTAINER:{day.cleared}",
        f"PLATE:IT:{day.plate}",
    }
    assert _get(day, f"/bindings/TEST-{day.cleared}", "gdf")[0] == 200
    assert _get(day, f"/bindings/TEST-{day.cleared}", "terminal")[0] == 403
    status, missing, _ = _get(day, "/bindings/TEST-NEVER-SENT", "customs")
    assert status == 404
    assert "refused" in missing["message"]


def test_the_gate_check_answers_from_memory_with_reasons(day):
    status, held, _ = _get(day, "/gate-check", "terminal", container=day.held, gate="PORT-GATE-1")
    assert status == 200
    assert held["may_leave"] is False
    assert held["verdict"] == "HELD"
    assert held["iot_id"] == day.held_iot
    assert held["reasons"]
    assert held["gate"] == "PORT-GATE-1"
    assert "RISK-7" not in json.dumps(held)
    _, cleared, _ = _get(day, "/gate-check", "gdf", plate=day.plate, country="IT")
    assert cleared["may_leave"] is True
    assert cleared["iot_id"] is None  # a truck carries IOT_IDs; it is not bound to one
    assert [c["iot_id"] for c in cleared["carried"]] == [day.cleared_iot]
    assert cleared["carried"][0]["unit"] == f"CONTAINER:{day.cleared}"
    assert cleared["carried"][0]["may_leave"] is True
    _, unknown, _ = _get(day, "/gate-check", container="MSKU6011672")
    assert unknown["itu"] == "CONTAINER:MSKU6011672"
    with urllib.request.urlopen(day.base + "/metrics", timeout=10) as response:
        exposition = response.read().decode()
    assert "iotrack_gate_check_seconds_count" in exposition


def test_deviation_pages_stay_stable_while_rows_arrive(day):
    node = f"PAGE-NODE-{uuid.uuid4().hex[:6]}"
    start = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)

    def insert(minutes: list[float]) -> list[str]:
        ids = []
        with psycopg2.connect(day.projection_url) as db, db.cursor() as cursor:
            for minute in minutes:
                event = str(uuid.uuid4())
                ids.append(event)
                cursor.execute(
                    "INSERT INTO deviations (event_id, occurred_at, kind, severity, node_id, "
                    "expected, observed) VALUES (%s, %s, 'OVERDUE', 'WARNING', %s, 'e', 'o')",
                    (event, start + timedelta(minutes=minute), node),
                )
        db.close()
        return ids

    first = insert([m // 2 for m in range(25)])  # pairs share a time: event_id breaks the tie
    status, page, _ = _get(
        day, "/deviations", "gdf", node=node, limit="10", since=start.isoformat()
    )
    assert status == 200
    assert len(page["items"]) == 10
    assert page["has_more"] is True
    seen = [d["event_id"] for d in page["items"]]
    cursor = page["next_cursor"]
    # New rows arrive while the client pages: behind the cursor, at its time, and ahead.
    behind = insert([0, 1, 2])
    ahead = insert([100, 101])
    while cursor:
        status, page, _ = _get(
            day, "/deviations", "gdf", node=node, limit="10", since=start.isoformat(), after=cursor
        )
        assert status == 200
        seen += [d["event_id"] for d in page["items"]]
        cursor = page["next_cursor"] if page["has_more"] else None
    assert len(seen) == len(set(seen)), "no row twice"
    assert set(first) <= set(seen), "no row present at the start is skipped"
    assert set(ahead) <= set(seen), "rows arriving ahead of the cursor are reached"
    assert set(behind) <= set(seen), "rows arriving behind the cursor are reached too"
    assert not set(behind) & set(seen[:10])
    assert seen == [*first, *behind, *ahead], "in the order they were recorded"
    _, fresh, _ = _get(day, "/deviations", node=node, limit="500")
    assert [d["event_id"] for d in fresh["items"]] == seen
    assert len(seen) == 30
    _, kind_only, _ = _get(day, "/deviations", node=node, kind="overdue", limit="1")
    assert kind_only["items"][0]["kind"] == "OVERDUE"


def test_a_client_following_deviations_gets_rows_recorded_late_with_earlier_times(day):
    node = f"LATE-NODE-{uuid.uuid4().hex[:6]}"
    start = datetime(2027, 4, 1, 8, 0, tzinfo=UTC)

    def insert(minute: int, event: str) -> str:
        with psycopg2.connect(day.projection_url) as db, db.cursor() as cursor:
            cursor.execute(
                "INSERT INTO deviations (event_id, occurred_at, kind, severity, node_id, "
                "expected, observed) VALUES (%s, %s, 'OVERDUE', 'WARNING', %s, 'e', 'o')",
                (event, start + timedelta(minutes=minute), node),
            )
        db.close()
        return event

    handed = [insert(10, "ffffffff-0000-4000-8000-000000000000")]
    status, page, _ = _get(day, "/deviations", "gdf", node=node)
    assert status == 200
    assert [d["event_id"] for d in page["items"]] == handed
    cursor = page["next_cursor"]
    # Recorded after the cursor was handed out: an earlier event time, and the same time with
    # a smaller event id. Both sort before the last row by (occurred_at, event_id).
    late = [
        insert(5, str(uuid.uuid4())),
        insert(10, "00000000-0000-4000-8000-000000000000"),
    ]
    status, page, _ = _get(day, "/deviations", "gdf", node=node, after=cursor)
    assert status == 200
    assert [d["event_id"] for d in page["items"]] == late
    assert page["has_more"] is False
    # Nothing new: an empty page keeps the cursor, so the client polls on with it.
    status, empty, _ = _get(day, "/deviations", "gdf", node=node, after=page["next_cursor"])
    assert (status, empty["items"]) == (200, [])
    assert empty["next_cursor"] == page["next_cursor"]
    later = insert(1, str(uuid.uuid4()))
    _, polled, _ = _get(day, "/deviations", "gdf", node=node, after=empty["next_cursor"])
    assert [d["event_id"] for d in polled["items"]] == [later]


def test_a_barcode_passage_with_iot_ids_only_is_on_that_iot_ids_timeline(day, services):
    _, before, _ = _get(day, f"/iot/{day.cleared_iot}/timeline", "customs")
    # Within the IOT_ID's binding, as its own passages are: a millisecond after its first.
    first = min(datetime.fromisoformat(p["at"]) for p in before["passages"])
    at = int(first.timestamp() * 1000) + 1
    passage = {
        "event_id": str(uuid.uuid4()),
        "source": "fusion",
        "occurred_at": at,
        "read_point_id": "PORT-GATE-1-SCANNER",
        "node_id": "PORT-GATE-1",
        "lane": "1",
        "direction": "OUT",
        "started_at": at,
        "ended_at": at + 100,
        "identifiers": [],
        "iot_ids": [day.cleared_iot],
        "evidence": [],
        "sensors_agree": True,
    }
    out = AsWriters(services)
    out.produce(
        catalog.PASSAGES.name,
        key=catalog.PASSAGES.key_of(passage),
        value=CODEC.encode("iotrack.Passage", passage),
    )
    assert out.flush(30) == 0
    projection = Projection(
        services.kafka(PROJECTION), day.projection_url, CODEC, topics=(catalog.PASSAGES,)
    )
    projection.run(threading.Event(), until_end=True)
    status, timeline, _ = _get(day, f"/iot/{day.cleared_iot}/timeline", "customs")
    assert status == 200
    [found] = [p for p in timeline["passages"] if p["event_id"] == passage["event_id"]]
    assert found["node_id"] == "PORT-GATE-1"
    _, other, _ = _get(day, f"/iot/{day.held_iot}/timeline", "customs")
    assert passage["event_id"] not in {p["event_id"] for p in other["passages"]}


def test_the_timeline_lists_a_bounded_number_of_passages(day):
    queries = Queries(day.api_url)
    try:
        whole = queries.timeline(day.held_iot)
        assert len(whole["passages"]) >= 2
        assert whole["passages_truncated"] is False
        queries.timeline_passages = 1
        cut = queries.timeline(day.held_iot)
    finally:
        queries.close()
    assert cut["passages"] == whole["passages"][:1]
    assert cut["passages_truncated"] is True


def test_a_train_with_its_manifest_versions_and_permission(day):
    status, train, _ = _get(day, f"/trains/{day.train}", "rail")
    assert status == 200
    assert train["operator"] == "op-one"
    assert [m["version"] for m in train["manifests"]] == [1, 2]
    assert train["latest_manifest_version"] == 2
    assert train["permission"]["status"] == "REFUSED"
    assert train["permission"]["for_latest_manifest"] is True
    assert train["status"]["phase"] == "REFUSED"
    assert train["status"]["manifest_versions"] == [1, 2]
    assert train["status"]["iot_ids"] == TRAIN_IOT_IDS, "uuid[] read as UUIDs, not characters"
    assert _get(day, f"/trains/{day.other_train}", "rail2")[0] == 200
    assert _get(day, f"/trains/{day.other_train}", "customs")[0] == 200


def test_openapi_health_and_metrics_need_no_token(day):
    status, spec, _ = _get(day, "/openapi.json", None)
    assert status == 200
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    status, health, _ = _get(day, "/health", None)
    assert status == 200
    assert health == {
        "status": "ok",
        "database": "ok",
        "gate_state": "ready",
        "gate_state_skipped": health["gate_state_skipped"],
        "gate_state_last_skipped": health["gate_state_last_skipped"],
    }
    status, ready, _ = _get(day, "/ready", None)
    assert (status, ready["status"]) == (200, "ready"), ready
