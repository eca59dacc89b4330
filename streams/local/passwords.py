"""Generated passwords kept in files only their owner can read: one file per name, mode 0600,
in a directory of mode 0700.

A password is made once (``secrets.token_urlsafe``: 43 characters of the URL-safe alphabet, so
it goes into a ``postgresql://`` URL unquoted), on first use, and read back on every later one;
it is never logged or printed, and it travels as a :class:`~streams.ops.settings.Secret`.
A file that others could read (or a directory others could enter) is refused, not used: its
secret may be known, so the message says to delete it and get a new one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path

from streams.errors import LocalServiceError
from streams.ops.settings import Secret

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PasswordFiles:
    """The password files in ``directory`` (``<IOTRACK_HOME>/secrets/postgres``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        """Where ``name``'s password is kept."""
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a role name")
        return self.directory / f"{name}.password"

    def _check(self, path: Path, mode: int) -> None:
        found = path.stat()
        if stat.S_IMODE(found.st_mode) & 0o077:
            raise LocalServiceError(
                f"{path} may be read by other users (mode {stat.S_IMODE(found.st_mode):o}, "
                f"expected {mode:o}): its password may be known; delete it and run "
                "'iotrack up' to get a new one"
            )
        if found.st_uid != os.geteuid():
            raise LocalServiceError(
                f"{path} belongs to another user (uid {found.st_uid}): run iotrack as its "
                "owner, or delete it and run 'iotrack up' to get a new one"
            )

    def read(self, name: str) -> Secret:
        """The password of ``name``; LocalServiceError when none was made yet."""
        path = self.path(name)
        try:
            self._check(self.directory, 0o700)
            self._check(path, 0o600)
            value = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise LocalServiceError(
                f"no password for the Postgres role {name} in {self.directory}: "
                "run 'iotrack up' first"
            ) from None
        if not value:
            raise LocalServiceError(f"{path} is empty: delete it and run 'iotrack up' again")
        return Secret(value)

    def ensure(self, name: str) -> Secret:
        """The password of ``name``, made now (0600) when there is none yet."""
        path = self.path(name)
        for directory in (self.directory.parent, self.directory):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        if path.exists():
            return self.read(name)
        value = secrets.token_urlsafe(32)
        staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as out:
                out.write(value + "\n")
                out.flush()
                os.fsync(out.fileno())
            # A link fails when the name exists: of two `up`s at once, one password wins and
            # both use it.
            with contextlib.suppress(FileExistsError):
                os.link(staging, path)
        finally:
            staging.unlink(missing_ok=True)
        return self.read(name)
