"""Generated passwords kept in files only their owner can read: one file per name, mode 0600,
in a directory of mode 0700.

A password is made once (``secrets.token_urlsafe``: 43 characters of the URL-safe alphabet, so
it goes into a ``postgresql://`` URL unquoted), on first use, and read back on every later one;
it is never logged or printed, and it travels as a :class:`~streams.ops.settings.Secret`.
A file that others could read (or a directory others could enter) is refused, not used: its
secret may be known, so the message says to delete it and get a new one.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from streams.errors import LocalServiceError
from streams.ops.settings import Secret

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
"""A Postgres role's name."""
PRINCIPAL_NAME = re.compile(r"^[a-z][a-z0-9.-]*[a-z0-9]$")
"""A Kafka principal's name (``service.core``, ``rail-operator.tuscan-rail``, ``iotrack-admin``)."""


class MissingPassword(LocalServiceError):  # noqa: N818 (the name reads as the fault)
    """No password was made for this name yet."""


class PasswordFiles:
    """The password files in ``directory`` (``<IOTRACK_HOME>/secrets/postgres``, ``.../kafka``),
    for names of one kind (``what``: "Postgres role", "Kafka principal")."""

    def __init__(
        self, directory: Path, *, names: re.Pattern[str] = ROLE_NAME, what: str = "Postgres role"
    ) -> None:
        self.directory = directory
        self.names = names
        self.what = what

    def path(self, name: str) -> Path:
        """Where ``name``'s password is kept."""
        if not self.names.match(name):
            raise ValueError(f"{name!r} is not a {self.what}'s name")
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
            raise MissingPassword(
                f"no password for the {self.what} {name} in {self.directory}: "
                "run 'iotrack up' first"
            ) from None
        if not value:
            raise LocalServiceError(f"{path} is empty: delete it and run 'iotrack up' again")
        return Secret(value)

    def ensure(self, name: str) -> Secret:
        """The password of ``name``, made now (0600) when there is none yet."""
        return self.made(name)[0]

    def names_kept(self) -> list[str]:
        """Every name with a password file here, sorted."""
        if not self.directory.is_dir():
            return []
        found = (p.name.removesuffix(".password") for p in self.directory.glob("*.password"))
        return sorted(n for n in found if self.names.match(n))

    def made(self, name: str) -> tuple[Secret, bool]:
        """The password of ``name``, and whether it was made now (0600) because there was none
        (the one moment a new party's secret may be shown)."""
        path = self.path(name)
        for directory in (self.directory.parent, self.directory):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        if path.exists():
            return self.read(name), False
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
            try:
                os.link(staging, path)
                linked = True
            except FileExistsError:
                linked = False
        finally:
            staging.unlink(missing_ok=True)
        return self.read(name), linked
