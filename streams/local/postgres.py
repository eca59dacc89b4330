"""A local PostgreSQL cluster from Debian's packages, in a project-local data folder, with
roles by duty and no password-less way in.

Layout under ``<IOTRACK_HOME>``: ``postgres/data/`` (the cluster), ``postgres/run/`` (its Unix
socket, mode 0700), ``postgres/postgres.log``, ``postgres/superuser`` (the name of the cluster's
bootstrap superuser); the duty roles' passwords in ``secrets/postgres/<role>.password`` (0600,
directories 0700), generated at the first ``start`` and read back at every later one.

It listens on 127.0.0.1 only. Who may connect, and how, is :mod:`streams.local.postgres_access`:
the duty roles with ``scram-sha-256`` on loopback, the superuser by ``peer`` on the socket for
``iotrack up`` alone, no ``trust`` anywhere (``password_encryption`` is ``scram-sha-256``).

Postgres refuses to run as root; when iotrack runs as root (CI, containers) the cluster is
owned by and run as the ``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from streams.errors import LocalServiceError
from streams.local import postgres_access, system_packages
from streams.local.passwords import PasswordFiles
from streams.local.processes import port_accepts, port_in_use_error
from streams.ops.duties import Duty
from streams.ops.settings import Secret

if TYPE_CHECKING:
    import psycopg2.extensions

DB_NAME = "iotrack"
SUPERUSER = "postgres"
"""The bootstrap superuser of a cluster made by this release (``initdb -U``)."""
LEGACY_SUPERUSER = "iotrack"
"""The bootstrap superuser of a cluster made before roles by duty (it had ``trust``)."""
SERVICE_USER = "postgres"
DEBIAN_BIN = Path("/usr/lib/postgresql")
_SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def _is_root() -> bool:
    return os.geteuid() == 0


def _bindir_candidates() -> list[Path]:
    found = [p.parent for p in DEBIAN_BIN.glob("*/bin/pg_ctl")]
    found.sort(key=lambda d: int(re.sub(r"\D", "", d.parent.name) or 0), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    return found


def _install_packages(log: Path) -> None:
    system_packages.ensure(
        ("postgresql",), log=log, otherwise="set DATABASE_URL to a running database"
    )


def find_bindir(log: Path) -> Path:
    """The directory of ``initdb``/``pg_ctl``, installing Debian's packages if they are absent."""
    candidates = _bindir_candidates()
    if not candidates:
        _install_packages(log)
        candidates = _bindir_candidates()
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise LocalServiceError(
        "PostgreSQL's initdb and pg_ctl were not found after installing: install the "
        "'postgresql' package or set DATABASE_URL",
        log,
    )


def _socket_dir(root: Path, data: Path, port: int) -> Path:
    """``root/run``, or a short folder in the temporary directory when a deep IOTRACK_HOME would
    make the socket's path longer than a Unix socket address holds."""
    preferred = root / "run"
    if len(str(preferred / f".s.PGSQL.{port}")) <= _SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(data).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"iotrack-pg-{digest}"


