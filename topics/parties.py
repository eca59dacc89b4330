"""Who writes and reads the catalogued topics: the parties outside iotrack and iotrack's services.

A party (``processors.parties.Sender``) is one principal with its own credentials: Customs, the
GdF, each other agency, each terminal, each rail operator, each rail portal, each gate reader,
and each of iotrack's own services. A topic names its ``writers`` and ``readers`` as audiences:
one party (a ``Sender``), or every party of a kind (a ``PartyKind``: every terminal, every rail
portal). The broker's ACLs are made from these declarations and nothing else, so what a party
may write or read is said once, here and in ``topics.catalog``.

>>> admits((PartyKind.TERMINAL, CORE), Sender(PartyKind.TERMINAL, "psa-genova"))
True
>>> admits((PartyKind.TERMINAL,), CUSTOMS), admits((PartyKind.SERVICE,), CORE)
(False, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from processors.parties import AGENCIES, CUSTOMS, FUSION, GDF, SINGLE, PartyKind, Sender

__all__ = [
    "ADMITTED_KINDS",
    "API",
    "CORE",
    "CUSTOMS",
    "DESCRIPTIONS",
    "FUSION",
    "GATEWAYS",
    "GDF",
    "HOLDING_AGENCIES",
    "OBSERVERS",
    "PROJECTION",
    "SERVICES",
    "STANDING",
    "SUBSCRIPTIONS",
    "Audience",
    "admits",
    "describe",
    "label",
]

Audience = PartyKind | Sender
"""Every party of a kind, or one party."""

CORE = Sender.service("core")
PROJECTION = Sender.service("projection")
API = Sender.service("api")
SUBSCRIPTIONS = Sender.service("subscriptions")
SERVICES: tuple[Sender, ...] = (CORE, FUSION, PROJECTION, API, SUBSCRIPTIONS)
"""iotrack's own services; each is its own principal."""

OBSERVERS: Mapping[Sender, tuple[Sender, ...]] = MappingProxyType({API: (CORE, FUSION, PROJECTION)})
"""Who may watch whose progress without reading a record: describe its consumer groups (their
members and committed offsets) and the topics it reads (their ends). The query API's web
console shows each worker's readiness and lag on its operations page."""

GATEWAYS: Mapping[PartyKind, tuple[Sender, ...]] = MappingProxyType(
    {PartyKind.RAIL_OPERATOR: (API,)}
)
"""Who may act on a party's own channel for a party of a kind it authenticated itself: the query
API, whose web console sends a rail operator's loading lists and manifests on the operator's
requests topic for the operator signed in with its bearer token, and reads the answers on the
operator's replies topic. The channel stays the party's: the core takes the sender from the
topic (``catalog.sender_of`` leaves the gateways out), and the API sends only for the operator
of the session. What it costs: a compromised API could write any rail operator's requests."""

HOLDING_AGENCIES: tuple[Sender, ...] = tuple(Sender.agency(a) for a in AGENCIES)
"""Every agency that places holds, Customs and the GdF included, in the Avro enum's order."""

STANDING: tuple[Sender, ...] = (*HOLDING_AGENCIES, *SERVICES)
"""The parties every deployment has; terminals, rail operators, rail portals and readers are
admitted one by one (``iotrack parties add``)."""

ADMITTED_KINDS = (
    PartyKind.TERMINAL,
    PartyKind.RAIL_OPERATOR,
    PartyKind.RAIL_PORTAL,
    PartyKind.READER,
)
"""The kinds of party admitted one by one, by name."""

DESCRIPTIONS: Mapping[Audience, str] = MappingProxyType(
    {
        CUSTOMS: "Customs (ADM): defines mission paths, binds MRNs to ITUs, releases goods, "
        "places and lifts its holds, follows deviations and every dead letter.",
        GDF: "The Guardia di Finanza: confirms exits, places and lifts its holds, follows "
        "deviations.",
        PartyKind.AGENCY: "Another agency (health, phytosanitary, veterinary): places and lifts "
        "its own holds, nobody else's.",
        PartyKind.TERMINAL: "A terminal operator: asks whether units may leave (verdicts, IOT "
        "states, exits), never sees a hold's reason.",
        PartyKind.RAIL_OPERATOR: "A train operator: sends loading lists and manifests for its "
        "own trains and reads the answers about them, nobody else's.",
        PartyKind.RAIL_PORTAL: "The OCR portal at a rail exit gate: sends the consist it read "
        "and reads the check.",
        PartyKind.READER: "A gate ID-reader's service (OCR, RFID, barcode): device payloads in, "
        "raw reads out (`iotrack reader run`).",
        FUSION: "iotrack's passage fusion: one passage per physical crossing from its sensor "
        "reads, OCR repaired (`iotrack fuse`).",
        CORE: "iotrack's tracking core: the only writer of the public state (`iotrack run`).",
        PROJECTION: "iotrack's Postgres projection of the public topics (`iotrack project`).",
        API: "iotrack's query API; its gate check keeps the verdicts by ITU in memory, and its "
        "web console sends a signed-in rail operator's loading lists and manifests on that "
        "operator's own topic (`iotrack api`).",
        SUBSCRIPTIONS: "iotrack's delivery of subscriptions (webhooks, event streams).",
    }
)


def admits(audience: Iterable[Audience], party: Sender) -> bool:
    """Whether ``party`` is in ``audience``: named, or of a kind named (services are always
    named one by one)."""
    return any(
        member == party or (member is party.kind and member is not PartyKind.SERVICE)
        for member in audience
    )


def describe(member: Audience) -> str:
    """What an audience member is."""
    if isinstance(member, Sender) and member.kind is PartyKind.AGENCY:
        return DESCRIPTIONS[PartyKind.AGENCY]
    if member in SINGLE:
        return DESCRIPTIONS[Sender(PartyKind(member), str(member))]
    return DESCRIPTIONS[member]


def label(member: Audience) -> str:
    """How a member is named in documents: a principal, or ``every <kind>``."""
    if isinstance(member, Sender) or member in SINGLE:
        return str(member)
    return f"every {member}"
