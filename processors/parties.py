"""Who acts: the parties that send iotrack its inputs, as the core knows them.

A party is known by where its records come from, never by what they claim: the shells tell the
core which party's channel (topic) each input was read from, as a ``Sender``, and the core
checks the claims in the record against it (``processors.core.authority``).

>>> Sender.agency("phytosanitary")
Sender(kind=<PartyKind.AGENCY: 'agency'>, name='phytosanitary')
>>> Sender.agency("CUSTOMS").agency_name, Sender.agency("GDF").kind
('CUSTOMS', <PartyKind.GDF: 'gdf'>)
>>> Sender.rail_operator("tuscan-rail").principal
'rail-operator.tuscan-rail'
>>> Sender.of("customs"), Sender.of("rail-operator.tuscan-rail").name
(Sender(kind=<PartyKind.CUSTOMS: 'customs'>, name='customs'), 'tuscan-rail')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from processors.errors import ProcessorError

AGENCIES = ("CUSTOMS", "GDF", "HEALTH", "PHYTOSANITARY", "VETERINARY")
"""The symbols of the Avro enum ``iotrack.Agency``: who may place and lift holds."""

NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?")
"""A party's own name (a terminal, an operator, a device): lower case letters, digits and inner
hyphens, at most 48 characters, so that it can stand in topic names and principals."""


class PartyKind(StrEnum):
    """The kinds of party; each has its own credentials and rights."""

    CUSTOMS = "customs"
    GDF = "gdf"
    AGENCY = "agency"
    """Another agency that places holds: health, phytosanitary, veterinary."""
    TERMINAL = "terminal"
    RAIL_OPERATOR = "rail-operator"
    RAIL_PORTAL = "rail-portal"
    """The OCR portal at a rail exit gate, which reads a train's consist."""
    READER = "reader"
    """A gate ID-reader's service (OCR, RFID, barcode)."""
    SERVICE = "service"
    """One of iotrack's own services (core, fusion, projection, api, subscriptions)."""


SINGLE = frozenset({PartyKind.CUSTOMS, PartyKind.GDF})
"""Kinds with exactly one party, whose name is the kind's."""


class UnknownParty(ProcessorError, ValueError):  # noqa: N818 (the name reads as the fault)
    """A party name that does not name a party of its kind."""


@dataclass(frozen=True, slots=True)
class Sender:
    """The party whose channel an input came from."""

    kind: PartyKind
    name: str

    def __post_init__(self) -> None:
        if self.kind in SINGLE and self.name != self.kind.value:
            raise UnknownParty(f"{self.kind} has one party, named {self.kind.value}")
        if self.kind is PartyKind.AGENCY and self.name.upper() not in AGENCIES[2:]:
            raise UnknownParty(
                f"{self.name!r} is not an agency; one of {', '.join(a.lower() for a in AGENCIES)}"
            )
        if not NAME.fullmatch(self.name):
            raise UnknownParty(
                f"{self.name!r}: a party name is lower case letters, digits and inner hyphens"
            )

    @classmethod
    def agency(cls, agency: str) -> Sender:
        """The party of an agency (Customs and the GdF are agencies too)."""
        name = agency.lower()
        if name in (PartyKind.CUSTOMS, PartyKind.GDF):
            return cls(PartyKind(name), name)
        return cls(PartyKind.AGENCY, name)

    @classmethod
    def rail_operator(cls, operator: str) -> Sender:
        return cls(PartyKind.RAIL_OPERATOR, operator)

    @classmethod
    def service(cls, name: str) -> Sender:
        return cls(PartyKind.SERVICE, name)

    @classmethod
    def of(cls, principal: str) -> Sender:
        """The party of a principal name (``customs``, ``rail-operator.tuscan-rail``)."""
        kind, _, name = principal.partition(".")
        try:
            party_kind = PartyKind(kind)
        except ValueError:
            raise UnknownParty(f"{principal!r}: no party kind {kind!r}") from None
        return cls(party_kind, name or kind)

    @property
    def agency_name(self) -> str | None:
        """The ``iotrack.Agency`` symbol this party places holds as, if it is an agency."""
        if self.kind in SINGLE or self.kind is PartyKind.AGENCY:
            return self.name.upper()
        return None

    @property
    def principal(self) -> str:
        """Its principal (Kafka user, API name): ``kind.name``, or the kind for single ones."""
        return self.kind.value if self.kind in SINGLE else f"{self.kind}.{self.name}"

    def __str__(self) -> str:
        return self.principal


CUSTOMS = Sender(PartyKind.CUSTOMS, "customs")
GDF = Sender(PartyKind.GDF, "gdf")
FUSION = Sender.service("fusion")
