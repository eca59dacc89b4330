"""``iotrack api tokens``: a token is printed once, only its digest is kept, in a file nobody
else may read; the API signs in whoever holds a listed token and nobody once it is revoked."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.errors import ConfigError
from streams.http.access import Principal, Role, token_line
from streams.http.tokens_file import (
    DEV_TOKENS_FILE,
    add_token,
    listed,
    load_credentials,
    revoke_token,
)


def test_an_added_token_signs_in_and_only_its_digest_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "api-tokens"
    token = add_token(path, Role.RAIL_OPERATOR, "ops-desk", "tuscan-rail").reveal()
    other = add_token(path, Role.TERMINAL, "gate-3", None).reveal()
    assert len(token) >= 43
    assert token != other
    text = path.read_text()
    assert token not in text
    assert other not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    credentials = load_credentials(path)
    assert credentials.principal(token) == Principal(Role.RAIL_OPERATOR, "tuscan-rail", "ops-desk")
    assert credentials.principal(other) == Principal(Role.TERMINAL, None, "gate-3")
    assert [p.name for p in listed(path)] == ["ops-desk", "gate-3"]


def test_a_revoked_token_signs_in_nobody_and_the_others_stay(tmp_path: Path) -> None:
    path = tmp_path / "api-tokens"
    gone = add_token(path, Role.CUSTOMS, "officer-1", None).reveal()
    kept = add_token(path, Role.GDF, "patrol", None).reveal()
    assert revoke_token(path, "officer-1").role is Role.CUSTOMS
    credentials = load_credentials(path)
    assert credentials.principal(gone) is None
    assert credentials.principal(kept) is not None
    with pytest.raises(ConfigError, match="no token of that name"):
        revoke_token(path, "officer-1")
    with pytest.raises(ConfigError, match="last token"):
        revoke_token(path, "patrol")


def test_adds_at_the_same_time_lose_no_line(tmp_path: Path) -> None:
    path = tmp_path / "api-tokens"
    made: dict[str, str] = {}

    def add(number: int) -> None:
        made[f"desk-{number}"] = add_token(path, Role.TERMINAL, f"desk-{number}", None).reveal()

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    credentials = load_credentials(path)
    assert {credentials.principal(t).name for t in made.values()} == set(made)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("role", "name", "operator", "problem"),
    [
        (Role.CUSTOMS, "Officer 1", None, "NAME='Officer 1'"),
        (Role.RAIL_OPERATOR, "desk", None, "--operator: required"),
        (Role.TERMINAL, "desk", "tuscan-rail", "allowed for no other role"),
        (Role.RAIL_OPERATOR, "desk", "two words", "party name"),
        (Role.RAIL_OPERATOR, "desk", "Tuscan-Rail", "party name"),
    ],
)
def test_a_bad_token_request_is_refused_by_name_and_writes_nothing(
    tmp_path: Path, role: Role, name: str, operator: str | None, problem: str
) -> None:
    path = tmp_path / "api-tokens"
    with pytest.raises(ConfigError, match=problem):
        add_token(path, role, name, operator)
    assert not path.exists()


def test_a_name_is_one_holders(tmp_path: Path) -> None:
    path = tmp_path / "api-tokens"
    add_token(path, Role.TERMINAL, "gate-3", None)
    with pytest.raises(ConfigError, match="revoke it first"):
        add_token(path, Role.CUSTOMS, "gate-3", None)


def test_the_public_development_file_is_never_written() -> None:
    before = DEV_TOKENS_FILE.read_bytes()
    with pytest.raises(ConfigError, match="public tokens file"):
        add_token(DEV_TOKENS_FILE, Role.CUSTOMS, "intruder", None)
    assert DEV_TOKENS_FILE.read_bytes() == before


def test_the_command_prints_the_token_once_and_the_api_would_accept_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IOTRACK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("IOTRACK_API_TOKENS_FILE", raising=False)
    assert main(["api", "tokens", "add", "terminal", "gate-3"]) == 0
    printed = capsys.readouterr().out
    token = printed.splitlines()[0].rsplit(": ", 1)[1]
    path = (tmp_path / "home").resolve() / "secrets" / "api-tokens"
    assert load_credentials(path).principal(token) == Principal(Role.TERMINAL, None, "gate-3")
    assert main(["api", "tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert "gate-3" in listing
    assert token not in listing
    assert main(["api", "tokens", "add", "rail-operator", "desk"]) == 2
    assert "--operator" in capsys.readouterr().err


def test_a_credential_hidden_behind_a_unicode_line_break_is_refused(tmp_path: Path) -> None:
    """What a person or ``grep '^sha256'`` reads as a comment is not a token to the API."""
    path = tmp_path / "api-tokens"
    add_token(path, Role.TERMINAL, "gate-3", None)
    hidden = token_line("planted-token-000000001", "customs", "zz")
    with path.open("a", encoding="utf-8") as out:
        out.write(f"# retired, do not use\u2028{hidden}\n")
    with pytest.raises(ConfigError, match="line 4: a character other than printable ASCII"):
        load_credentials(path)
