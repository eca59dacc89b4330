"""Generated passwords: private files, made once, read back, refused when others could read."""

from __future__ import annotations

import stat

import pytest

from streams.errors import LocalServiceError
from streams.local.passwords import PasswordFiles


def test_a_password_is_made_once_in_a_private_file_and_read_back(tmp_path):
    files = PasswordFiles(tmp_path / "home" / "secrets" / "postgres")
    first = files.ensure("iotrack_api")
    assert stat.S_IMODE(files.path("iotrack_api").stat().st_mode) == 0o600
    for directory in (files.directory, files.directory.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert files.ensure("iotrack_api") == first, "re-used, not made again"
    assert files.read("iotrack_api") == first
    assert files.ensure("iotrack_owner") != first
    assert len(first.reveal()) >= 40
    assert first.reveal() not in repr(first)
    assert first.reveal() not in str(first)
    assert [p.name for p in sorted(files.directory.iterdir())] == [
        "iotrack_api.password",
        "iotrack_owner.password",
    ], "no staging file left behind"


def test_a_password_others_could_read_is_refused(tmp_path):
    files = PasswordFiles(tmp_path / "secrets" / "postgres")
    files.ensure("iotrack_api")
    files.path("iotrack_api").chmod(0o644)
    with pytest.raises(LocalServiceError, match=r"may be read by other users.*delete it"):
        files.read("iotrack_api")
    files.path("iotrack_api").chmod(0o600)
    files.directory.chmod(0o755)
    with pytest.raises(LocalServiceError, match="may be read by other users"):
        files.read("iotrack_api")


def test_no_password_yet_says_to_run_up(tmp_path):
    with pytest.raises(LocalServiceError, match="run 'iotrack up' first"):
        PasswordFiles(tmp_path / "secrets" / "postgres").read("iotrack_api")
    with pytest.raises(ValueError, match=r"is not a Postgres role.s name"):
        PasswordFiles(tmp_path).path("../etc/passwd")
