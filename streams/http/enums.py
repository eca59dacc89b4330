"""The Avro enums of ``avro/`` as Python enums for the HTTP models (generated: do not
edit; ``make enums`` writes it from the schemas, and a test checks it is current)."""

from __future__ import annotations

from enum import StrEnum


class Agency(StrEnum):
    """iotrack.Agency: Agency that can place and lift holds: CUSTOMS (Agenzia delle Dogane e dei
    Monopoli), GDF (Guardia di Finanza), HEALTH (port health authority), PHYTOSANITARY (plant
    health service) or VETERINARY (veterinary border control).
    """

    CUSTOMS = "CUSTOMS"
    GDF = "GDF"
    HEALTH = "HEALTH"
    PHYTOSANITARY = "PHYTOSANITARY"
    VETERINARY = "VETERINARY"


class BindingEndReason(StrEnum):
    """iotrack.BindingEndReason: Why a binding between an IOT_ID and its MRNs and ITUs ended:
    TRANSLOADED (goods moved to another unit), DECLARATION_ANNULLED (the declaration was
    annulled), EXITED (the goods left the port) or CORRECTION (the binding was wrong and is
    being corrected).
    """

    TRANSLOADED = "TRANSLOADED"
    DECLARATION_ANNULLED = "DECLARATION_ANNULLED"
    EXITED = "EXITED"
    CORRECTION = "CORRECTION"


class DeclarationState(StrEnum):
    """iotrack.DeclarationState: Lifecycle state of a customs declaration: LODGED (submitted by the
    declarant), ACCEPTED (accepted by Customs), UNDER_CONTROL (selected for a documentary or
    physical control), RELEASED (goods released for the declared procedure) or ANNULLED
    (declaration invalidated).
    """

    LODGED = "LODGED"
    ACCEPTED = "ACCEPTED"
    UNDER_CONTROL = "UNDER_CONTROL"
    RELEASED = "RELEASED"
    ANNULLED = "ANNULLED"


class DeviationKind(StrEnum):
    """iotrack.DeviationKind: Kind of deviation: UNKNOWN_UNIT (unit read with no bound IOT_ID),
    UNEXPECTED_NODE (read at a node not expected next on its path), SKIPPED_NODE (a required
    node was not crossed), OVERDUE (leg time budget exceeded), READ_AFTER_DEFINITIVE (read after
    its status became definitive), EXIT_WHILE_HELD (exit with a hold open), EXIT_WITHOUT_RELEASE
    (exit with an MRN not released), DUPLICATE_EXIT (exit confirmed more than once),
    BINDING_CONFLICT (an ITU bound to more than one active IOT_ID on the same mission),
    CONSIST_MISMATCH (train consist detected at exit differs from the manifest),
    UNREADABLE_IDENTIFIER (a unit code read at a node fails its check digit and no bound unit
    fits it), DECLARATION_ANNULLED (a declaration bound to the IOT_ID was annulled) or OTHER (a
    kind this reader's schema does not know yet: the default for kinds added later).
    """

    UNKNOWN_UNIT = "UNKNOWN_UNIT"
    UNEXPECTED_NODE = "UNEXPECTED_NODE"
    SKIPPED_NODE = "SKIPPED_NODE"
    OVERDUE = "OVERDUE"
    READ_AFTER_DEFINITIVE = "READ_AFTER_DEFINITIVE"
    EXIT_WHILE_HELD = "EXIT_WHILE_HELD"
    EXIT_WITHOUT_RELEASE = "EXIT_WITHOUT_RELEASE"
    DUPLICATE_EXIT = "DUPLICATE_EXIT"
    BINDING_CONFLICT = "BINDING_CONFLICT"
    CONSIST_MISMATCH = "CONSIST_MISMATCH"
    UNREADABLE_IDENTIFIER = "UNREADABLE_IDENTIFIER"
    DECLARATION_ANNULLED = "DECLARATION_ANNULLED"
    OTHER = "OTHER"


class Direction(StrEnum):
    """iotrack.Direction: Travel direction of a unit through a read point: IN (entering the node),
    OUT (leaving the node) or UNKNOWN (not determined); readers that meet a symbol they do not
    know read it as UNKNOWN.
    """

    IN = "IN"
    OUT = "OUT"
    UNKNOWN = "UNKNOWN"


