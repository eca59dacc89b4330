"""The official AsyncAPI parser (npm @asyncapi/parser, pinned in deploy/asyncapi) accepts the
committed docs/asyncapi.json, Avro payloads included, and refuses a broken one."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
FOLDER = CHECKOUT / "deploy" / "asyncapi"
DOCUMENT = CHECKOUT / "docs" / "asyncapi.json"


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: run 'make setup' (it installs npm as root)")
    if not (FOLDER / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(f"the AsyncAPI parser is not installed in {FOLDER}: run 'make setup'")
    return subprocess.run(
        [node, str(FOLDER / "check.js"), str(path)],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_parser_is_pinned_exactly_and_installed_as_locked():
    wanted = json.loads((FOLDER / "package.json").read_text())["dependencies"]
    locked = json.loads((FOLDER / "package-lock.json").read_text())["packages"]
    for name, version in wanted.items():
        assert version[0].isdigit(), f"{name} {version}: pin an exact version"
        assert locked[f"node_modules/{name}"]["version"] == version
        installed = FOLDER / "node_modules" / name / "package.json"
        if installed.exists():
            assert json.loads(installed.read_text())["version"] == version, "run 'make setup'"


def test_the_official_parser_accepts_the_committed_document():
    done = _check(DOCUMENT)
    assert done.returncode == 0, done.stderr + done.stdout
    channels = len(json.loads(DOCUMENT.read_text())["channels"])
    assert f"valid AsyncAPI 3.0.0: {channels} channels" in done.stdout


def test_the_check_refuses_a_broken_binding_and_a_broken_avro_schema(tmp_path):
    document = json.loads(DOCUMENT.read_text())
    document["channels"]["passages-v1"]["bindings"]["kafka"]["partitions"] = 0
    payload = document["components"]["schemas"]["iotrack.Passage"]["schema"]
    payload["fields"][0]["type"] = "iotrack.NoSuchType"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    done = _check(broken)
    assert done.returncode == 1, done.stdout
    errors = done.stderr.splitlines()
    assert any("/channels/passages-v1/bindings/kafka/partitions" in line for line in errors), errors
    assert any("undefined type name: iotrack.NoSuchType" in line for line in errors), errors
