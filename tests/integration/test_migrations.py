"""Migrations on the real Postgres: applied once, in order, and never silently rewritten."""

from __future__ import annotations

import psycopg2
import pytest

from streams.errors import MigrationError
from streams.ops.duties import Duty
from streams.ops.migrations import applied_migrations, migrate, migrations
from tests.integration.databases import scratch_database


@pytest.fixture
def empty_database(services):
    """An empty database, as the owner role that migrates it."""
    with scratch_database(services, "scratch", migrated=False) as found:
        yield found.database(Duty.OWNER).reveal()


def test_every_migration_applies_once_in_order(empty_database):
    applied_now = migrate(empty_database)
    assert [m.version for m in applied_now] == [m.version for m in migrations()]
    assert migrate(empty_database) == []
    recorded = applied_migrations(empty_database)
    assert [r.version for r in recorded] == [m.version for m in migrations()]


def test_an_edited_migration_is_refused(empty_database, tmp_path):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id int);")
    migrate(empty_database, tmp_path)
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id bigint);")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate(empty_database, tmp_path)


def test_a_failing_migration_leaves_nothing_half_done(empty_database, tmp_path):
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT nonsense FROM x;")
    with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
        migrate(empty_database, tmp_path)
    assert [r.version for r in applied_migrations(empty_database)] == ["0001"]
    with psycopg2.connect(empty_database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('half')")
        assert cursor.fetchone() == (None,)
