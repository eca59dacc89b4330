"""After `iotrack demo --keep-running`, `iotrack api` answers for the units the demo produced."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from streams.local.processes import free_port, port_accepts
from tests.integration.embedded import embedded_home, stop_child

CHECKOUT = Path(__file__).resolve().parents[2]
HOLDERS = {
    "customs": ("customs",),
    "gdf": ("gdf",),
    "terminal": ("terminal",),
    "rail": ("rail-operator", "--operator", "tuscan-rail"),
    "other-rail": ("rail-operator", "--operator", "other-rail"),
}
"""Who gets a token from 'iotrack api tokens add' (the demo's train is tuscan-rail's)."""
TOKENS: dict[str, str] = {}


def _add_token(cli: list[str], env: dict[str, str], who: str) -> str:
    role, *operator = HOLDERS[who]
    made = subprocess.run(
        [*cli, "api", "tokens", "add", role, f"{who}-desk", *operator],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    first = made.stdout.splitlines()[0]
    assert "shown this once" in first, made.stdout
    return first.rsplit(": ", 1)[1]


def _get(base: str, path: str, who: str) -> tuple[int, dict]:
    request = urllib.request.Request(base + path)
    request.add_header("Authorization", f"Bearer {TOKENS[who]}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_the_api_answers_for_the_demo_units_after_the_demo(tmp_path):
    cli = [sys.executable, "-m", "streams.cli"]
    # Whatever happens, what the test started is stopped: the API first, then the broker
    # and database the demo left running (iotrack down, or each directly should it fail).
    with contextlib.ExitStack() as started:
        env = started.enter_context(embedded_home(tmp_path / "home"))
        demo = subprocess.run(
            [*cli, "demo", "--json", "--keep-running"],
            cwd=CHECKOUT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert demo.returncode == 0, demo.stderr[-3000:]
        summary = json.loads(demo.stdout)
        example = summary["try_the_api"]
        TOKENS.update({who: _add_token(cli, env, who) for who in HOLDERS})
        tokens_file = Path(env["IOTRACK_HOME"]) / "secrets" / "api-tokens"
        assert oct(tokens_file.stat().st_mode & 0o777) == "0o600"
        assert not any(token in tokens_file.read_text() for token in TOKENS.values())
        port = free_port()
        api = subprocess.Popen(
            [*cli, "api", "--port", str(port)],
            cwd=CHECKOUT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.callback(api.stdout.close)
        started.callback(stop_child, api)
        deadline = time.monotonic() + 120
        while not port_accepts(port):
            assert api.poll() is None, api.stdout.read().decode() if api.stdout else ""
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        iot, unit = example["iot_id"], example["container"]

        status, timeline = _get(base, f"/iot/{iot}/timeline", "customs")
        assert status == 200
        assert [n["crossed"] for n in timeline["nodes"]] == [True, True]
        assert timeline["verdict"]["verdict"] == "HELD"
        assert any(h["open"] and h["reason_code"] for h in timeline["holds"])
        assert "EXIT_WHILE_HELD" in {d["kind"] for d in timeline["deviations"]}

        status, found = _get(base, f"/lookup?kind=CONTAINER&value={unit}", "terminal")
        assert status == 200
        assert [a["iot_id"] for a in found["active"]] == [iot]

        status, gate = _get(base, f"/gate-check?container={unit}", "terminal")
        assert status == 200
        assert gate["may_leave"] is False
        assert gate["reasons"]

        status, page = _get(base, "/deviations?kind=UNKNOWN_UNIT&limit=2", "gdf")
        assert status == 200
        assert len(page["items"]) == 2
        status, rest = _get(
            base, f"/deviations?kind=UNKNOWN_UNIT&after={page['next_cursor']}", "gdf"
        )
        assert status == 200
        assert {d["event_id"] for d in rest["items"]}.isdisjoint(
            d["event_id"] for d in page["items"]
        )

        train = summary["train"]["train_id"]
        status, found = _get(base, f"/trains/{train}", "rail")
        assert status == 200, found
        assert [m["version"] for m in found["manifests"]] == summary["train"]["manifest_versions"]
        assert found["status"]["phase"] == summary["train"]["phase"]
        # Another operator's train answers as one that does not exist.
        assert _get(base, f"/trains/{train}", "other-rail")[0] == 404

        # The demo's projection let go of the database when the demo exited: a projection
        # and a rebuild may run now, one after the other.
        for command in (["project", "--exit-when-idle", "1"], ["projection", "rebuild"]):
            ran = subprocess.run(
                [*cli, *command],
                cwd=CHECKOUT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert ran.returncode == 0, ran.stderr[-3000:]
        assert _get(base, f"/iot/{iot}/timeline", "customs")[0] == 200
