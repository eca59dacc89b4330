"""The web console in a real browser: Debian's Chromium, headless, driven by Playwright, against
the query API's own application on a real broker set up as `iotrack up` makes it (every client
signed in as its party, the console as the query API), with the tracking core and the Postgres
projection running, and a real Postgres.

Each role signs in and sees what it may and nothing it may not (a terminal finds no hold reason
anywhere in the page source); the deviation feed shows a deviation published during the test
without a reload; an operator uploads a loading list and a manifest in the form (the query API
sends them on the operator's own topic, its declared gateway) and sees the readiness and the
permission to leave, live in another tab too, while a file naming another operator is not sent
and another operator neither sees the train nor sends for it; a form posted without its CSRF
token is refused; signing out ends the session.

With ``IOTRACK_CONSOLE_SCREENSHOTS=DIR`` the tests also write a screenshot of each page there
(``docs/console`` is made so); without it they write nothing.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api as playwright  # a dev dependency: missing, the tests fail

from processors.identifiers import container, mrn, wagon
from processors.ids import deterministic_uuid7
from processors.parties import Sender
from readers.rail_files import loading_list_items
from streams.http.api import Api, make_server
from streams.http.console import Console, Sessions, console_routes
from streams.http.errors import NotFound
from streams.http.queries import Queries
from streams.kafka.rail import submit_loading_list
from streams.kafka.reading import committed_up_to_end
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.local.runtime import Endpoints
from streams.ops.duties import Duty
from streams.ops.settings import CHECKOUT
from streams.replay.lines import read_events
from streams.replay.publish import publish
from streams.workers.core import GROUP, CoreWorker
from streams.workers.gate_state import GateState
from streams.workers.projection import Projection
from tests.integration.databases import scratch_database
from tests.integration.embedded import own_broker
from tests.tokens import credentials_of
from topics import catalog
from topics.codec import SingleObjectCodec
from topics.parties import API, CORE, PROJECTION

CHROMIUM = "/usr/bin/chromium"
CODEC = SingleObjectCodec()
T0 = int(time.time() * 1000) - 3_600_000
TOKENS = {
    "customs": "console-customs-token-01",
    "gdf": "console-gdf-token-000001",
    "terminal": "console-terminal-token-1",
    "rail": "console-rail-op1-token-1",
    "rail-two": "console-rail-op2-token-1",
}
CREDENTIALS = credentials_of(
    [
        f"{TOKENS['customs']} customs",
        f"{TOKENS['gdf']} gdf",
        f"{TOKENS['terminal']} terminal",
        f"{TOKENS['rail']} rail-operator op-one",
        f"{TOKENS['rail-two']} rail-operator op-two",
    ]
)
SECRET_CODE, SECRET_TEXT = "RISK-SECRET-7", "smuggling profile match"
"""A hold's reason code and text: Customs sees them, nobody else anywhere."""


def _unit(body: str) -> str:
    return body + container.check_digit(body)


HELD, CLEAR, FEED = _unit("CNSU100001"), _unit("CNSU100002"), _unit("CNSU100003")
RAIL_UNITS = [_unit(f"CNRU20000{n}") for n in (1, 2, 3, 4)]
WAGONS = [w + wagon.check_digit(w) for w in ("31801000001", "31801000002")]
PLATE = "AB123CD"
TRAIN, OTHER_TRAIN = "IT-CONSOLE-1", "IT-OTHER-9"
PARTIES = (Sender.rail_operator("op-one"), Sender.rail_operator("op-two"))


def declaration(unit: str) -> str:
    body = f"26IT{int(unit[4:10]):012d}R"
    return body + mrn.check_digit(body)


def line(record: str, n: int, **fields: Any) -> str:
    at = T0 + n * 1000
    value = {"event_id": deterministic_uuid7(at, "console", str(n)), "source": "test",
             "occurred_at": at, **fields}  # fmt: skip
    return json.dumps({"type": f"iotrack.{record}", "value": value})


def iot_of(n: int, unit: str) -> str:
    return deterministic_uuid7(T0 + n * 1000, "iot", f"C-{unit}")


def passage(n: int, node: str, point: str, direction: str, itus: list[dict[str, Any]]) -> str:
    at = T0 + n * 1000
    return line("Passage", n, read_point_id=point, node_id=node, lane="1", direction=direction,
                started_at=at, ended_at=at + 1500, identifiers=itus, evidence=[],
                sensors_agree=True)  # fmt: skip


def box(unit: str) -> dict[str, Any]:
    return {"kind": "CONTAINER", "value": unit}


