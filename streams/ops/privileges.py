"""Apply :data:`streams.ops.duties.PRIVILEGES` to a database, as its owner, idempotently.

Run after the migrations, under their lock, in one transaction: ``PUBLIC`` loses every
privilege on the database, the ``public`` schema and each relation; each duty role gets
``CONNECT``, ``USAGE`` on the schema, and exactly what the declaration lists per relation
(whatever it held before is revoked first, so a line removed from the declaration is a
privilege taken away at the next ``iotrack up``).

Nothing happens on a server that has none of the duty roles (a given ``DATABASE_URL`` whose
administrator did not create them: it is used as given, for every duty).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2.extensions
from psycopg2 import sql

from streams.ops.duties import GRANTEES, PRIVILEGES, Duty, granted


@dataclass(frozen=True)
class Applied:
    """What one pass found: the duty roles present, the relations it set, and those the
    declaration does not name (readable by their owner alone)."""

    roles: tuple[str, ...]
    relations: tuple[str, ...]
    undeclared: tuple[str, ...]


def _names(roles: list[Duty]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(duty.role) for duty in roles)


def apply(connection: psycopg2.extensions.connection) -> Applied:
    """Set the declared privileges on the connection's database (as the owner of its tables);
    commits, or rolls everything back on error."""
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
            ([duty.role for duty in GRANTEES],),
        )
        present = {name for (name,) in cursor.fetchall()}
        roles = [duty for duty in GRANTEES if duty.role in present]
        if not roles:
            return Applied((), (), ())
        cursor.execute("SELECT current_database()")
        row = cursor.fetchone()
        assert row is not None  # noqa: S101 - current_database() always answers
        database = sql.Identifier(row[0])
        for statement in (
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            "GRANT CONNECT ON DATABASE {db} TO {roles}",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            "REVOKE ALL ON SCHEMA public FROM {roles}",
            "GRANT USAGE ON SCHEMA public TO {roles}",
        ):
            cursor.execute(sql.SQL(statement).format(db=database, roles=_names(roles)))
        # Tables, partitioned tables, views, materialised views and foreign tables this role
        # owns in the schema the migrations write to.
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
            "AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "ORDER BY c.relname"
        )
        relations = [name for (name,) in cursor.fetchall()]
        for relation in relations:
            table = sql.Identifier(relation)
            cursor.execute(
                sql.SQL("REVOKE ALL ON TABLE {} FROM PUBLIC, {}").format(table, _names(roles))
            )
            for duty in roles:
                allowed = granted(duty, relation)
                if not allowed:
                    continue
                cursor.execute(
                    sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                        sql.SQL(", ").join(sql.SQL(p) for p in allowed),
                        table,
                        sql.Identifier(duty.role),
                    )
                )
    return Applied(
        tuple(duty.role for duty in roles),
        tuple(relations),
        tuple(r for r in relations if r not in PRIVILEGES),
    )
