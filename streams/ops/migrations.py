"""Database migrations: plain ordered SQL files in ``deploy/postgres/migrations``.

A file ``NNNN_name.sql`` is applied once, in its own transaction, and recorded in
``schema_migrations`` with its checksum. An applied file that is edited afterwards is an error:
history is extended with a new file, never rewritten.

They run as the owner role (``Duty.OWNER``): it owns the schema and every table. After them,
under the same lock, the privileges of the other duties are set from their one declaration
(:mod:`streams.ops.duties`, :mod:`streams.ops.privileges`) on every ``migrate``, so a table a
migration adds gets exactly the privileges declared for it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg2
import psycopg2.extensions

from streams.errors import MigrationError
from streams.ops import privileges
from streams.ops.settings import CHECKOUT

MIGRATIONS_DIR = CHECKOUT / "deploy" / "postgres" / "migrations"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant shared by every iotrack process: two concurrent `up`s migrate one after the other.
_LOCK_KEY = 0x10_7_7AC


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class AppliedMigration:
    """A row of ``schema_migrations``."""

    version: str
    name: str
    applied_at: datetime


def _connect(url: str) -> psycopg2.extensions.connection:
    try:
        return psycopg2.connect(url, connect_timeout=10)
    except psycopg2.Error as exc:
        raise MigrationError(f"cannot connect to the database: {exc}".strip()) from exc


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; a misnamed file is an error, not silently skipped."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        found.append(Migration(match[1], match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {directory}")
    return found


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the migrations not yet applied, then the declared privileges; returns the
    migrations applied now."""
    pending = migrations(directory)
    done: list[Migration] = []
    connection = _connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cursor.execute("SELECT version, checksum FROM schema_migrations")
            applied = dict(cursor.fetchall())
        for migration in pending:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name}.sql was edited after it "
                        "was applied: revert the edit and add a new migration instead"
                    )
                continue
            try:
                with connection, connection.cursor() as cursor:
                    cursor.execute(migration.sql)
                    cursor.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg2.Error as exc:
                raise MigrationError(
                    f"migration {migration.version}_{migration.name}.sql failed: {exc}".strip()
                ) from exc
            done.append(migration)
        try:
            privileges.apply(connection)
        except psycopg2.Error as exc:
            raise MigrationError(f"setting the privileges by duty failed: {exc}".strip()) from exc
    finally:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        connection.close()
    return done


def applied_migrations(url: str) -> list[AppliedMigration]:
    """What ``schema_migrations`` records, oldest first (empty before the first migration)."""
    connection = _connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
            row = cursor.fetchone()
            if not row or not row[0]:
                return []
            cursor.execute(
                "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
            )
            return [AppliedMigration(*r) for r in cursor.fetchall()]
    finally:
        connection.close()


def server_version(url: str) -> str:
    """The server's ``version()`` string, shortened to product and version."""
    connection = _connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            row = cursor.fetchone()
            return f"PostgreSQL {row[0]}" if row else "PostgreSQL (unknown version)"
    finally:
        connection.close()
