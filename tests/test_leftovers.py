"""The end-of-run check (tests/leftovers.py): a run that leaves a process running fails, names
it and stops it; a run that stops what it started passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.leftovers",
            "-p",
            "no:cacheprovider",
            "-q",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=CHECKOUT,
        env={"PATH": "/usr/bin:/bin", "IOTRACK_TEST_LEFTOVER_GRACE_S": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _running(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_run_that_leaves_a_detached_server_behind_fails_and_the_server_is_stopped(tmp_path):
    marker = f"left-behind-{uuid.uuid4().hex}"
    # As pg_ctl does: the server is a grandchild whose parent exits at once.
    result = _run(
        tmp_path,
        f"""
        import subprocess, sys

        def test_starts_a_server_and_forgets_it():
            subprocess.run(
                ["sh", "-c", f"{{sys.executable}} -c 'import time; time.sleep(300)' {marker} &"],
                check=True,
            )
        """,
    )
    assert result.returncode != 0, result.stdout
    assert "1 passed, 1 error" in result.stdout, result.stdout
    assert "were still running at its end" in result.stdout
    assert marker in result.stdout, "the process is named"
    deadline = time.monotonic() + 10
    while _running(marker):
        assert time.monotonic() < deadline, "the leftover was not stopped"
        time.sleep(0.1)


def test_a_run_that_stops_what_it_started_passes(tmp_path):
    result = _run(
        tmp_path,
        """
        import subprocess

        def test_starts_and_stops_a_process():
            process = subprocess.Popen(["sleep", "300"])
            process.terminate()
            process.wait()
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
