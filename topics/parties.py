"""Who writes and reads the catalogued topics: the parties outside iotrack and iotrack's services.

Each :class:`~topics.catalog.Topic` names its ``writers`` and ``readers`` with these; the
AsyncAPI document (:mod:`topics.asyncapi`) turns them into ``send`` and ``receive`` operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Party(StrEnum):
    """A writer or reader of topics."""

    CUSTOMS = "customs"
    GDF = "gdf"
    AGENCY = "agency"
    RAIL_OPERATOR = "rail-operator"
    RAIL_PORTAL = "rail-portal"
    READER = "reader"
    FUSION = "fusion"
    CORE = "core"
    PROJECTION = "projection"
    API = "api"

    @property
    def outside(self) -> bool:
        """Whether it is a party outside iotrack (else one of iotrack's own services)."""
        return self in _OUTSIDE

    @property
    def description(self) -> str:
        """What it is, and through which command it reaches the topics."""
        return DESCRIPTIONS[self]


_OUTSIDE = frozenset(
    {Party.CUSTOMS, Party.GDF, Party.AGENCY, Party.RAIL_OPERATOR, Party.RAIL_PORTAL}
)

DESCRIPTIONS: Mapping[Party, str] = {
    Party.CUSTOMS: "Customs (ADM): binds MRNs to ITUs, defines mission paths, holds and releases "
    "goods, follows deviations (its systems, or `iotrack publish`).",
    Party.GDF: "The Guardia di Finanza: confirms exits, may hold goods "
    "(`iotrack publish`, `iotrack rail confirm-exits`).",
    Party.AGENCY: "The other agencies (health, phytosanitary, veterinary): place and lift their "
    "own holds (`iotrack publish`).",
    Party.RAIL_OPERATOR: "A train operator: sends loading lists and manifests, reads the answers "
    "(`iotrack rail loading-list`, `iotrack rail manifest`).",
    Party.RAIL_PORTAL: "The rail exit gate's OCR portal: sends the consist it detected, reads the "
    "check (`iotrack rail consist`).",
    Party.READER: "iotrack's gate reader service at an ID-reader (OCR, RFID, barcode): device "
    "payloads in, raw reads out (`iotrack reader run`).",
    Party.FUSION: "iotrack's passage fusion: a passage per physical crossing from its sensor "
    "reads, OCR repaired (`iotrack fuse`).",
    Party.CORE: "iotrack's tracking core: bindings, mission paths, clearance and rail, in one "
    "Kafka transaction per batch (`iotrack run`).",
    Party.PROJECTION: "iotrack's Postgres projection of the public topics, behind the query API "
    "(`iotrack project`).",
    Party.API: "iotrack's query API: its gate check keeps the verdicts by ITU in memory "
    "(`iotrack api`).",
}
