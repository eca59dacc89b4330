"""Postgres by duty, on the real server: no way in without a password, no iotrack role is a
superuser, each duty's role may do what ``streams.ops.duties`` declares and nothing more.

The attacks of issue 10 as tests: the OS user ``nobody`` connecting without a password (it read
Customs-only hold reasons and ran ``COPY ... TO PROGRAM`` as the ``postgres`` OS user when the
cluster had ``trust``), and the API's role writing a table.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from streams.local import postgres as local_postgres
from streams.local import runtime
from streams.local.postgres import LocalPostgres
from streams.local.processes import free_port
from streams.ops import privileges
from streams.ops.duties import GRANTEES, PRIVILEGES, ROLES, Duty, granted
from streams.ops.migrations import migrate
from streams.ops.settings import Secret
from streams.workers.projection import PROJECTED_TABLES
from tests.integration.databases import scratch_database

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
# Declared for the subscriptions of branch http-framework (migration 0007), absent until merged.
NOT_HERE_YET = {
    "subscriptions",
    "subscription_events",
    "subscription_positions",
    "subscription_deliveries",
}
HOLD = (
    "INSERT INTO holds (iot_id, agency, hold_id, hold_type, reason_code, reason, updated_at) "
    "VALUES ('01a21113-308b-79fd-bc18-9e634b6138ec', 'CUSTOMS', 'H-1', 'DOCUMENTARY', 'RISK-7', "
    "'Customs eyes only', now())"
)


def _local(services: runtime.Endpoints) -> LocalPostgres:
    local = services.databases.local
    if local is None:
        pytest.skip("DATABASE_URL is given: its roles and authentication are its owner's")
    return local


@pytest.fixture
def database(services) -> Iterator[runtime.Endpoints]:
    """A migrated database of this test's own, with one Customs hold in it."""
    with scratch_database(services, "duties") as found:
        with (
            psycopg2.connect(found.database(Duty.PROJECTION).reveal()) as db,
            db.cursor() as cursor,
        ):
            cursor.execute(HOLD)
        db.close()
        yield found


def _psql() -> str:
    for directory in local_postgres._bindir_candidates():
        if (directory / "psql").exists():
            return str(directory / "psql")
    found = shutil.which("psql")
    if found is None:
        pytest.skip("no psql on this machine")
    return found