def feed(found: Endpoints, lines: list[str]) -> None:
    """Publish the lines (each as its sender) and wait until the tracking core has taken them."""
    publish(found.kafka, CODEC, lines)
    names = {event.topic.name for event in read_events(lines)}
    topics = [catalog.topic_named(name) for name in sorted(names)]
    deadline = time.monotonic() + 60
    while not committed_up_to_end(found.kafka_admin(), f"{CORE.principal}.{GROUP}", topics):
        assert time.monotonic() < deadline, "the core worker did not take the events"
        time.sleep(0.2)


@dataclass
class Port:
    base: str
    found: Endpoints
    iots: dict[str, str]
    queries: Queries
    projection: Projection


def _scenario() -> tuple[list[list[str]], dict[str, str]]:
    """The port's morning in phases, each taken by the core before the next is published (the
    order across topics is the day's order)."""
    paths = [
        x
        for x in (CHECKOUT / "deploy" / "mission-paths.jsonl").read_text().splitlines()
        if x.strip() and not x.startswith("#")
    ]
    lines: list[str] = list(paths)
    phases = [lines]
    iots: dict[str, str] = {}
    road = [HELD, CLEAR, FEED]
    for n, unit in enumerate(road + RAIL_UNITS, start=1):
        iots[unit] = iot_of(n, unit)
        path = "RAIL-EXPORT" if unit in RAIL_UNITS else "IMPORT-ROAD"
        lines.append(
            line("BindingRequested", n, request_id=f"C-{unit}", mrns=[declaration(unit)],
                 itus=[box(unit)], mission_path_id=path, requested_by="officer.rossi")
        )  # fmt: skip
    lines = []
    phases.append(lines)
    for n, unit in enumerate(road + RAIL_UNITS, start=20):
        lines.append(line("CustomsRelease", n, iot_id=iots[unit], mrn=declaration(unit),
                          released_by="officer.rossi"))  # fmt: skip
    lines.append(
        line("HoldPlaced", 40, iot_id=iots[HELD], hold_id="H-1", agency="CUSTOMS",
             hold_type="PHYSICAL_INSPECTION", reason_code=SECRET_CODE, reason=SECRET_TEXT,
             placed_by="customs.duty")
    )  # fmt: skip
    lines.append(
        line("HoldPlaced", 41, iot_id=iots[FEED], hold_id="H-2", agency="CUSTOMS",
             hold_type="SCANNING", reason_code=SECRET_CODE, reason=SECRET_TEXT,
             placed_by="customs.duty")
    )  # fmt: skip
    lines = []
    phases.append(lines)
    for n, unit in enumerate(road, start=50):
        lines.append(passage(n, "TERMINAL-QUAY-1", "QUAY-1-CRANE-1", "IN", [box(unit)]))
    for n, unit in enumerate(RAIL_UNITS, start=60):
        lines.append(passage(n, "RAIL-YARD-1", "RAIL-YARD-1-OCR", "IN", [box(unit)]))
    # A truck leaves with the held container and the cleared one: an exit while held, and a
    # plate that carries both.
    truck = [box(HELD), box(CLEAR), {"kind": "PLATE", "value": PLATE, "country": "IT"}]
    phases.append([passage(70, "PORT-GATE-1", "PORT-GATE-1-L1", "OUT", truck)])
    return phases, iots