class ExitMode(StrEnum):
    """iotrack.ExitMode: How goods left the port: ROAD (by truck through a road gate) or RAIL (by
    train through a rail gate).
    """

    ROAD = "ROAD"
    RAIL = "RAIL"


class IotStatus(StrEnum):
    """iotrack.IotStatus: Tracking status of an IOT_ID: BOUND (bound, not yet read on its path),
    AT_NODE (last read entering or inside a node), IN_TRANSIT (left a node, heading for the next
    one), DEFINITIVE (reached its destination node, status final) or CLOSED (binding ended,
    tracking finished).
    """

    BOUND = "BOUND"
    AT_NODE = "AT_NODE"
    IN_TRANSIT = "IN_TRANSIT"
    DEFINITIVE = "DEFINITIVE"
    CLOSED = "CLOSED"


class ItuKind(StrEnum):
    """iotrack.ItuKind: Kind of intermodal transport unit identifier: CONTAINER (ISO 6346 code),
    ILU (EN 13044 code), PLATE (vehicle registration plate), SWAP_BODY (swap body id), SEAL
    (seal number), MANIFEST_GOODS (goods id on the electronic manifest) or WAGON (12-digit UIC
    wagon number).
    """

    CONTAINER = "CONTAINER"
    ILU = "ILU"
    PLATE = "PLATE"
    SWAP_BODY = "SWAP_BODY"
    SEAL = "SEAL"
    MANIFEST_GOODS = "MANIFEST_GOODS"
    WAGON = "WAGON"


class NodeKind(StrEnum):
    """iotrack.NodeKind: Kind of logistic node: PORT_GATE (gate in the port perimeter), TERMINAL
    (container or ro-ro terminal), TEMPORARY_STORAGE (temporary storage facility), CUSTOMS_AREA
    (customs control area), QUAY_GATE (quay access gate), RAIL_YARD (rail yard) or DRY_PORT
    (extra-port facility).
    """

    PORT_GATE = "PORT_GATE"
    TERMINAL = "TERMINAL"
    TEMPORARY_STORAGE = "TEMPORARY_STORAGE"
    CUSTOMS_AREA = "CUSTOMS_AREA"
    QUAY_GATE = "QUAY_GATE"
    RAIL_YARD = "RAIL_YARD"
    DRY_PORT = "DRY_PORT"


class NodeRole(StrEnum):
    """iotrack.NodeRole: Role of a node on a mission path: DEPARTURE (where the IOT_ID is
    generated), INTERMEDIATE (a node Customs requires the IOT_ID to cross) or DESTINATION (where
    its status becomes definitive).
    """

    DEPARTURE = "DEPARTURE"
    INTERMEDIATE = "INTERMEDIATE"
    DESTINATION = "DESTINATION"


class SensorKind(StrEnum):
    """iotrack.SensorKind: Sensor technology of a gate reader: OCR (camera text recognition), RFID
    (radio tag read) or BARCODE (barcode or QR scan, e.g. of a printed IOT_ID).
    """

    OCR = "OCR"
    RFID = "RFID"
    BARCODE = "BARCODE"


class Severity(StrEnum):
    """iotrack.Severity: How urgently Customs should act on a deviation: INFO (for the record),
    WARNING (needs review) or CRITICAL (needs immediate action, e.g. an exit while held).
    """

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class TrainPhase(StrEnum):
    """iotrack.TrainPhase: Phase of a train: LISTED (loading list answered, no manifest), REFUSED
    (manifest refused permission to leave), PERMITTED (permission granted), REVOKED (the consist
    detected at exit differs from the manifest), CONFIRMING (the consist matched; the units wait
    for the GdF exit confirmation), DEPARTED (every unit confirmed out).
    """

    LISTED = "LISTED"
    REFUSED = "REFUSED"
    PERMITTED = "PERMITTED"
    REVOKED = "REVOKED"
    CONFIRMING = "CONFIRMING"
    DEPARTED = "DEPARTED"


class Verdict(StrEnum):
    """iotrack.Verdict: Clearance verdict for a unit: CLEARED (may leave), HELD (at least one
    agency hold is open), NOT_RELEASED (an MRN lacks a Customs release), EXITED (exit already
    confirmed) or UNKNOWN (no bound IOT_ID found, or a symbol this reader does not know).
    """

    CLEARED = "CLEARED"
    HELD = "HELD"
    NOT_RELEASED = "NOT_RELEASED"
    EXITED = "EXITED"
    UNKNOWN = "UNKNOWN"
