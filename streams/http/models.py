"""The HTTP API's typed documents (pydantic): what each endpoint answers, errors included.

Enums are the Avro schemas' own (:mod:`streams.http.enums`, generated from ``avro/``). The
OpenAPI document is derived from these models and the routes, so it cannot drift from them.
Fields that a role may not see are optional and left out of its answer (routes answer with
``exclude_unset``): their descriptions say who sees them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from streams.http.enums import (
    Agency,
    BindingEndReason,
    DeclarationState,
    DeviationKind,
    Direction,
    ExitMode,
    IotStatus,
    ItuKind,
    NodeKind,
    NodeRole,
    Severity,
    TrainPhase,
    Verdict,
)

LookupKind = Literal["CONTAINER", "ILU", "SWAP_BODY", "SEAL", "PLATE"]
"""The :class:`ItuKind` symbols a unit can be looked up by (a test checks each is one)."""

CUSTOMS_ONLY = "Customs role only."


class Document(BaseModel):
    """Base of the answers: fields as declared, nothing else."""

    model_config = ConfigDict(extra="ignore")


class Error(Document):
    """Every error answer: the HTTP phrase, the status, a message; 400 names the parameter."""

    error: str = Field(examples=["Bad Request"])
    status: int = Field(examples=[400])
    message: str = Field(examples=["limit: expected a whole number from 1 to 500"])
    parameter: str | None = Field(default=None, description="The offending parameter (400 only).")


class OpenHold(Document):
    """A hold in force, as every role may see it (no reason code)."""

    agency: Agency
    hold_type: str
    placed_at: datetime | None = None
    hold_id: str


class VerdictDoc(Document):
    """The clearance verdict: may the unit leave the port now."""

    verdict: Verdict
    may_leave: bool
    mrns_pending: list[str] = []
    open_holds: list[OpenHold] | None = Field(
        default=None, description="Holds in force; not in a terminal's timeline."
    )
    reasons: list[str] = Field(description="For gate and terminal staff; never restricted.")
    as_of: datetime | None = None


class CarriedDecision(Document):
    """One IOT_ID a carrier carries now, with its own verdict."""

    iot_id: UUID
    unit: str | None = Field(
        default=None, description="ITU key of the IOT_ID's cargo unit, when it has one."
    )
    may_leave: bool
    verdict: Verdict
    reasons: list[str] = []


class UnitVerdict(VerdictDoc):
    """The verdict of a unit (by its ITU key), with the IOT_ID it came from; for a carrier (a
    plate, a wagon), no IOT_ID but the IOT_IDs it carries, each with its own verdict."""

    iot_id: UUID | None = None
    carried: list[CarriedDecision] = []


class Hold(Document):
    """A hold placed by an agency; reason_code, reason and outcome for Customs only."""

    agency: Agency
    hold_id: str
    hold_type: str
    placed_at: datetime | None = None
    placed_by: str | None = None
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    open: bool
    reason_code: str | None = Field(default=None, description=CUSTOMS_ONLY)
    reason: str | None = Field(default=None, description=f"Risk details; {CUSTOMS_ONLY}")
    outcome: str | None = Field(default=None, description=f"Control outcome; {CUSTOMS_ONLY}")


class Deviation(Document):
    """A deviation, as listed by ``/deviations``."""

    event_id: UUID
    occurred_at: datetime
    kind: DeviationKind
    severity: Severity
    iot_id: UUID | None = None
    node_id: str | None = None
    read_point_id: str | None = None
    itu: str | None = Field(default=None, description="ITU key, e.g. CONTAINER:MSCU9538930.")
    mission_path_id: str | None = None
    expected: str
    observed: str


class DeviationPage(Document):
    """A page of deviations in the order the projection recorded them."""

    items: list[Deviation]
    next_cursor: str = Field(
        description="Pass as `after` for the next page; on an empty page, the cursor given."
    )
    has_more: bool


class TimelineDeviation(Document):
    """A deviation of the IOT_ID."""

    event_id: UUID
    occurred_at: datetime
    kind: DeviationKind
    severity: Severity
    node_id: str | None = None
    read_point_id: str | None = None
    expected: str
    observed: str


class TimelineNode(Document):
    """A node of the mission path, expected and crossed."""

    node_id: str
    name: str | None = None
    kind: NodeKind
    role: NodeRole
    customs_relevant: bool
    time_budget_ms: int | None = Field(
        default=None, description="The budget of the leg that ends here, in milliseconds."
    )
    crossed: bool
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    expected_next: bool
    deadline: datetime | None = None


class OffPath(Document):
    """A node the IOT_ID was seen at that is not on its mission path."""

    node_id: str
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None


class BoundItu(Document):
    """A transport unit bound to the IOT_ID, with its validity."""

    itu: str
    kind: ItuKind
    value: str
    country: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class Binding(Document):
    """The binding Customs made: MRNs and units."""

    request_id: str
    mrns: list[str]
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    end_reason: BindingEndReason | None = None
    itus: list[BoundItu]


class BindingAnswer(Binding):
    """The binding Customs asked for by its request id: the IOT_ID it got, on which path, by
    whom; ``active`` until it ends."""

    iot_id: UUID
    mission_path_id: str
    requested_by: str
    ended_by: str | None = None
    active: bool


class PassageDoc(Document):
    """One physical crossing of a read point."""

    event_id: UUID
    at: datetime
    node_id: str
    read_point_id: str
    direction: Direction
    lane: str | None = None


class Transition(Document):
    """A change of the IOT_ID's state."""

    version: int
    at: datetime | None = None
    status: IotStatus
    node_id: str | None = None