@pytest.fixture(scope="module")
def port(services, tmp_path_factory) -> Iterator[Port]:
    home = tmp_path_factory.mktemp("console")
    kafka = LocalKafka(home, base_port=free_port())
    stop, stopping = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    with contextlib.ExitStack() as stack:
        kafka.start()
        stack.callback(kafka.stop)
        found = own_broker(kafka, PARTIES)
        database = stack.enter_context(scratch_database(services, "console"))
        projection = Projection(
            found.kafka(PROJECTION), database.database(Duty.PROJECTION).reveal(), CODEC
        )
        workers = [CoreWorker(found.kafka(CORE), CODEC), projection]
        threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
        for thread in threads:
            thread.start()

        def joined() -> None:
            stop.set()
            for thread in threads:
                thread.join(30)
            workers.clear()
            gc.collect()  # the workers' clients go before the broker does

        stack.callback(joined)
        phases, iots = _scenario()
        for lines in phases:
            feed(found, lines)
        submit_loading_list(found.kafka(PARTIES[1]), CODEC, loading_list_items(f"unit\n{CLEAR}\n"),
                            train_id=OTHER_TRAIN, operator="op-two")  # fmt: skip
        gate = GateState(found.kafka(API), CODEC)
        gate.start()
        stack.callback(gate.stop)
        queries = Queries(database.database(Duty.API).reveal())
        stack.callback(queries.close)
        api = Api(CREDENTIALS, queries, gate)
        console = Console(
            api,
            Sessions(idle_s=600),
            kafka=found.kafka(API),
            codec=CODEC,
            status=lambda: {"problems": [], "topics": [], "kafka": None, "postgres": None},
            grafana_url="http://127.0.0.1:3000",
            core_metrics_url=f"http://127.0.0.1:{free_port()}/metrics",
            stopping=stopping,
            poll_s=0.2,
        )
        server = make_server(api, "127.0.0.1", 0, extra=(console_routes(console),),
                             stopping=stopping)  # fmt: skip
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()

        def served() -> None:
            stopping.set()
            server.shutdown()
            serving.join(10)
            server.server_close()

        stack.callback(served)
        host, bound = server.server_address[:2]
        deadline = time.monotonic() + 60
        while not projection.caught_up(for_s=1.0):
            assert time.monotonic() < deadline, "the projection did not catch up"
            time.sleep(0.2)
        yield Port(f"http://{host}:{bound}", found, iots, queries, projection)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1280, "height": 860})
    made.set_default_timeout(15_000)
    yield made
    made.close()


SHOTS = os.environ.get("IOTRACK_CONSOLE_SCREENSHOTS")


