"""The declaration of privileges by duty, checked without a database."""

from __future__ import annotations

from streams.ops.duties import GRANTEES, PRIVILEGES, ROLES, Duty, granted
from streams.workers.projection import PROJECTED_TABLES

TABLE_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}


def test_every_declared_privilege_is_a_table_privilege_of_a_granted_duty():
    for table, by_duty in PRIVILEGES.items():
        for duty, allowed in by_duty.items():
            assert duty in GRANTEES, f"{table}: the owner holds everything by owning"
            assert set(allowed) <= TABLE_PRIVILEGES, table
            assert len(set(allowed)) == len(allowed), table


def test_the_projection_writes_exactly_its_tables_and_the_api_reads_them():
    written = {t for t in PRIVILEGES if "INSERT" in granted(Duty.PROJECTION, t)}
    assert written == {*PROJECTED_TABLES, "consumer_positions"}
    truncated = {t for t in PRIVILEGES if "TRUNCATE" in granted(Duty.PROJECTION, t)}
    assert truncated == set(PROJECTED_TABLES), "what `projection rebuild` truncates"
    for table in PROJECTED_TABLES:
        assert granted(Duty.API, table) == ("SELECT",)


def test_the_api_writes_nothing_but_the_subscriptions_a_party_makes():
    written = {
        t
        for t in PRIVILEGES
        if set(granted(Duty.API, t)) & {"INSERT", "UPDATE", "DELETE", "TRUNCATE"}
    }
    assert written == {"subscriptions"}
    assert "TRUNCATE" not in granted(Duty.API, "subscriptions")


def test_role_names():
    assert ROLES == ("iotrack_owner", "iotrack_projection", "iotrack_api", "iotrack_subscriptions")
    assert {duty.setting for duty in Duty} == {
        "DATABASE_URL_OWNER",
        "DATABASE_URL_PROJECTION",
        "DATABASE_URL_API",
        "DATABASE_URL_SUBSCRIPTIONS",
    }
