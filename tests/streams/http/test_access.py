"""Who sees what in the query API, cursors and credentials: the pure rules, no I/O."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.demo.dev_tokens import DEV_TOKENS, DEV_TOKENS_FILE
from streams.errors import ConfigError
from streams.http.access import (
    CUSTOMS_ONLY_HOLD_FIELDS,
    ENDPOINT_ROLES,
    BadParameter,
    Forbidden,
    Principal,
    Role,
    authorize,
    authorize_subscription,
    authorize_train,
    bearer,
    decode_cursor,
    encode_cursor,
    hold_view,
    no_nul,
    notification_view,
    parse_credentials,
    parse_limit,
    parse_time,
    parse_uuid,
    timeline_view,
    token_line,
)
from streams.http.tokens_file import is_public, load_credentials
from streams.ops.settings import load

CUSTOMS = Principal(Role.CUSTOMS)
GDF = Principal(Role.GDF)
TERMINAL = Principal(Role.TERMINAL)
RAIL = Principal(Role.RAIL_OPERATOR, "OP-1")
HOLD = {
    "agency": "CUSTOMS",
    "hold_id": "H-1",
    "hold_type": "PHYSICAL_INSPECTION",
    "open": True,
    "reason_code": "RISK-7",
    "reason": "risk profile match",
    "outcome": "discrepancy found",
}
TIMELINE = {
    "iot_id": "01a2121a-8e60-768b-8a86-0d95e63c54d4",
    "verdict": {"verdict": "HELD", "may_leave": False, "reasons": ["a hold is open"]},
    "holds": [HOLD],
    "releases": [{"mrn": "06DE586600006143E1"}],
    "deviations": [{"kind": "EXIT_WHILE_HELD"}],
    "declarations": [{"mrn": "06DE586600006143E1", "state": "UNDER_CONTROL", "note": "scan"}],
    "nodes": [],
}


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_a_cursor_decodes_to_the_sequence_number_it_was_made_from(sequence):
    cursor = encode_cursor(sequence)
    assert decode_cursor(cursor) == sequence
    assert "=" not in cursor  # URL-safe as it is


def _raw_cursor(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "x",
        "e30",
        "WzIsMSwiYSJd",
        "WzEsMSwibm90LWEtdXVpZCJd",
        "WzEsImEiLCJiIl0",
        "!!!",
        # The former (occurred_at, event_id) keyset's cursors are not accepted any more.
        _raw_cursor([1, 1_796_000_000_000_000, "01a2121a-8e60-7de2-862e-86fce5ec2598"]),
        _raw_cursor([2, -1]),
        _raw_cursor([2, 2**63]),
        _raw_cursor([2, True]),
        _raw_cursor([2, "12"]),
        "\x00",
    ],
)
def test_anything_else_is_a_bad_cursor_named_after_its_parameter(garbage):
    with pytest.raises(BadParameter) as refused:
        decode_cursor(garbage, "after")
    assert refused.value.parameter == "after"
    assert str(refused.value).startswith("after: ")


def test_each_endpoint_admits_the_roles_of_the_table():
    allowed = {
        (role, endpoint)
        for endpoint in ENDPOINT_ROLES
        for role in Role
        if _allowed(Principal(role, "OP-1" if role is Role.RAIL_OPERATOR else None), endpoint)
    }
    assert allowed == {
        (Role.CUSTOMS, "timeline"),
        (Role.GDF, "timeline"),
        (Role.TERMINAL, "timeline"),
        (Role.CUSTOMS, "binding"),
        (Role.GDF, "binding"),
        (Role.CUSTOMS, "lookup"),
        (Role.GDF, "lookup"),
        (Role.TERMINAL, "lookup"),
        (Role.CUSTOMS, "deviations"),
        (Role.GDF, "deviations"),
        (Role.CUSTOMS, "train"),
        (Role.GDF, "train"),
        (Role.RAIL_OPERATOR, "train"),
        (Role.CUSTOMS, "gate-check"),
        (Role.GDF, "gate-check"),
        (Role.TERMINAL, "gate-check"),
        # Every party manages its own subscriptions; what each may subscribe to is below.
        (Role.CUSTOMS, "subscriptions"),
        (Role.GDF, "subscriptions"),
        (Role.TERMINAL, "subscriptions"),
        (Role.RAIL_OPERATOR, "subscriptions"),
    }


def test_nobody_subscribes_to_more_than_its_role_may_read():
    allowed = set()
    for topic in ("deviations", "verdicts", "trains", "holds"):
        for role in Role:
            try:
                authorize_subscription(Principal(role, "OP-1"), topic)
            except Forbidden:
                continue
            allowed.add((role, topic))
    assert allowed == {
        (Role.CUSTOMS, "deviations"),
        (Role.GDF, "deviations"),
        (Role.CUSTOMS, "verdicts"),
        (Role.GDF, "verdicts"),
        (Role.TERMINAL, "verdicts"),
        (Role.CUSTOMS, "trains"),
        (Role.GDF, "trains"),
        (Role.RAIL_OPERATOR, "trains"),
    }
    for role, topic in allowed:
        readable = {"deviations": "deviations", "verdicts": "gate-check", "trains": "train"}
        assert _allowed(Principal(role, "OP-1"), readable[topic])


def test_notifications_carry_no_customs_only_field_for_anyone_but_customs():
    event = {"data": {"holds": [{"agency": "CUSTOMS", "reason_code": "RISK-7", "reason": "x",
                                 "outcome": "y", "hold_id": "H"}]}}  # fmt: skip
    for role in (Role.GDF, Role.TERMINAL, Role.RAIL_OPERATOR):
        assert notification_view(role, event) == {
            "data": {"holds": [{"agency": "CUSTOMS", "hold_id": "H"}]}
        }
    assert notification_view(Role.CUSTOMS, event) == event


def _allowed(principal: Principal, endpoint: str) -> bool:
    try:
        authorize(principal, endpoint)
    except Forbidden:
        return False
    return True


def test_a_rail_operator_sees_its_own_trains_only():
    authorize_train(RAIL, "OP-1")
    authorize_train(CUSTOMS, "OP-2")
    for operator in ("OP-2", None):
        with pytest.raises(Forbidden):
            authorize_train(RAIL, operator)
    with pytest.raises(Forbidden):
        authorize_train(TERMINAL, "OP-1")


def test_hold_reasons_are_for_customs_eyes_only():
    assert hold_view(CUSTOMS, HOLD) == HOLD
    for principal in (GDF, TERMINAL, RAIL):
        shown = hold_view(principal, HOLD)
        assert not set(CUSTOMS_ONLY_HOLD_FIELDS) & set(shown)
        assert shown["agency"] == "CUSTOMS"


def test_a_timeline_is_cut_to_the_role():
    assert timeline_view(CUSTOMS, TIMELINE) == TIMELINE
    gdf = timeline_view(GDF, TIMELINE)
    assert gdf["deviations"] == TIMELINE["deviations"]
    assert "reason_code" not in gdf["holds"][0]
    assert "RISK-7" not in repr(gdf)
    assert "declarations" not in gdf, "a control under way is Customs' to tell"
    terminal = timeline_view(TERMINAL, TIMELINE)
    assert terminal["verdict"] == TIMELINE["verdict"]
    assert not {"holds", "deviations", "releases", "declarations"} & set(terminal)
    assert "RISK-7" not in repr(terminal)
    with pytest.raises(Forbidden):
        timeline_view(RAIL, TIMELINE)


def test_a_terminal_sees_no_open_holds_in_the_timeline_verdict():
    open_hold = {"agency": "CUSTOMS", "hold_type": "PHYSICAL_INSPECTION", "hold_id": "H-1"}
    timeline = {**TIMELINE, "verdict": {**TIMELINE["verdict"], "open_holds": [open_hold]}}
    terminal = timeline_view(TERMINAL, timeline)
    assert "open_holds" not in terminal["verdict"]
    assert terminal["verdict"]["reasons"] == ["a hold is open"]
    assert "H-1" not in repr(terminal)
    assert timeline["verdict"]["open_holds"] == [open_hold], "the input is left as it was"
    for principal in (CUSTOMS, GDF):
        assert timeline_view(principal, timeline)["verdict"]["open_holds"] == [open_hold]


def test_credentials_map_tokens_to_roles_without_ever_showing_one():
    presented = "s3cret-token-abcdefgh"
    creds = parse_credentials(
        [
            "# a comment",
            "",
            token_line(presented, "customs", "officer-1"),
            token_line("another-token-0000001", "rail-operator", "op-desk", "op-9"),
        ]
    )
    assert creds.principal(presented) == Principal(Role.CUSTOMS, None, "officer-1")
    assert creds.principal("another-token-0000001").operator == "op-9"
    assert creds.principal("unknown-token-000000") is None
    assert creds.principal(presented.upper()) is None
    assert creds.principal(None) is None
    assert creds.roles() == {"customs": 1, "rail-operator": 1}
    assert presented not in repr(creds)
    assert presented not in repr(creds.principal(presented))


LINE = token_line("s3cret-token-abcdefgh", "customs", "desk")
DIGEST = LINE.split()[0]


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (["s3cret-token-abcdefgh customs desk"], "not a token in clear"),
        (["s3cret-token-abcdefgh customs"], "not a token in clear"),
        ([DIGEST[:-1] + " customs desk"], "expected a token's digest"),
        ([f"{DIGEST} admin desk"], "the role is not one of customs"),
        ([f"{DIGEST} s3cret-token-abcdefgh desk"], "the role is not one of"),
        ([f"# retired\u2028{DIGEST} customs desk"], "other than printable ASCII"),
        ([f"{DIGEST}\u00a0customs desk"], "other than printable ASCII"),
        ([f"{DIGEST} rail-operator desk"], "operator id is required"),
        ([f"{DIGEST} customs desk OP-1"], "allowed for no other role"),
        ([f"{DIGEST} customs Desk!"], "the name is not lower case letters"),
        ([f"{DIGEST} customs s3cret-token-abcdefgh!"], "the name is not lower case"),
        ([f"{DIGEST} rail-operator desk OP-ONE"], "not a rail operator's party name"),
        ([LINE, f"{DIGEST} gdf other"], "same token is listed twice"),
        ([LINE, token_line("other-token-00000001", "gdf", "desk")], "'desk' is listed twice"),
        ([f"{DIGEST} customs"], "expected sha256:DIGEST ROLE NAME"),
        (["# nothing"], "no credentials"),
    ],
)
def test_a_bad_tokens_file_is_refused_without_echoing_the_token(lines, problem):
    with pytest.raises(ConfigError) as refused:
        parse_credentials(lines, where="tokens.txt")
    assert problem in str(refused.value)
    assert "s3cret-token-abcdefgh" not in str(refused.value)


def test_the_bearer_scheme_is_read_case_insensitively():
    assert bearer("bearer abc") == "abc"
    assert bearer("Bearer   abc  ") == "abc"
    assert bearer("Bearer") is None
    assert bearer("Token abc") is None


def test_parameters_are_parsed_or_refused_by_name():
    assert parse_time("2026-11-25T08:00:00", "since") == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert parse_time("2026-11-25T09:00:00+01:00", "since") == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert parse_limit(None) == 100
    assert parse_limit("500") == 500
    assert parse_limit(" 7 ") == 7
    for bad in ("0", "501", "-1", "ten", "²", "1²", "٣", "1" * 5000, "\x00", "1\x00"):
        with pytest.raises(BadParameter, match=r"^limit: "):
            parse_limit(bad)
    with pytest.raises(BadParameter, match=r"^since: "):
        parse_time("last week", "since")
    assert parse_uuid("01A2121A-8E60-768B-8A86-0D95E63C54D4", "iot_id") == (
        "01a2121a-8e60-768b-8a86-0d95e63c54d4"
    )
    with pytest.raises(BadParameter, match=r"^iot_id: "):
        parse_uuid("42", "iot_id")
    assert no_nul("TRAIN-1", "train_id") == "TRAIN-1"
    with pytest.raises(BadParameter, match=r"^train_id: .*NUL") as refused:
        no_nul("TRAIN\x00", "train_id")
    assert refused.value.parameter == "train_id"


def test_the_dev_tokens_file_holds_the_digests_of_the_demos_public_tokens_only():
    credentials = load_credentials(DEV_TOKENS_FILE)
    assert set(credentials.roles()) == {role.value for role in Role}
    assert len(credentials.names()) == len(DEV_TOKENS)
    for dev in DEV_TOKENS:
        principal = credentials.principal(dev.token)
        assert principal == Principal(Role(dev.role), dev.operator, dev.name)
        assert dev.token not in DEV_TOKENS_FILE.read_text()
    assert is_public(DEV_TOKENS_FILE)
    assert "PUBLIC" in DEV_TOKENS_FILE.read_text()


def test_the_default_tokens_file_is_a_secret_of_the_home_not_the_public_one(tmp_path):
    home = tmp_path / "home"
    assert load({"IOTRACK_HOME": str(home)}).api_tokens_file == (
        home.resolve() / "secrets" / "api-tokens"
    )


def test_the_tokens_file_is_named_by_the_environment(tmp_path):
    named = tmp_path / "tokens"
    assert load({"IOTRACK_API_TOKENS_FILE": str(named)}).api_tokens_file == named
    with pytest.raises(ConfigError, match=r"IOTRACK_API_TOKENS_FILE=.*cannot read it"):
        load_credentials(named)
