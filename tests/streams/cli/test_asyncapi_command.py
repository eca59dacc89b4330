"""``iotrack asyncapi``: the document on stdout, or in a file; no broker or database needed."""

from __future__ import annotations

import json

from streams.cli import main as cli
from topics import asyncapi


def test_it_prints_the_document(capsys):
    assert cli.main(["asyncapi"]) == 0
    assert capsys.readouterr().out == asyncapi.rendered()


def test_it_writes_the_file_it_is_given(tmp_path, capsys):
    target = tmp_path / "asyncapi.json"
    assert cli.main(["asyncapi", "--output", str(target)]) == 0
    assert json.loads(target.read_text())["asyncapi"] == "3.0.0"
    document = asyncapi.document()
    counts = f"{len(document['channels'])} channels, {len(document['operations'])} operations"
    assert capsys.readouterr().out == f"wrote {target}: {counts}\n"


def test_an_unwritable_file_is_one_line_and_exit_1(tmp_path, capsys):
    assert cli.main(["asyncapi", "--output", str(tmp_path / "missing" / "a.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("iotrack asyncapi: cannot write ")
    assert err.count("\n") == 1