def shot(page: Any, name: str) -> None:
    """A screenshot of the page, only when asked (the tests write nothing otherwise)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in(context: Any, port: Port, who: str) -> Any:
    page = context.new_page()
    page.goto(f"{port.base}/console")
    assert page.url.endswith("/console/sign-in")
    page.get_by_label("Access token").fill(TOKENS[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert not page.url.endswith("/sign-in"), page.content()
    return page


def nav(page: Any) -> list[str]:
    return page.get_by_role("navigation", name="Pages").get_by_role("link").all_inner_texts()


def status_of(page: Any, url: str) -> int:
    answer = page.goto(url)
    return answer.status


def test_customs_sees_everything_of_an_iot_id_with_its_path_drawn(context, port):
    page = sign_in(context, port, "customs")
    assert page.url.endswith("/console/deviations")
    assert nav(page) == ["Deviations", "Gate check", "Search", "Trains", "Today", "Operations"]
    assert page.get_by_role("cell", name="EXIT_WHILE_HELD").count() >= 1
    shot(page, "customs-deviations")

    page.get_by_role("link", name="Search").click()
    page.get_by_label("Container, plate, MRN or IOT_ID").fill(declaration(HELD))
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=port.iots[HELD]).click()
    assert page.url.endswith(f"/console/iot/{port.iots[HELD]}")
    source = page.content()
    assert SECRET_CODE in source
    assert SECRET_TEXT in source
    picture = page.locator("svg.path")
    assert "Mission path IMPORT-ROAD" in picture.locator("title").text_content()
    assert picture.locator("g.node.crossed").count() == 2
    assert picture.locator("g.node.current").count() == 1
    assert "EXIT_WHILE_HELD" in picture.inner_html()
    assert "budget 72 h" in picture.inner_html()
    assert page.get_by_role("heading", name="Declarations").count() == 1
    shot(page, "customs-iot")

    page.goto(f"{port.base}/console/search?q={PLATE}&country=IT")
    shot(page, "customs-search")
    page.get_by_role("link", name="Today").click()
    assert page.get_by_test_id("dead-letter-total").inner_text().isdigit()
    shot(page, "customs-day")
    page.get_by_role("link", name="Operations").click()
    rows = {
        row.locator("td").first.inner_text(): row.inner_text()
        for row in page.get_by_test_id("processes").locator("tbody tr").all()
    }
    # The core and the projection run in this test's process: ready, and caught up.
    assert "ready" in rows["tracking core"]
    assert "holds its lock on the database" in rows["Postgres projection"]
    assert "ready" in rows["query API and console"]
    assert "down" in rows["passage fusion"]  # no fusion worker here
    assert page.get_by_role("link", name="iotrack: Customs").get_attribute("href") == (
        "http://127.0.0.1:3000/d/iotrack-customs"
    )
    shot(page, "operations")


def test_the_gdf_sees_holds_without_their_reasons(context, port):
    page = sign_in(context, port, "gdf")
    assert "Today" not in nav(page)
    page.goto(f"{port.base}/console/iot/{port.iots[HELD]}")
    source = page.content()
    assert "PHYSICAL_INSPECTION" in source
    assert SECRET_CODE not in source
    assert SECRET_TEXT not in source
    assert page.get_by_role("heading", name="Declarations").count() == 0
    assert status_of(page, f"{port.base}/console/day") == 403


def test_a_terminal_checks_a_truck_and_sees_no_hold_reason_anywhere(context, port):
    page = sign_in(context, port, "terminal")
    assert page.url.endswith("/console/gate")
    assert nav(page) == ["Gate check", "Search"]
    page.get_by_label("Container or plate").fill(PLATE)
    page.keyboard.press("Enter")
    answer = page.get_by_test_id("gate-answer")
    assert "may NOT leave" in answer.inner_text()
    carried = answer.get_by_role("table").inner_text()
    assert HELD in carried
    assert CLEAR in carried
    shot(page, "terminal-gate")
    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet at the gate
    assert page.get_by_label("Container or plate").is_visible()
    shot(page, "terminal-gate-tablet")
    page.set_viewport_size({"width": 1280, "height": 860})
    sources = [page.content()]
    for url in (
        f"/console/gate?code={HELD}",
        f"/console/iot/{port.iots[HELD]}",
        f"/console/search?q={HELD}",
    ):
        assert status_of(page, port.base + url) == 200
        sources.append(page.content())
    for source in sources:
        assert SECRET_CODE not in source
        assert SECRET_TEXT not in source
        assert "EXIT_WHILE_HELD" not in source  # deviations are not a terminal's
    for forbidden in ("/console/deviations", "/console/day", "/console/operations"):
        assert status_of(page, port.base + forbidden) == 403
        assert SECRET_CODE not in page.content()


def test_the_deviation_feed_shows_a_new_deviation_without_a_reload(context, port):
    page = sign_in(context, port, "customs")
    page.goto(f"{port.base}/console/deviations?kind=EXIT_WHILE_HELD")
    page.evaluate("window.notReloaded = true")
    page.locator(".live.connected").wait_for()
    new = page.locator(f'tbody a[href="/console/iot/{port.iots[FEED]}"]')
    assert new.count() == 0
    publish(port.found.kafka, CODEC, [passage(200, "PORT-GATE-1", "PORT-GATE-1-L2", "OUT",
                                            [box(FEED)])])  # fmt: skip
    published = time.monotonic()
    new.wait_for(timeout=10_000)
    assert time.monotonic() - published < 10
    assert page.evaluate("window.notReloaded") is True
    row = page.locator("tbody tr").first
    assert "EXIT_WHILE_HELD" in row.inner_text()
    assert row.locator(f'a[href="/console/iot/{port.iots[FEED]}"]').count() == 1


def _answered_lists(port: Port, train_id: str) -> int:
    try:
        return sum(1 for ll in port.queries.train(train_id)["loading_lists"] if ll["answered"])
    except NotFound:
        return 0


def upload(page: Any, train_id: str, what: str, file: Path) -> str:
    """Send ``file`` with the page's upload form; what the next page says of it."""
    page.get_by_label("Train", exact=True).fill(train_id)
    page.get_by_label(what, exact=True).check()
    page.get_by_label("File (CSV or JSON").set_input_files(str(file))
    # The console waits for the core's answer and the projection before it answers.
    with page.expect_navigation(timeout=60_000):
        page.get_by_role("button", name="Send").click()
    return page.get_by_role("status").inner_text()


