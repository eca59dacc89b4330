"""Every command, given bad input, exits 2 (1 for a failed check or run) with one line on
standard error naming the problem, and never a traceback.

The broker and database are given as unreachable addresses, so no command starts a local
service; each case fails before it would need one.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from streams.cli.main import main


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {
        "missing": tmp_path / "missing.jsonl",
        "not_utf8": tmp_path / "latin1.csv",
        "deep_json": tmp_path / "deep.json",
        "bad_line": tmp_path / "bad.jsonl",
        "good_payloads": tmp_path / "payloads.ndjson",
    }
    paths["not_utf8"].write_bytes(b"unit\n\xff\xfeCSQU3054383\n")
    paths["deep_json"].write_text("[" * 200_000)
    paths["bad_line"].write_text('{"type": "iotrack.Passage"}\n')
    paths["good_payloads"].write_text("{}\n")
    return {name: str(path) for name, path in paths.items()}


@pytest.fixture(autouse=True)
def unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("IOTRACK_KAFKA_USERNAME", "nobody")
    monkeypatch.setenv("IOTRACK_KAFKA_PASSWORD", "not-a-password")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("IOTRACK_HOME", str(tmp_path / "home"))
    for key in (
        "SCHEMA_REGISTRY_URL",
        "IOTRACK_API_TOKENS_FILE",
        "IOTRACK_KAFKA_PORT",
        "IOTRACK_KAFKA_TLS",
        "IOTRACK_KAFKA_CREDENTIALS_FILE",
        "IOTRACK_KAFKA_SECURITY",
        "IOTRACK_KAFKA_CA_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))


RAIL = ["--train", "IT-1", "--operator", "op"]
READER = ["reader", "run", "--kind", "ocr", "--read-point", "P-1", "--node", "GATE-1"]

CASES: list[tuple[str, list[str], int, str]] = [
    ("an unknown command", ["frobnicate"], 2, "invalid choice"),
    ("a number that is not one", ["up", "--nodes", "many"], 2, "invalid int value"),
    ("a metrics port that is not one", ["run", "--metrics-port", "x"], 2, "invalid int value"),
    ("an idle time that is not one", ["project", "--exit-when-idle", "soon"], 2, "invalid float"),
    ("an unknown simulation", ["simulate", "storm", "--out", "{tmp}"], 2, "invalid choice"),
    ("a demo option of the wrong type", ["demo", "--metrics-port", "x"], 2, "invalid int"),
    ("an unknown record", ["schemas", "archive", "iotrack.Nothing"], 2, "iotrack.Nothing"),
    ("a missing replay file", ["replay", "{missing}"], 2, "No such file"),
    ("a replay file that is not UTF-8", ["replay", "{not_utf8}"], 2, "not UTF-8"),
    ("a replay file nested too deeply", ["replay", "{deep_json}"], 2, "nested too deeply"),
    ("a replay line without its value", ["replay", "{bad_line}"], 2, "line 1"),
    ("a missing file to publish", ["publish", "{missing}"], 2, "No such file"),
    ("a missing reader capture", [*READER, "--input", "{missing}"], 2, "No such file"),
    (
        "a spool that cannot be created",
        [*READER, "--spool", "/proc/iotrack/spool.sqlite", "--input", "{good_payloads}"],
        1,
        "spool",
    ),
    ("a container failing its check digit", ["gate-check", "CONTAINER", "CSQU3054384"], 2, "check"),
    ("a plate without its country", ["gate-check", "PLATE", "AB123CD"], 2, "country"),
    ("an unknown identifier kind", ["validate", "boat", "X"], 2, "boat"),
    ("a loading list not in UTF-8", ["rail", "loading-list", "{not_utf8}", *RAIL], 2, "UTF-8"),
    ("a manifest nested too deeply", ["rail", "manifest", "{deep_json}", *RAIL], 2, "deeply"),
    ("a missing portal file", ["rail", "consist", "{missing}"], 2, "No such file"),
    ("a binding without units", ["bind", "--path", "IMPORT-ROAD"], 2, "--container"),
    ("a binding file that is not JSON", ["bind", "{not_utf8}"], 2, "UTF-8"),
    (
        "a binding of a bad container",
        ["bind", "--container", "CSQU3054384", "--path", "P"],
        2,
        "check",
    ),
    (
        "a rail version that is not one",
        ["rail", "manifest", "x", *RAIL, "--version", "v"],
        2,
        "int",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_its_exit_code(
    case: tuple[str, list[str], int, str],
    files: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _what, argv, code, says = case
    args = [a.format(tmp=tmp_path, **files) for a in argv]
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's usage errors
        status = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert status == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert says in lines[0]
    assert lines[0].startswith("iotrack")


def test_a_configuration_value_that_is_wrong_names_its_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IOTRACK_KAFKA_PORT", "eighty")
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "IOTRACK_KAFKA_PORT" in err[0]


def test_a_missing_api_tokens_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IOTRACK_API_TOKENS_FILE", str(tmp_path / "no-tokens"))
    assert main(["api", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "IOTRACK_API_TOKENS_FILE" in err[0]