class Release(Document):
    """A Customs release of one MRN (or its annulment)."""

    mrn: str
    at: datetime | None = None
    released_by: str | None = None
    annulled: bool


class Exit(Document):
    """The GdF exit confirmation."""

    at: datetime | None = None
    mode: ExitMode
    gate_node_id: str | None = None
    confirmed_by: str | None = None
    train_id: str | None = None


class DeclarationDoc(Document):
    """The state a declaration (an MRN of the binding) is in, as Customs' system last said."""

    mrn: str
    state: DeclarationState
    at: datetime = Field(description="When the declaration entered this state.")
    source: str = Field(description="The declaration system that said so.")
    procedure: str | None = None
    declarant: str | None = None
    note: str | None = None


class Timeline(Document):
    """An IOT_ID along its mission path. A terminal gets no holds, releases or deviations (and
    no open holds in the verdict); the GdF gets holds without reason codes and outcomes; the
    states of the declarations (a control under way) are Customs' only."""

    iot_id: UUID
    status: IotStatus | None = None
    mission_path_id: str | None = None
    mission_path_version: int | None = None
    current_node_id: str | None = None
    definitive_at: datetime | None = None
    binding: Binding | None = None
    nodes: list[TimelineNode]
    off_path: list[OffPath]
    passages: list[PassageDoc]
    passages_truncated: bool = Field(description="More passages exist than the timeline lists.")
    transitions: list[Transition]
    verdict: VerdictDoc | None = None
    holds: list[Hold] | None = Field(default=None, description="Customs and GdF only.")
    releases: list[Release] | None = Field(default=None, description="Customs and GdF only.")
    exit: Exit | None = None
    deviations: list[TimelineDeviation] | None = Field(
        default=None, description="Customs and GdF only."
    )
    declarations: list[DeclarationDoc] | None = Field(
        default=None, description="Customs only: the state of each MRN of the binding."
    )


class ActiveIot(Document):
    """An IOT_ID bound to the unit now."""

    iot_id: UUID
    bound_since: datetime | None = None
    mission_path_id: str | None = None
    status: IotStatus | None = None
    verdict: VerdictDoc | None = None


class Lookup(Document):
    """A unit's active IOT_IDs and its verdict."""

    itu: str = Field(description="ITU key, e.g. CONTAINER:CSQU3054383 or PLATE:IT:AB123CD.")
    active: list[ActiveIot]
    verdict: UnitVerdict


class GateDecision(Document):
    """May this unit leave through the gate now, from the verdicts held in memory. For a
    carrier (a truck's plate, a wagon) ``carried`` lists the IOT_IDs it carries, each with its
    own verdict; the carrier may leave only when every one of them may."""

    itu: str
    may_leave: bool
    verdict: Verdict
    iot_id: UUID | None = None
    reasons: list[str]
    as_of: datetime | None = None
    gate: str | None = Field(default=None, description="The gate asking, echoed.")
    open_holds: list[OpenHold] = []
    mrns_pending: list[str] = []
    carried: list[CarriedDecision] = []


class TrainState(Document):
    """Where the train stands, as the tracking core publishes it."""

    phase: TrainPhase
    manifest_version: int | None = None
    manifest_versions: list[int]
    permission_granted: bool | None = None
    reasons: list[str]
    units: int
    units_ready: int
    iot_ids: list[UUID]
    exited: int
    as_of: datetime | None = None


class Manifest(Document):
    """One manifest version (wagons as the operator sent them)."""

    version: int
    sent_at: datetime | None = None
    supersedes_version: int | None = None
    wagons: list[dict[str, Any]]


class Permission(Document):
    """The latest decision on the permission to leave."""

    status: Literal["PENDING", "GRANTED", "REFUSED"]
    manifest_version: int | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    reasons: list[str] | None = None
    for_latest_manifest: bool | None = None


class PermissionDecision(Document):
    """One decision on the permission to leave."""

    manifest_version: int
    decided_at: datetime | None = None
    granted: bool
    reasons: list[str]
    decided_by: str | None = None


class LoadingList(Document):
    """A loading list as submitted or as answered."""

    at: datetime | None = None
    planned_departure: datetime | None = None
    answered: bool
    items: list[dict[str, Any]]


class Train(Document):
    """A train: manifest versions, loading lists and the permission to leave."""

    train_id: str
    operator: str | None = None
    status: TrainState | None = None
    latest_manifest_version: int | None = None
    manifests: list[Manifest]
    permission: Permission
    permissions: list[PermissionDecision]
    loading_lists: list[LoadingList]


class Health(Document):
    """Whether the database and the gate state answer, and the records the gate state could
    not read and went past."""

    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    gate_state: Literal["ready", "loading", "dead"]
    gate_state_skipped: int = 0
    gate_state_last_skipped: str | None = None