def _as_nobody(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``command`` as the OS user ``nobody`` when we are root, else as ourselves; with no
    password anywhere in its environment (no PGPASSWORD, no ~/.pgpass, no service file)."""
    clean = {"PATH": "/usr/bin:/bin", "PGPASSFILE": "/dev/null", "PGCONNECT_TIMEOUT": "5", **env}
    prefix = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, "env", "-i", *(f"{k}={v}" for k, v in clean.items()), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nobody_connects_to_postgres_without_a_password(services, database):
    postgres = _local(services)
    psql = _psql()
    name = database.databases.name
    assert name
    # Every iotrack role, the superusers of this release and of the last (`iotrack`, which had
    # `trust`), over loopback TCP and over the Unix socket: refused without a password.
    for role in (*ROLES, local_postgres.SUPERUSER, local_postgres.LEGACY_SUPERUSER):
        for host in ("127.0.0.1", str(postgres.socket_dir)):
            if host != "127.0.0.1" and role == postgres.superuser() and os.geteuid() != 0:
                continue  # not root: we are the OS user that runs the cluster, its admin
            for db in (name, "iotrack", "postgres"):
                tried = _as_nobody(
                    [
                        psql,
                        "-w",
                        "-h",
                        host,
                        "-p",
                        str(postgres.port),
                        "-U",
                        role,
                        "-d",
                        db,
                        "-Atc",
                        "SELECT reason_code FROM holds",
                    ]
                )
                assert tried.returncode != 0, f"{role}@{host}/{db} let nobody in"
                assert "RISK-7" not in tried.stdout
                assert any(
                    refusal in tried.stderr
                    for refusal in (
                        "no password supplied",
                        "no pg_hba.conf entry",
                        "Permission denied",  # the socket is the cluster owner's alone
                        "Peer authentication failed",
                    )
                ), tried.stderr
    # A guessed password fares no better.
    guessed = _as_nobody(
        [
            psql,
            "-w",
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres.port),
            "-U",
            Duty.API.role,
            "-d",
            name,
            "-Atc",
            "SELECT 1",
        ],
        PGPASSWORD="iotrack",
    )
    assert guessed.returncode != 0
    assert "password authentication failed" in guessed.stderr
    # And nobody cannot read the passwords.
    if os.geteuid() == 0:
        for role in ROLES:
            peek = _as_nobody(["cat", str(postgres.passwords.path(role))])
            assert peek.returncode != 0
            assert "Permission denied" in peek.stderr


def test_only_scram_on_loopback_and_the_superuser_by_peer(services):
    postgres = _local(services)
    with postgres.admin() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT type, database, user_name, address, netmask, auth_method, options, error "
            "FROM pg_hba_file_rules ORDER BY line_number"
        )
        rules = cursor.fetchall()
        cursor.execute("SHOW password_encryption")
        assert cursor.fetchone() == ("scram-sha-256",)
        cursor.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)", (list(ROLES),)
        )
        stored = dict(cursor.fetchall())
        cursor.execute("SELECT rolpassword FROM pg_authid WHERE rolname = current_user")
        assert cursor.fetchone() == (None,), "the superuser has no password at all"
    assert all(error is None for *_, error in rules)
    assert not [r for r in rules if r[5] == "trust"], "no trust line"
    local = [r for r in rules if r[0] == "local"]
    assert local == [
        (
            "local",
            ["all"],
            [local_postgres.SUPERUSER],
            None,
            None,
            "peer",
            ["map=iotrack-admin"],
            None,
        )
    ]
    hosts = [r for r in rules if r[0] != "local"]
    assert {(r[3], r[5]) for r in hosts} == {
        ("127.0.0.1", "scram-sha-256"),
        ("::1", "scram-sha-256"),
    }
    assert all(sorted(r[2]) == sorted(ROLES) for r in hosts), "iotrack's duty roles only"
    assert set(stored) == set(ROLES)
    assert all(v.startswith("SCRAM-SHA-256$") for v in stored.values())
    log = postgres.log.read_text(errors="replace")
    for role in ROLES:
        assert postgres.passwords.read(role).reveal() not in log


def test_no_iotrack_role_is_a_superuser_nor_may_create_roles_or_databases(services):
    with psycopg2.connect(services.database(Duty.API).reveal()) as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname LIKE 'iotrack%' ORDER BY rolname"
        )
        found = cursor.fetchall()
        cursor.execute(
            "SELECT u.rolname, r.rolname FROM pg_auth_members m "
            "JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
            "WHERE u.rolname LIKE 'iotrack%'"
        )
        memberships = cursor.fetchall()
    db.close()
    if services.postgres_local:
        assert {name for name, *_ in found} == set(ROLES)
    assert [(name, *flags) for name, *flags in found if any(flags)] == []
    assert memberships == [], (
        "no iotrack role is a member of another (pg_execute_server_program...)"
    )


def _refused(url: Secret, statements: list[str]) -> list[str]:
    """The statements that were NOT refused for lack of privilege (each in its own
    transaction, rolled back)."""
    allowed = []
    db = psycopg2.connect(url.reveal())
    db.autocommit = True
    try:
        with db.cursor() as cursor:
            for statement in statements:
                alone = statement.startswith("CREATE DATABASE")  # not in a transaction block
                try:
                    if not alone:
                        cursor.execute("BEGIN")
                    cursor.execute(statement)
                    allowed.append(statement)
                except psycopg2.errors.InsufficientPrivilege:
                    pass
                finally:
                    if not alone:
                        cursor.execute("ROLLBACK")
    finally:
        db.close()
    return allowed


def _first_column(url: Secret, table: str) -> str:
    with psycopg2.connect(url.reveal()) as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum LIMIT 1",
            (table,),
        )
        row = cursor.fetchone()
    db.close()
    assert row is not None, table
    return str(row[0])


def _writes(url: Secret, table: str) -> list[str]:
    column = _first_column(url, table)
    return [
        f"INSERT INTO {table} DEFAULT VALUES",
        f"UPDATE {table} SET {column} = {column}",  # noqa: S608
        f"DELETE FROM {table}",  # noqa: S608
        f"TRUNCATE {table}",
    ]


def test_the_api_role_cannot_write_a_table_nor_run_a_program(database):
    api = database.database(Duty.API)
    statements = [w for table in PROJECTED_TABLES for w in _writes(api, table)]
    statements += _writes(api, "consumer_positions") + _writes(api, "schema_migrations")
    statements += [
        "COPY (SELECT 1) TO PROGRAM 'id > /tmp/iotrack-owned'",
        "COPY holds FROM PROGRAM 'echo x'",
        "COPY holds TO '/tmp/iotrack-holds'",
        "SELECT pg_read_file('/etc/passwd')",
        "CREATE TABLE public.mine (x int)",
        "CREATE SCHEMA mine",
        "CREATE ROLE mine",
        "CREATE DATABASE mine",
    ]
    assert _refused(api, statements) == []
    assert not Path("/tmp/iotrack-owned").exists()  # noqa: S108 - where the attack would write
    with psycopg2.connect(api.reveal()) as db, db.cursor() as cursor:
        cursor.execute("SELECT reason_code FROM holds")  # the read side it serves (Customs only)
        assert cursor.fetchall() == [("RISK-7",)]
    db.close()


def test_the_projection_role_writes_its_tables_and_nothing_else(database):
    projection = database.database(Duty.PROJECTION)
    statements = _writes(projection, "schema_migrations")
    statements += [
        "SELECT * FROM processed_events",
        "SELECT * FROM dead_letters",
        "INSERT INTO dead_letters DEFAULT VALUES",
        "CREATE TABLE public.mine (x int)",
        "CREATE SCHEMA mine",
        "CREATE ROLE mine",
        "CREATE DATABASE mine",
        "CREATE TEMPORARY TABLE mine (x int)",
        "ALTER TABLE holds ADD COLUMN mine int",
        "DROP TABLE holds",
        "COPY (SELECT 1) TO PROGRAM 'id > /tmp/iotrack-owned'",
        "SELECT pg_read_file('/etc/passwd')",
    ]
    assert _refused(projection, statements) == []
    with psycopg2.connect(projection.reveal()) as db, db.cursor() as cursor:
        cursor.execute("UPDATE holds SET lifted_at = now() WHERE hold_id = 'H-1'")
        cursor.execute("DELETE FROM consumer_positions")
        cursor.execute("TRUNCATE iot_state, deviations")  # what `projection rebuild` does
    db.close()


def test_privileges_are_exactly_the_declaration(database):
    owner = database.database(Duty.OWNER)
    db = psycopg2.connect(owner.reveal())
    applied = privileges.apply(db)
    assert applied.undeclared == (), "declare every new table in streams/ops/duties.py"
    assert set(applied.roles) == {duty.role for duty in GRANTEES}
    assert set(PRIVILEGES) - set(applied.relations) <= NOT_HERE_YET
    with db.cursor() as cursor:
        for relation in applied.relations:
            cursor.execute(
                "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a "
                "WHERE c.oid = %s::regclass AND a.grantee = 0",
                (relation,),
            )
            assert cursor.fetchone() == (0,), f"PUBLIC holds a privilege on {relation}"
            for duty in GRANTEES:
                for privilege in TABLE_PRIVILEGES:
                    cursor.execute(
                        "SELECT has_table_privilege(%s, %s, %s)", (duty.role, relation, privilege)
                    )
                    row = cursor.fetchone()
                    assert row is not None
                    expected = privilege in granted(duty, relation)
                    assert row[0] is expected, f"{duty.role} {privilege} {relation}"
        cursor.execute(
            "SELECT has_schema_privilege('public', 'public', 'CREATE'), "
            "has_schema_privilege('public', 'public', 'USAGE'), "
            "has_database_privilege('public', current_database(), 'CONNECT'), "
            "has_database_privilege('public', current_database(), 'TEMPORARY')"
        )
        assert cursor.fetchone() == (False, False, False, False), "PUBLIC has no access"
        # A privilege granted by hand is taken back at the next migrate: the declaration is
        # the whole truth.
        cursor.execute(sql.SQL("GRANT INSERT ON holds TO {}").format(sql.Identifier(Duty.API.role)))
        db.commit()
    db.close()
    migrate(owner.reveal())
    assert _refused(database.database(Duty.API), _writes(owner, "holds")) == []


def test_the_password_files_are_private_and_reused(services):
    postgres = _local(services)
    directory = postgres.passwords.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700
    before = {}
    for role in ROLES:
        path = postgres.passwords.path(role)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        before[role] = path.read_text()
    assert len(set(before.values())) == len(ROLES), "a password per role"
    postgres.start()  # a later `up`: the same passwords, and they still let each duty in
    for duty in Duty:
        assert postgres.passwords.path(duty.role).read_text() == before[duty.role]
        assert "***" in repr(services.database(duty))
        with psycopg2.connect(services.database(duty).reveal()) as db, db.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone() == (duty.role,)
        db.close()


def test_a_cluster_of_the_previous_release_loses_trust_and_keeps_its_rows(tmp_path):
    """An IOTRACK_HOME made before roles by duty: superuser `iotrack`, `trust` on loopback,
    tables owned by that superuser. The next `up` takes trust away, moves the tables to the
    owner role and sets the privileges; the rows stay."""
    postgres = LocalPostgres(tmp_path / "home", port=free_port())
    bindir = local_postgres.find_bindir(tmp_path / "install.log")
    postgres.root.mkdir(parents=True)
    postgres.data.mkdir()
    postgres._prepare_socket_dir()
    if os.geteuid() == 0:
        postgres._prepare_root_ownership()
    else:
        postgres.data.chmod(0o700)
    old = ["-D", str(postgres.data)]
    postgres._run(bindir, ["initdb", *old, "-U", "iotrack", "--auth=trust", "--locale=C"], "init")
    postgres._run(
        bindir,
        [
            "pg_ctl",
            "start",
            *old,
            "-l",
            str(postgres.log),
            "-w",
            "-o",
            f"-p {postgres.port} -c listen_addresses=127.0.0.1 -k {postgres.socket_dir}",
        ],
        "start",
    )
    try:
        legacy = f"postgresql://iotrack@127.0.0.1:{postgres.port}/postgres"
        db = psycopg2.connect(legacy)
        db.autocommit = True
        with db.cursor() as cursor:
            cursor.execute('CREATE DATABASE "iotrack"')
        db.close()
        migrate(legacy.replace("/postgres", "/iotrack"))
        with psycopg2.connect(legacy.replace("/postgres", "/iotrack")) as db, db.cursor() as c:
            c.execute(HOLD)
        db.close()

        postgres.start()  # still running: rewrites the rules and reloads them
        migrate(postgres.url(Duty.OWNER).reveal())
        with pytest.raises(psycopg2.OperationalError, match=r"no pg_hba\.conf entry"):
            psycopg2.connect(legacy, connect_timeout=5)
        with (
            psycopg2.connect(postgres.url(Duty.API).reveal()) as db,
            db.cursor() as cursor,
        ):
            cursor.execute("SELECT reason_code FROM holds")
            assert cursor.fetchall() == [("RISK-7",)]
            cursor.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')"
            )
            assert cursor.fetchall() == [(Duty.OWNER.role,)]
        db.close()
        owner = postgres.url(Duty.OWNER)
        assert _refused(postgres.url(Duty.API), _writes(owner, "holds")) == []
        postgres.stop()
        postgres.start()  # and after a restart, with this release's server options
        with pytest.raises(psycopg2.OperationalError, match=r"no pg_hba\.conf entry"):
            psycopg2.connect(legacy, connect_timeout=5)
    finally:
        postgres.stop()