class LocalPostgres:
    """Initialise, start and stop the local cluster; create its roles by duty and the
    ``iotrack`` database owned by the owner role."""

    def __init__(self, home: Path, *, port: int = 15432) -> None:
        self.root = home / "postgres"
        self.port = port
        self.data = self.root / "data"
        self.socket_dir = _socket_dir(self.root, self.data, port)
        self.log = self.root / "postgres.log"
        self.passwords = PasswordFiles(home / "secrets" / "postgres")
        self._superuser_file = self.root / "superuser"

    def url(self, duty: Duty, database: str = DB_NAME) -> Secret:
        """The URL ``duty``'s processes connect with (its role and password, on loopback);
        LocalServiceError when ``start`` never made its password."""
        password = self.passwords.read(duty.role).reveal()
        return Secret(f"postgresql://{duty.role}:{password}@127.0.0.1:{self.port}/{database}")

    def address(self, database: str = DB_NAME) -> str:
        """Where the database is, without credentials, for messages."""
        return f"postgresql://127.0.0.1:{self.port}/{database}"

    def superuser(self) -> str:
        """The cluster's bootstrap superuser (a cluster from an older release has its own)."""
        with contextlib.suppress(FileNotFoundError):
            return self._superuser_file.read_text(encoding="utf-8").strip()
        return LEGACY_SUPERUSER if (self.data / "PG_VERSION").exists() else SUPERUSER

    def _admin_os_users(self) -> list[str]:
        if _is_root():
            return [SERVICE_USER, "root"]
        return [getpass.getuser()]

    def _as_service_user(self, command: list[str]) -> list[str]:
        if not _is_root():
            return command
        return ["runuser", "-u", SERVICE_USER, "--", *command]

    def _prepare_root_ownership(self) -> None:
        try:
            service = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise LocalServiceError(
                f"running as root, but the '{SERVICE_USER}' system user that Postgres must run "
                "as does not exist: reinstall the 'postgresql' package or run iotrack as a "
                "normal user"
            ) from None
        # The service user must be able to reach the data folder through every parent.
        for parent in reversed(self.root.parents):
            mode = parent.stat().st_mode
            if mode & stat.S_IXOTH:
                continue
            if parent.stat().st_uid == os.geteuid() and self.root.is_relative_to(parent):
                parent.chmod(mode | stat.S_IXOTH)
            else:
                raise LocalServiceError(
                    f"{parent} cannot be entered by the '{SERVICE_USER}' user that Postgres runs "
                    "as: choose another IOTRACK_HOME"
                )
        for directory in (self.root, self.data, self.socket_dir):
            os.chown(directory, service.pw_uid, service.pw_gid)
        self.log.touch()
        os.chown(self.log, service.pw_uid, service.pw_gid)

    def _prepare_socket_dir(self) -> None:
        """The socket's folder; one in the temporary directory must be ours alone."""
        if self.socket_dir.parent == self.root:
            self.socket_dir.mkdir(exist_ok=True)
            return
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        owner = pwd.getpwnam(SERVICE_USER).pw_uid if _is_root() else os.geteuid()
        found = self.socket_dir.lstat()
        if not stat.S_ISDIR(found.st_mode) or found.st_uid not in (owner, os.geteuid()):
            raise LocalServiceError(
                f"{self.socket_dir} (the local Postgres socket's folder) belongs to another "
                "user: remove it, or choose a shorter IOTRACK_HOME"
            )
        self.socket_dir.chmod(0o700)

    def _write_config(self, name: str, text: str) -> bool:
        """Write a file of the cluster's configuration; True when it changed."""
        path = self.data / name
        with contextlib.suppress(FileNotFoundError):
            if path.read_text(encoding="utf-8") == text:
                return False
        staging = path.with_name(f".{name}.iotrack")
        staging.write_text(text, encoding="utf-8")
        staging.chmod(0o600)
        if _is_root():
            service = pwd.getpwnam(SERVICE_USER)
            os.chown(staging, service.pw_uid, service.pw_gid)
        staging.replace(path)
        return True

    def _write_access(self) -> bool:
        superuser = self.superuser()
        self._superuser_file.write_text(superuser + "\n", encoding="utf-8")
        hba = self._write_config("pg_hba.conf", postgres_access.hba(superuser))
        ident = self._write_config(
            "pg_ident.conf", postgres_access.ident(superuser, self._admin_os_users())
        )
        return hba or ident

    def server_options(self) -> str:
        """The options ``pg_ctl start -o`` passes to the server."""
        return (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c password_encryption=scram-sha-256 -c unix_socket_permissions=0700"
        )

    def running(self) -> bool:
        """True when ``pg_ctl status`` finds the cluster's postmaster alive."""
        if not (self.data / "PG_VERSION").exists():
            return False
        bindir = next(iter(_bindir_candidates()), None)
        if bindir is None:
            return False
        result = subprocess.run(
            self._as_service_user([str(bindir / "pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def start(self, timeout: int = 60) -> None:
        """Initialise (once) and start the cluster, then create (or correct) the roles by duty
        and the database; idempotent. The first start makes the roles' passwords."""
        self.root.mkdir(parents=True, exist_ok=True)
        bindir = find_bindir(self.root / "install.log")
        running = self.running()
        if not running:
            self.data.mkdir(exist_ok=True)
            self._prepare_socket_dir()
            if _is_root():
                self._prepare_root_ownership()
            else:
                self.data.chmod(0o700)
            if not (self.data / "PG_VERSION").exists():
                self._superuser_file.unlink(missing_ok=True)
                self._run(
                    bindir,
                    [
                        "initdb",
                        "-D",
                        str(self.data),
                        "-U",
                        SUPERUSER,
                        # Replaced by our own pg_hba.conf before the first start.
                        "--auth-local=peer",
                        "--auth-host=reject",
                        "--encoding=UTF8",
                        "--locale=C",
                    ],
                    "initialising the database cluster",
                )
                self._superuser_file.write_text(SUPERUSER + "\n", encoding="utf-8")
        changed = self._write_access()
        if running:
            if changed:  # e.g. a cluster of an older release, still running with trust
                self._run(bindir, ["pg_ctl", "reload", "-D", str(self.data)], "reloading Postgres")
        else:
            if port_accepts(self.port):
                raise port_in_use_error(self.port, "the local Postgres", "IOTRACK_POSTGRES_PORT")
            self._run(
                bindir,
                [
                    "pg_ctl",
                    "start",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(timeout),
                    "-o",
                    self.server_options(),
                ],
                "starting Postgres",
            )
        self._bootstrap()

    def _run(self, bindir: Path, command: list[str], what: str) -> None:
        full = self._as_service_user([str(bindir / command[0]), *command[1:]])
        result = subprocess.run(full, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            with contextlib.suppress(OSError), self.log.open("a") as out:
                out.write(result.stdout + result.stderr)
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise LocalServiceError(
                f"{what} failed ({detail[-1] if detail else 'no output'}): read the log, fix the "
                f"cause, or delete {self.data} to start from an empty cluster",
                self.log,
            )

    @contextlib.contextmanager
    def admin(self, database: str = "postgres") -> Iterator[psycopg2.extensions.connection]:
        """A connection as the bootstrap superuser, over the Unix socket (peer): for creating
        roles and databases, never handed to a worker."""
        import psycopg2  # late: `iotrack down` should not need the driver loaded

        try:
            connection = psycopg2.connect(
                host=str(self.socket_dir),
                port=self.port,
                user=self.superuser(),
                dbname=database,
                connect_timeout=10,
            )
        except psycopg2.Error as exc:
            raise LocalServiceError(
                f"cannot connect to the local Postgres as its superuser over {self.socket_dir} "
                f"({str(exc).strip()})",
                self.log,
            ) from exc
        try:
            yield connection
        finally:
            connection.close()

    def _bootstrap(self) -> None:
        import psycopg2

        passwords = {duty: self.passwords.ensure(duty.role) for duty in Duty}
        try:
            with self.admin() as connection:
                postgres_access.ensure_roles(connection, passwords)
        except psycopg2.Error as exc:
            raise LocalServiceError(
                f"creating the Postgres roles failed: {str(exc).strip()}", self.log
            ) from exc
        self.create_database(DB_NAME)

    def create_database(self, name: str) -> None:
        """Create the database ``name`` (if missing), owned by the owner role with the schema
        its own; the migrations then create the tables and set the privileges."""
        import psycopg2

        try:
            with self.admin() as connection:
                postgres_access.ensure_database(connection, name)
            with self.admin(name) as connection:
                postgres_access.ensure_schema(connection)
        except psycopg2.Error as exc:
            raise LocalServiceError(
                f"creating the database {name} failed: {str(exc).strip()}", self.log
            ) from exc

    def drop_database(self, name: str) -> None:
        """Drop the database ``name``, disconnecting its clients (tests and benchmarks)."""
        from psycopg2 import sql

        with self.admin() as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    def stop(self, timeout: int = 60) -> None:
        """Stop the cluster with a fast shutdown (clients disconnected, data flushed)."""
        if not self.running():
            return
        bindir = find_bindir(self.root / "install.log")
        self._run(
            bindir,
            [
                "pg_ctl",
                "stop",
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "-t",
                str(timeout),
            ],
            "stopping Postgres",
        )
