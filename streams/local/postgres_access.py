"""Who may connect to the local Postgres, and the roles by duty it holds.

``pg_hba.conf`` (rewritten at every start, so an older cluster's ``trust`` lines go too):

- the bootstrap superuser, over the Unix socket only, by ``peer``: for the OS user that runs
  the cluster, and root (which may become that user anyway). It has no password, so it can
  never log in over TCP; ``iotrack up`` uses it to create the roles and databases, and no
  process is handed it. Peer rather than a password: there is then no superuser secret at all
  to keep, copy or leak, and the socket (mode 0700) admits those two OS users only;
- iotrack's duty roles, over loopback TCP (``127.0.0.1/32``, ``::1/128``) with
  ``scram-sha-256``;
- no other line: every other connection is refused, whoever asks.

The roles (:class:`streams.ops.duties.Duty`) log in, and may do nothing else by themselves: no
superuser, no CREATEDB, no CREATEROLE, no replication, no membership in another role. Their
passwords are set from SCRAM verifiers computed on the client, so the server (and its log) never
sees a password in clear.
"""

from __future__ import annotations

import psycopg2.extensions
from psycopg2 import sql

from streams.ops.duties import ROLES, Duty
from streams.ops.settings import Secret

ADMIN_MAP = "iotrack-admin"
_HEADER = (
    "# Written by iotrack at every start (streams/local/postgres_access.py); edits are lost.\n"
)


def hba(superuser: str) -> str:
    """The whole ``pg_hba.conf``.

    >>> print(hba("postgres"))  # doctest: +NORMALIZE_WHITESPACE
    # Written by iotrack ...
    local all postgres peer map=iotrack-admin
    host all iotrack_owner,iotrack_projection,...,iotrack_subscriptions 127.0.0.1/32 scram-sha-256
    host all iotrack_owner,iotrack_projection,...,iotrack_subscriptions ::1/128 scram-sha-256
    """
    roles = ",".join(ROLES)
    return (
        _HEADER
        + f"local all {superuser} peer map={ADMIN_MAP}\n"
        + f"host all {roles} 127.0.0.1/32 scram-sha-256\n"
        + f"host all {roles} ::1/128 scram-sha-256\n"
    )


def ident(superuser: str, os_users: list[str]) -> str:
    """The whole ``pg_ident.conf``: which OS users may be the superuser over the socket.

    >>> print(ident("postgres", ["postgres", "root"]))  # doctest: +NORMALIZE_WHITESPACE
    # Written by iotrack ...
    iotrack-admin postgres postgres
    iotrack-admin root postgres
    """
    return _HEADER + "".join(f"{ADMIN_MAP} {user} {superuser}\n" for user in os_users)


def _one(cursor: psycopg2.extensions.cursor, query: str, params: tuple[object, ...]) -> bool:
    cursor.execute(query, params)
    return cursor.fetchone() is not None


def ensure_roles(connection: psycopg2.extensions.connection, passwords: dict[Duty, Secret]) -> None:
    """Create (or correct) every duty role with its password, as the superuser; idempotent."""
    with connection, connection.cursor() as cursor:
        for duty, password in passwords.items():
            role = sql.Identifier(duty.role)
            verifier = psycopg2.extensions.encrypt_password(
                password.reveal(), duty.role, connection, "scram-sha-256"
            )
            exists = _one(cursor, "SELECT 1 FROM pg_roles WHERE rolname = %s", (duty.role,))
            verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
            cursor.execute(
                sql.SQL(
                    "{} {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "NOBYPASSRLS PASSWORD %s"
                ).format(verb, role),
                (verifier,),
            )
            # Whatever role it was made a member of, by hand or by an older release, it leaves.
            cursor.execute(
                "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                (duty.role,),
            )
            for (granted,) in cursor.fetchall():
                cursor.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(granted), role))
        # The maintenance database holds no data, but no duty has anything to do there.
        cursor.execute("REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC")


def ensure_database(connection: psycopg2.extensions.connection, name: str) -> None:
    """Create the database ``name`` owned by the owner role (or give it to that role)."""
    owner = sql.Identifier(Duty.OWNER.role)
    connection.autocommit = True  # CREATE DATABASE runs outside a transaction
    try:
        with connection.cursor() as cursor:
            if _one(cursor, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)):
                cursor.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), owner)
                )
            else:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), owner)
                )
    finally:
        connection.autocommit = False


def ensure_schema(connection: psycopg2.extensions.connection) -> None:
    """In the connection's database (as the superuser): the owner role owns the ``public``
    schema and every table and view in it (a cluster made by an older release had them owned
    by its superuser), and ``PUBLIC`` may not create in it."""
    owner = sql.Identifier(Duty.OWNER.role)
    with connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner))
        cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cursor.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
            "AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (Duty.OWNER.role,),
        )
        kinds = {"v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}
        for relation, kind in cursor.fetchall():
            cursor.execute(
                sql.SQL("ALTER {} {} OWNER TO {}").format(
                    sql.SQL(kinds.get(kind, "TABLE")), sql.Identifier(relation), owner
                )
            )