def test_an_operator_uploads_a_loading_list_and_a_manifest_and_sees_the_permission(
    context, browser, port, tmp_path
):
    page = sign_in(context, port, "rail")
    assert page.url.endswith("/console/trains")
    assert nav(page) == ["Trains"]
    assert page.get_by_role("link", name=OTHER_TRAIN).count() == 0
    # A file that names another operator is not sent, whoever's session it comes from.
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"operator": "op-two", "items": [{"unit": RAIL_UNITS[0]}]}))
    refused = upload(page, TRAIN, "loading list", forged)
    assert "forged.json was not sent: the file names rail operator op-two" in refused
    assert page.url.endswith("/console/trains")  # no such train yet: the form again
    assert _answered_lists(port, TRAIN) == 0

    # Phase 1 in the CLI's CSV format: sent on op-one's own topic, answered per unit.
    listing = tmp_path / "list.csv"
    listing.write_text("unit,mrn\n" + "".join(f"{u},{declaration(u)}\n" for u in RAIL_UNITS))
    said = upload(page, TRAIN, "loading list", listing)
    assert said == f"Loading list list.csv sent for train {TRAIN}: 4 of 4 units Customs-ready."
    assert page.url.endswith(f"/console/trains/{TRAIN}")
    readiness = page.get_by_role("table").last.inner_text()
    assert all(u in readiness for u in RAIL_UNITS)
    assert "Permission to leave: PENDING" in page.get_by_test_id("permission").inner_text()

    # The train's page, open in another tab, follows what the manifest sent from this one does.
    watching = context.new_page()
    watching.goto(f"{port.base}/console/trains/{TRAIN}")
    watching.evaluate("window.notReloaded = true")
    watching.locator(".live.connected").wait_for()

    # Phase 2 in the CLI's JSON format: the permission to leave, decided by the core.
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"wagons": [
        {"position": p, "wagon_number": WAGONS[p - 1],
         "units": [{"unit": u, "mrn": declaration(u)} for u in RAIL_UNITS[2 * (p - 1): 2 * p]]}
        for p in (1, 2)
    ]}))  # fmt: skip
    said = upload(page, TRAIN, "manifest", manifest)
    granted = "permission to leave GRANTED."
    assert said == f"Manifest v1 (manifest.json) sent for train {TRAIN}: {granted}"
    page.get_by_test_id("permission").get_by_text("Permission to leave: GRANTED").wait_for()
    readiness = page.get_by_role("table").last.inner_text()
    assert all(u in readiness for u in RAIL_UNITS)
    shot(page, "operator-train")
    watching.get_by_test_id("permission").get_by_text("Permission to leave: GRANTED").wait_for()
    assert watching.evaluate("window.notReloaded") is True
    watching.close()
    page.get_by_role("link", name="Trains", exact=True).click()
    page.get_by_role("link", name=TRAIN).wait_for()
    shot(page, "operator-trains")
    assert status_of(page, f"{port.base}/console/trains/{OTHER_TRAIN}") == 404
    assert status_of(page, f"{port.base}/console/gate") == 403

    # Another operator neither sees op-one's train nor changes anything of it.
    other = browser.new_context(viewport={"width": 1280, "height": 860})
    other.set_default_timeout(15_000)
    try:
        theirs = sign_in(other, port, "rail-two")
        assert theirs.get_by_role("link", name=OTHER_TRAIN).count() == 1
        assert theirs.get_by_role("link", name=TRAIN).count() == 0
        assert status_of(theirs, f"{port.base}/console/trains/{TRAIN}") == 404
        theirs.goto(f"{port.base}/console/trains")
        before = _answered_lists(port, TRAIN)
        with theirs.expect_navigation():
            theirs.get_by_label("Train", exact=True).fill(TRAIN)
            theirs.get_by_label("loading list", exact=True).check()
            theirs.get_by_label("File (CSV or JSON").set_input_files(str(listing))
            theirs.get_by_role("button", name="Send").click()
        # Sent as any train of its would be; the core, whose the train is, refuses it.
        assert "the tracking core refused it" in theirs.content()
        assert "op-one" not in theirs.content()
        assert theirs.url == f"{port.base}/console/trains"
        assert _answered_lists(port, TRAIN) == before
        assert port.queries.train(TRAIN)["operator"] == "op-one"
    finally:
        other.close()


def test_a_form_without_its_csrf_token_is_refused_and_sign_out_ends_the_session(context, port):
    page = sign_in(context, port, "customs")
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["iotrack_console"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/console"
    refused = page.request.post(f"{port.base}/console/sign-out", form={})
    assert refused.status == 403
    assert "CSRF" in refused.text()
    forged = page.request.post(f"{port.base}/console/sign-out", form={"csrf": "x" * 43})
    assert forged.status == 403
    # Still signed in: nothing was done.
    assert status_of(page, f"{port.base}/console/deviations") == 200
    signed_out = context.new_page()
    answer = signed_out.request.post(
        f"{port.base}/console/sign-in", form={"token": TOKENS["customs"]}
    )
    assert answer.status == 403
    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/console/sign-in")
    page.goto(f"{port.base}/console/deviations")
    assert page.url.endswith("/console/sign-in")
    # The old cookie is worth nothing now, even presented again.
    context.add_cookies([{**session, "expires": -1}])
    page.goto(f"{port.base}/console/deviations")
    assert page.url.endswith("/console/sign-in")
    shot(page, "sign-in")
    # Over TLS (here: a proxy on loopback that says so) the cookies are Secure as well.
    tls = page.request.get(f"{port.base}/console/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in tls.headers["set-cookie"].lower()
    plain = page.request.get(f"{port.base}/console/sign-in")
    assert "secure" not in plain.headers["set-cookie"].lower()
    assert "httponly" in plain.headers["set-cookie"].lower()
