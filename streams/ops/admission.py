"""Admitting parties one by one (a terminal, a rail operator, a rail portal, a reader): its
Kafka principal's SCRAM credential, the topics it has of its own, and the ACLs the catalogue
declares, made by the administrator. ``iotrack parties add``, the demo and the tests' set-up
admit through here.

On the local broker a new party's password is made once and kept in
``IOTRACK_HOME/secrets/kafka/<principal>.password`` (0600); on a given cluster it is made here,
set on the cluster and kept nowhere: the caller shows it once. A party that already has a
credential keeps it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from processors.parties import Sender
from streams.local.kafka import ensure_scram
from streams.local.runtime import Endpoints
from streams.ops.settings import Secret
from topics import admin, catalog
from topics.admin import AclReport, TopicReport


@dataclass(frozen=True)
class Credential:
    """What admission did about one party's credential."""

    party: Sender
    new_secret: Secret | None
    """Made now (show it once); None when the party had one already."""
    kept_in: Path | None
    """Where the local broker's copy is kept (None on a given cluster)."""


@dataclass(frozen=True)
class Admission:
    """The credentials, the topics of the whole deployment with these parties, and its ACLs."""

    credentials: tuple[Credential, ...]
    topics: tuple[TopicReport, ...]
    acls: AclReport


def _credentials(found: Endpoints, parties: list[Sender]) -> list[Credential]:
    client = admin.admin_client(found.kafka_admin())
    files = found.brokers.passwords
    if files is not None:
        made = set(ensure_scram(client, files, (p.principal for p in parties)))
        return [
            Credential(
                p,
                files.read(p.principal) if p.principal in made else None,
                files.path(p.principal),
            )
            for p in parties
        ]
    present = admin.scram_users(client)
    new = {p.principal: Secret(secrets.token_urlsafe(32)) for p in parties}
    new = {name: secret for name, secret in new.items() if name not in present}
    admin.set_passwords(client, new)
    return [Credential(p, new.get(p.principal), None) for p in parties]


def admit(found: Endpoints, parties: Iterable[Sender]) -> Admission:
    """Admit ``parties``: their credentials, then every topic and ACL of the deployment with
    them in (created when missing; drift reported, left alone)."""
    wanted = sorted(set(parties), key=str)
    credentials = _credentials(found, wanted)
    client = admin.admin_client(found.kafka_admin())
    members = sorted({*admin.parties(client), *wanted}, key=str)
    topics = catalog.deployed(members)
    reports = admin.apply(client, topics)
    acls = admin.apply_acls(client, topics, members)
    return Admission(tuple(credentials), tuple(reports), acls)
