"""The web console's own rules, no browser: sessions and their expiry, CSRF tokens, who may open
which page, the mission path's picture, and an upload refused before anything is sent."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.http.access import Forbidden, Principal, Role, authorize_console, timeline_view
from streams.http.console.picture import mission_picture
from streams.http.console.sessions import CsrfRefused, Sessions, check_csrf
from streams.http.console.uploads import Upload, Uploads, loading_list_said, manifest_said
from streams.http.errors import NotFound
from streams.ops.settings import load
from topics.clients import KafkaConnection
from topics.codec import SingleObjectCodec
from topics.secret import Secret

CUSTOMS = Principal(Role.CUSTOMS)
TERMINAL = Principal(Role.TERMINAL)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_when_idle_too_long_and_its_use_keeps_it():
    clock = Clock()
    sessions = Sessions(idle_s=60, lifetime_s=3600, clock=clock)
    sid, session = sessions.start(CUSTOMS)
    clock.now += 50
    assert sessions.get(sid) is session
    clock.now += 50  # 100 s since sign-in, 50 s since the last use
    assert sessions.get(sid) is session
    clock.now += 61
    assert sessions.get(sid) is None
    assert len(sessions) == 0


def test_a_session_ends_at_its_lifetime_however_much_it_is_used():
    clock = Clock()
    sessions = Sessions(idle_s=60, lifetime_s=120, clock=clock)
    sid, _ = sessions.start(CUSTOMS)
    for _ in range(4):
        clock.now += 30
        assert sessions.get(sid) is not None
    clock.now += 30
    assert sessions.get(sid) is None


def test_signing_out_ends_the_session_and_a_live_stream_does_not_keep_it_alive():
    clock = Clock()
    sessions = Sessions(idle_s=60, clock=clock)
    sid, _ = sessions.start(CUSTOMS)
    other, _ = sessions.start(TERMINAL)
    clock.now += 59
    assert sessions.alive(other)
    clock.now += 2  # only `alive` was asked: not a use
    assert not sessions.alive(other)
    sessions.end(sid)
    assert sessions.get(sid) is None
    assert sessions.get("not-a-session-id") is None


def test_each_sign_in_gets_a_new_unguessable_id_and_csrf_token():
    sessions = Sessions(idle_s=60)
    ids = {sessions.start(CUSTOMS)[0] for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) >= 43 for i in ids)
    _, one = sessions.start(CUSTOMS)
    _, two = sessions.start(CUSTOMS)
    assert one.csrf != two.csrf


def test_the_oldest_session_goes_when_the_store_is_full():
    clock = Clock()
    sessions = Sessions(idle_s=600, clock=clock, limit=2)
    first, _ = sessions.start(CUSTOMS)
    clock.now += 1
    second, _ = sessions.start(CUSTOMS)
    clock.now += 1
    third, _ = sessions.start(CUSTOMS)
    assert len(sessions) == 2
    assert sessions.get(first) is None
    assert sessions.get(second) is not None
    assert sessions.get(third) is not None


@pytest.mark.parametrize("given", [None, "", "wrong-token", "x" * 43])
def test_a_form_without_the_right_csrf_token_is_refused(given):
    with pytest.raises(CsrfRefused, match="CSRF token is missing or wrong"):
        check_csrf("the-session-token-0123456789abcdefghijklmnopq", given)
    check_csrf("abc", "abc")
    assert issubclass(CsrfRefused, Forbidden)  # answered 403


def test_console_pages_follow_the_roles():
    for role in Role:
        who = Principal(role, "op" if role is Role.RAIL_OPERATOR else None)
        for page, allowed in (
            ("dead-letters", {Role.CUSTOMS}),
            ("waiting-inputs", {Role.CUSTOMS}),
            ("operations", {Role.CUSTOMS, Role.GDF}),
            ("train-upload", {Role.RAIL_OPERATOR}),
            ("deviations", {Role.CUSTOMS, Role.GDF}),
            ("gate-check", {Role.CUSTOMS, Role.GDF, Role.TERMINAL}),
        ):
            if role in allowed:
                authorize_console(who, page)
            else:
                with pytest.raises(Forbidden):
                    authorize_console(who, page)


def test_the_console_settings_are_read_once_and_checked():
    settings = load({"IOTRACK_CONSOLE_IDLE_MINUTES": "15", "IOTRACK_GRAFANA_URL": "http://g:3000/"})
    assert settings.console_idle_s == 900
    assert settings.grafana_url == "http://g:3000"
    assert settings.core_metrics_url == "http://127.0.0.1:9300/metrics"
    with pytest.raises(ConfigError, match="IOTRACK_CONSOLE_IDLE_MINUTES='0'"):
        load({"IOTRACK_CONSOLE_IDLE_MINUTES": "0"})
    with pytest.raises(ConfigError, match="IOTRACK_CORE_METRICS_URL='ftp://x'"):
        load({"IOTRACK_CORE_METRICS_URL": "ftp://x"})


TIMELINE = {
    "iot_id": "01a2121a-8e60-768b-8a86-0d95e63c54d4",
    "mission_path_id": "CORRIDOR-DRYPORT",
    "current_node_id": "PORT-GATE-1",
    "nodes": [
        {"node_id": "TERMINAL-QUAY-1", "name": "Quay 1", "kind": "TERMINAL",
         "role": "DEPARTURE", "time_budget_ms": None, "crossed": True,
         "first_seen_at": "2026-11-25T06:07:23Z", "last_seen_at": "2026-11-25T06:07:23Z",
         "expected_next": False, "deadline": None},
        {"node_id": "PORT-GATE-1", "name": "Gate 1", "kind": "PORT_GATE",
         "role": "INTERMEDIATE", "time_budget_ms": 86_400_000, "crossed": True,
         "first_seen_at": "2026-11-25T09:00:00Z", "last_seen_at": "2026-11-25T09:00:00Z",
         "expected_next": False, "deadline": None},
        {"node_id": "DRY-PORT-1", "name": "Dry port", "kind": "DRY_PORT",
         "role": "DESTINATION", "time_budget_ms": 14_400_000, "crossed": False,
         "first_seen_at": None, "last_seen_at": None, "expected_next": True,
         "deadline": "2026-11-25T13:00:00Z"},
    ],
    "off_path": [{"node_id": "RAIL-YARD-1", "first_seen_at": "2026-11-25T10:00:00Z",
                  "last_seen_at": "2026-11-25T10:00:00Z"}],
    "deviations": [
        {"kind": "EXIT_WHILE_HELD", "node_id": "PORT-GATE-1"},
        {"kind": "UNEXPECTED_NODE", "node_id": "RAIL-YARD-1"},
        {"kind": "OVERDUE", "node_id": None},
    ],
    "holds": [{"agency": "CUSTOMS", "reason_code": "RISK-7"}],
}  # fmt: skip


def test_the_picture_shows_nodes_crossed_expected_and_where_it_is_now():
    picture = mission_picture(TIMELINE)
    assert [(n.node_id, n.crossed, n.current, n.expected_next) for n in picture.nodes] == [
        ("TERMINAL-QUAY-1", True, False, False),
        ("PORT-GATE-1", True, True, False),
        ("DRY-PORT-1", False, False, True),
    ]
    assert [(leg.budget, leg.travelled) for leg in picture.legs] == [
        ("24 h", True),
        ("4 h", False),
    ]
    assert picture.nodes[1].first_seen == "25 Nov 09:00"
    assert picture.nodes[2].deadline == "25 Nov 13:00"
    assert picture.nodes[1].deviations == ("EXIT_WHILE_HELD",)
    off = {n.label: n.deviations for n in picture.off_path}
    assert off == {"RAIL-YARD-1": ("UNEXPECTED_NODE",), "not at a node": ("OVERDUE",)}
    assert picture.summary[1] == (
        "Gate 1: crossed, first seen 25 Nov 09:00, here now, deviations EXIT_WHILE_HELD"
    )


def test_the_picture_shows_what_the_reader_may_see_and_no_more():
    seen = timeline_view(TERMINAL, TIMELINE)
    picture = mission_picture(seen)
    assert all(not n.deviations for n in (*picture.nodes, *picture.off_path))
    assert "deviations" not in " ".join(picture.summary)


def _uploads(trains: list[str]) -> Uploads:
    """Uploads on a broker that is never reached: every case here is refused before sending."""
    nowhere = KafkaConnection("127.0.0.1:9", "service.api", Secret("unused"))

    def train(train_id: str) -> dict[str, object]:
        trains.append(train_id)
        raise NotFound(train_id)

    return Uploads(nowhere, SingleObjectCodec(), train, answer_timeout_s=1.0)


LIST_OF_OP_TWO = '{"operator": "op-two", "items": [{"unit": "TRLU1000018"}]}'
MANIFEST_FOR_IT_2 = "position,wagon_number,unit,train\n1,318344783416,TRLU1000018,IT-2\n"


@pytest.mark.parametrize(
    ("upload", "said"),
    [
        (
            Upload("op-one", "IT-1", "loading-list", "l.json", LIST_OF_OP_TWO),
            "l.json was not sent: the file names rail operator op-two: it is sent for op-one",
        ),
        (
            Upload("op-one", "IT-1", "manifest", "m.csv", MANIFEST_FOR_IT_2),
            "m.csv was not sent: the file names train IT-2, and it is sent for train IT-1",
        ),
        (
            Upload("op-one", "IT-1", "manifest", "m.csv", "unit\nTRLU1000018\n"),
            "m.csv was not sent: line 1: the header lacks the column(s) position, wagon_number",
        ),
        (
            Upload("OP 1", "IT-1", "loading-list", "l.csv", "unit\nTRLU1000018\n"),
            "l.csv was not sent: the operator id of this session's token is not a rail operator's",
        ),
    ],
)
def test_an_upload_refused_before_sending_says_why_and_touches_nothing(upload, said):
    looked_up: list[str] = []
    outcome = _uploads(looked_up).send(upload)
    assert not outcome.sent
    assert outcome.said.startswith(said), outcome.said
    assert not looked_up, "nothing sent, nothing awaited"


def test_what_the_page_says_of_the_cores_answers():
    answer = {"train_id": "IT-1", "items": [{"ready": True}, {"ready": True}]}
    assert loading_list_said("l.csv", answer) == (
        "Loading list l.csv sent for train IT-1: 2 of 2 units Customs-ready."
    )
    refused = {"train_id": "IT-1", "granted": False, "reasons": ["HELD: position 2"]}
    assert manifest_said("m.json", 3, refused) == (
        "Manifest v3 (m.json) sent for train IT-1: permission to leave REFUSED: HELD: position 2"
    )
