"""Postgres roles by duty, and the one declaration of which role may do what on which table.

Each iotrack process connects with the role of its duty, never as a superuser:

================== ======================= ====================================================
duty               role                    what it may do
================== ======================= ====================================================
``OWNER``          ``iotrack_owner``       owns the schema and every table: runs the migrations
``PROJECTION``     ``iotrack_projection``  writes the projected tables and its positions
``API``            ``iotrack_api``         reads the read side (the API, ``gate-check``,
                                           ``status``); writes the subscriptions a party makes
``SUBSCRIPTIONS``  ``iotrack_subscriptions`` the delivery worker: reads subscriptions, writes
                                           their queue, positions and delivery log
================== ======================= ====================================================

:data:`PRIVILEGES` is the whole truth for every table and view of the schema: the migrations'
owner applies it after the migrations (:mod:`streams.ops.privileges`), revoking whatever it
does not list. A table it does not name is readable by its owner alone, so a migration that
adds a table adds its line here too (a test fails until it does). Tables another branch's
migration adds may be named before they exist: a name that is not (yet) a table is skipped.

Why a list and not schema-level default privileges: ``ALTER DEFAULT PRIVILEGES ... GRANT
SELECT ON TABLES TO iotrack_api`` would hand every future table to the readers without anyone
deciding it, secrets included (a subscription's signing secret, Customs-only columns); here each
table is one reviewed line.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Duty(enum.Enum):
    """What a process does, and so the Postgres role it connects as."""

    OWNER = "owner"
    PROJECTION = "projection"
    API = "api"
    SUBSCRIPTIONS = "subscriptions"

    @property
    def role(self) -> str:
        """The role's name.

        >>> Duty.API.role
        'iotrack_api'
        """
        return f"iotrack_{self.value}"

    @property
    def setting(self) -> str:
        """The environment key that gives this duty its own URL on a given server.

        >>> Duty.PROJECTION.setting
        'DATABASE_URL_PROJECTION'
        """
        return f"DATABASE_URL_{self.name}"


ROLES: tuple[str, ...] = tuple(duty.role for duty in Duty)
"""Every iotrack role (none is a superuser, none may create roles or databases)."""

GRANTEES: tuple[Duty, ...] = tuple(duty for duty in Duty if duty is not Duty.OWNER)
"""The duties that are granted privileges (the owner has them all by owning)."""

READ = ("SELECT",)
PROJECT = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
"""The projection upserts rows, deletes them on tombstones, and ``rebuild`` truncates."""

_PROJECTED = (
    "iot_state",
    "clearance_by_itu",
    "deviations",
    "clearance_by_iot",
    "bindings",
    "binding_itus",
    "passages",
    "iot_transitions",
    "holds",
    "releases",
    "exits",
    "mission_paths",
    "train_loading_lists",
    "train_manifests",
    "train_permissions",
    "train_status",
    "declaration_states",  # 0008
)
# The delivery worker resolves a notification's node and MRNs from these (need-to-know cuts).
_SUBSCRIPTION_CONTEXT = frozenset({"iot_state", "bindings"})

PRIVILEGES: Mapping[str, Mapping[Duty, tuple[str, ...]]] = {
    # 0001-0002: kept for their history; no process uses them (dead letters go to Kafka).
    "processed_events": {},
    "dead_letters": {},
    "schema_migrations": {Duty.API: READ},  # `iotrack status` lists the migrations applied
    # The web console's operations page reads where the projection stands (its lag).
    "consumer_positions": {
        Duty.PROJECTION: ("SELECT", "INSERT", "UPDATE", "DELETE"),
        Duty.API: READ,
    },
    **{
        table: {
            Duty.PROJECTION: PROJECT,
            Duty.API: READ,
            **({Duty.SUBSCRIPTIONS: READ} if table in _SUBSCRIPTION_CONTEXT else {}),
        }
        for table in _PROJECTED
    },
    "trains": {Duty.API: READ},  # a view over the rail tables
    # 0007 (subscriptions, branch http-framework): a party's subscriptions are made, changed
    # and deleted through the API; the delivery worker queues, delivers and logs.
    "subscriptions": {
        Duty.API: ("SELECT", "INSERT", "UPDATE", "DELETE"),
        Duty.SUBSCRIPTIONS: ("SELECT", "UPDATE"),
    },
    # 0010: the worker deletes what is past the retention (delivered, or only streamed).
    "subscription_events": {Duty.API: READ, Duty.SUBSCRIPTIONS: ("SELECT", "INSERT", "DELETE")},
    "subscription_positions": {Duty.SUBSCRIPTIONS: ("SELECT", "INSERT", "UPDATE")},
    "subscription_deliveries": {
        Duty.API: READ,
        Duty.SUBSCRIPTIONS: ("SELECT", "INSERT", "DELETE"),
    },
}
"""table or view -> duty -> privileges; absent: no privilege at all."""


def granted(duty: Duty, table: str) -> tuple[str, ...]:
    """What ``duty`` is granted on ``table``: nothing when undeclared (the owner is granted
    nothing either: it holds every privilege by owning).

    >>> granted(Duty.API, "holds")
    ('SELECT',)
    >>> granted(Duty.API, "no_such_table")
    ()
    """
    return PRIVILEGES.get(table, {}).get(duty, ())
