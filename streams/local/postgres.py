"""A local PostgreSQL cluster from Debian's packages, in a project-local data folder.

Layout under ``<IOTRACK_HOME>/postgres``: ``data/`` (the cluster), ``run/`` (its Unix socket),
``postgres.log``. It listens on 127.0.0.1 only, with ``trust`` authentication for the local
user ``iotrack``: a development database on loopback, never a shared one.

Postgres refuses to run as root; when iotrack runs as root (CI, containers) the cluster is
owned by and run as the ``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

from streams.errors import LocalServiceError
from streams.local import system_packages
from streams.local.processes import port_accepts, port_in_use_error

DB_NAME = "iotrack"
DB_USER = "iotrack"
SERVICE_USER = "postgres"
DEBIAN_BIN = Path("/usr/lib/postgresql")


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


class LocalPostgres:
    """Initialise, start and stop the local cluster, and create the ``iotrack`` database."""

    def __init__(self, home: Path, *, port: int = 15432) -> None:
        self.root = home / "postgres"
        self.port = port
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "postgres.log"

    @property
    def url(self) -> str:
        """The connection URL of the local database."""
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

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

    def start(self, timeout: int = 60) -> str:
        """Initialise (once) and start the cluster, then create the database; idempotent."""
        self.root.mkdir(parents=True, exist_ok=True)
        bindir = find_bindir(self.root / "install.log")
        if not self.running():
            self.data.mkdir(exist_ok=True)
            self.socket_dir.mkdir(exist_ok=True)
            if _is_root():
                self._prepare_root_ownership()
            else:
                self.data.chmod(0o700)
            if not (self.data / "PG_VERSION").exists():
                self._run(
                    bindir,
                    [
                        "initdb",
                        "-D",
                        str(self.data),
                        "-U",
                        DB_USER,
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C",
                    ],
                    "initialising the database cluster",
                )
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
                    f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.socket_dir}",
                ],
                "starting Postgres",
            )
        self._create_database()
        return self.url

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

    def _create_database(self) -> None:
        import psycopg2  # late: `iotrack down` should not need the driver loaded

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=DB_USER, dbname="postgres", connect_timeout=10
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            connection.close()

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
