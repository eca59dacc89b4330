"""Subscriptions, as data: what a party may ask for (filters per topic), what a notification
holds, and whether an event matches a subscription (pure, no I/O).

Topics a party subscribes to, and who may (:data:`streams.http.access.SUBSCRIPTION_ROLES`):

- ``deviations`` (customs, gdf): mission-path deviations, filtered by ``kinds``, ``nodes``,
  mission ``paths`` and ``severities``;
- ``verdicts`` (customs, gdf, terminal): clearance verdict changes of units, filtered by
  ``units`` (ITU keys), ``mrns`` (a unit bound to one of them) and ``nodes`` (the unit's IOT_ID
  is at one of them); a terminal must name its ``nodes``;
- ``trains`` (customs, gdf, rail-operator): a train's status; a rail operator receives its own
  trains only, whatever its filter says.

An empty list filters nothing. A notification is ``{"id": event id, "seq": n, "type", "key",
"subscription_id", "published_at", "data"}``; ``id`` is the event's own (a redelivery keeps
it), ``seq`` orders a subscription's notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from processors.identifiers import IdentifierError, validate_kind
from streams.http.access import BadParameter, Role, notification_view
from streams.http.enums import DeviationKind, Severity
from streams.http.params import itu_key_of

Topic = Literal["deviations", "verdicts", "trains"]
TOPICS: tuple[Topic, ...] = ("deviations", "verdicts", "trains")
Status = Literal["ACTIVE", "SUSPENDED"]

Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


def _unit(text: str) -> str:
    kind, _, rest = text.partition(":")
    country, _, value = rest.partition(":") if kind.upper() == "PLATE" else (None, "", rest)
    try:
        return itu_key_of(kind, value, country)
    except BadParameter as exc:
        raise ValueError(
            f"{text!r} is not an ITU key such as CONTAINER:CSQU3054383 ({exc})"
        ) from None


def _mrn(text: str) -> str:
    try:
        return validate_kind("mrn", text)
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


UnitKey = Annotated[Name, AfterValidator(_unit)]
Mrn = Annotated[Name, AfterValidator(_mrn)]
Few: Any = Field(default_factory=list, max_length=100)


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviationFilters(Filters):
    """Which deviations: any of these kinds, at any of these nodes, ... (empty: all)."""

    kinds: list[DeviationKind] = Few
    nodes: list[Name] = Few
    paths: list[Name] = Field(default_factory=list, max_length=100, description="Mission paths.")
    severities: list[Severity] = Few


class VerdictFilters(Filters):
    """Which verdict changes: of these units, of units bound to these MRNs, of units at these
    nodes (a terminal must name its nodes)."""

    units: list[UnitKey] = Field(
        default_factory=list, max_length=100, description="ITU keys, e.g. CONTAINER:CSQU3054383."
    )
    mrns: list[Mrn] = Few
    nodes: list[Name] = Few


class TrainFilters(Filters):
    """Which trains (empty: all the party may read; a rail operator's own only)."""

    trains: list[Name] = Few


FILTERS: Mapping[str, type[Filters]] = {
    "deviations": DeviationFilters,
    "verdicts": VerdictFilters,
    "trains": TrainFilters,
}
WebhookUrl = Annotated[HttpUrl, Field(description="Where webhooks are POSTed (http or https).")]


class _New(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: WebhookUrl | None = Field(
        default=None, description="Webhook URL; without one, the subscription is read as a stream."
    )


class NewDeviationSubscription(_New):
    topic: Literal["deviations"]
    filters: DeviationFilters = Field(default_factory=DeviationFilters)


class NewVerdictSubscription(_New):
    topic: Literal["verdicts"]
    filters: VerdictFilters = Field(default_factory=VerdictFilters)


class NewTrainSubscription(_New):
    topic: Literal["trains"]
    filters: TrainFilters = Field(default_factory=TrainFilters)


NewSubscription = Annotated[
    NewDeviationSubscription | NewVerdictSubscription | NewTrainSubscription,
    Field(discriminator="topic"),
]


class SubscriptionUpdate(BaseModel):
    """What a party may change: filters (of the subscription's topic), the webhook URL (null: a
    stream only), the status (ACTIVE resumes a suspended subscription from where it stopped)."""

    model_config = ConfigDict(extra="forbid")
    filters: dict[str, Any] | None = None
    url: WebhookUrl | None = None
    status: Status | None = None


class Subscription(BaseModel):
    """A subscription as its party sees it (the secret only when created or rotated)."""

    subscription_id: str
    topic: Topic
    filters: dict[str, Any]
    url: str | None = None
    status: Status
    suspended_reason: str | None = None
    failing_since: datetime | None = None
    delivered_seq: int = Field(description="The last notification a webhook delivered.")
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(
        default=None,
        description="HMAC-SHA256 key of Notification-Signature; shown only when created or "
        "rotated.",
    )
    previous_secret_until: datetime | None = Field(
        default=None,
        description="Until when the previous secret also signs (Notification-Signature-Previous).",
    )


class Delivery(BaseModel):
    """One webhook attempt."""

    attempted_at: datetime
    attempt: int
    first_seq: int
    last_seq: int
    events: int
    status_code: int | None = None
    error: str | None = None
    latency_ms: float


class Deliveries(BaseModel):
    items: list[Delivery]


def checked_filters(role: Role, topic: str, filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters of ``topic`` as stored (validated, normalised); BadParameter naming the
    filter when they are not filters of that topic or not for this role."""
    from pydantic import ValidationError

    try:
        parsed = FILTERS[topic].model_validate(dict(filters))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
        raise BadParameter(f"filters.{where}", first["msg"].removeprefix("Value error, ")) from None
    if role is Role.TERMINAL and isinstance(parsed, VerdictFilters) and not parsed.nodes:
        raise BadParameter("filters.nodes", "a terminal subscribes to verdicts at its nodes")
    return parsed.model_dump(mode="json")


# ------------------------------------------------------------------------------ events


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _itu(itu: Mapping[str, Any] | None) -> str | None:
    if not itu:
        return None
    if itu.get("kind") == "PLATE":
        return f"PLATE:{itu.get('country') or 'IT'}:{itu['value']}"
    return f"{itu['kind']}:{itu['value']}"


@dataclass(frozen=True)
class Event:
    """One event of a subscribed topic, as a notification's data (every field a party of some
    role may read; :func:`data_for` cuts it to the subscriber's role)."""

    topic: Topic
    event_id: str
    key: str
    event_type: str
    data: Mapping[str, Any]


def event_of(topic: Topic, value: Mapping[str, Any]) -> Event:
    """The notification data of a decoded Avro value of ``topic``."""
    if topic == "deviations":
        data: dict[str, Any] = {
            "event_id": value["event_id"],
            "occurred_at": _iso(value["occurred_at"]),
            "kind": value["kind"],
            "severity": value["severity"],
            "iot_id": value.get("iot_id"),
            "node_id": value.get("node_id"),
            "read_point_id": value.get("read_point_id"),
            "itu": _itu(value.get("itu")),
            "mission_path_id": value.get("mission_path_id"),
            "expected": value["expected"],
            "observed": value["observed"],
        }
        key = value.get("iot_id") or data["itu"] or value["event_id"]
        return Event(topic, value["event_id"], key, "deviation", data)
    if topic == "verdicts":
        data = {
            "event_id": value["event_id"],
            "itu": _itu(value.get("itu")),
            "iot_id": value.get("iot_id"),
            "verdict": value["verdict"],
            "may_leave": value["may_leave"],
            "mrns_pending": list(value.get("mrns_pending") or []),
            "open_holds": [
                {
                    "agency": h["agency"],
                    "hold_type": h["hold_type"],
                    "hold_id": h["hold_id"],
                    "placed_at": _iso(h.get("placed_at")),
                }
                for h in value.get("open_holds") or []
            ],
            "reasons": list(value.get("reasons") or []),
            "as_of": _iso(value.get("as_of")),
        }
        return Event(topic, value["event_id"], data["itu"] or "", "verdict", data)
    data = {
        "event_id": value["event_id"],
        "occurred_at": _iso(value["occurred_at"]),
        "train_id": value["train_id"],
        "operator": value["operator"],
        "phase": value["phase"],
        "manifest_version": value.get("manifest_version"),
        "permission_granted": value.get("permission_granted"),
        "reasons": list(value.get("reasons") or []),
        "units": value["units"],
        "units_ready": value["units_ready"],
        "exited": value["exited"],
    }
    return Event(topic, value["event_id"], value["train_id"], "train", data)


@dataclass(frozen=True)
class Owner:
    """The party a subscription belongs to."""

    role: Role
    operator: str | None


@dataclass(frozen=True)
class Context:
    """What a verdict's unit is now, for the node and MRN filters (from the projection)."""

    node: str | None = None
    mrns: frozenset[str] = frozenset()


def matches(
    owner: Owner, topic: str, filters: Mapping[str, Any], event: Event, context: Context
) -> bool:
    """Whether ``event`` goes to a subscription of ``owner`` with these ``filters``.

    >>> e = event_of("trains", {"event_id": "e", "occurred_at": 0, "train_id": "T1",
    ...     "operator": "OP-2", "phase": "LISTED", "units": 1, "units_ready": 0, "exited": 0})
    >>> matches(Owner(Role.RAIL_OPERATOR, "OP-1"), "trains", {}, e, Context())
    False
    >>> matches(Owner(Role.CUSTOMS, None), "trains", {"trains": ["T1"]}, e, Context())
    True
    """
    if topic != event.topic:
        return False
    data = event.data

    def among(name: str, value: Any) -> bool:
        wanted = filters.get(name) or []
        return not wanted or value in wanted

    if event.topic == "deviations":
        return (
            among("kinds", data["kind"])
            and among("nodes", data["node_id"])
            and among("paths", data["mission_path_id"])
            and among("severities", data["severity"])
        )
    if event.topic == "verdicts":
        mrns = filters.get("mrns") or []
        return (
            among("units", data["itu"])
            and among("nodes", context.node)
            and (not mrns or bool(context.mrns & set(mrns)))
        )
    if owner.role is Role.RAIL_OPERATOR and data["operator"] != owner.operator:
        return False
    return among("trains", data["train_id"])


def data_for(owner: Owner, event: Event) -> Any:
    """The event's data as the subscription's party may receive it."""
    return notification_view(owner.role, dict(event.data))
