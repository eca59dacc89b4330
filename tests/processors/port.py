"""A small port in code for the core's unit tests: inputs written as the shells decode them,
applied one by one to one ``CoreState`` through the pure core, and what it published read back
(the final verdict of each key, refusals, deviations). No Kafka, no files."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from processors.core import Channel, CoreConfig, CoreState, Output, apply
from processors.core.authority import claimed_sender
from processors.identifiers import container
from processors.identifiers import mrn as mrn_module
from processors.ids import deterministic_uuid7
from processors.parties import Sender

T0 = 1_795_600_000_000  # 2026-11-25 09:46:40 UTC
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

IMPORT_ROAD = [
    ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
    ("PORT-GATE-1", "PORT_GATE", "DESTINATION"),
]
RAIL_EXPORT = [
    ("RAIL-YARD-1", "RAIL_YARD", "DEPARTURE"),
    ("RAIL-GATE-1", "RAIL_YARD", "DESTINATION"),
]
WAGONS = ["318344783416", "318344783424", "318344783432"]


def box(serial: str, owner: str = "TSTU") -> str:
    """A valid container code with this owner and six-digit serial."""
    code = owner + serial
    return code + container.check_digit(code)


def mrn(n: int) -> str:
    """A valid MRN numbered ``n``."""
    body = f"26IT{n:012d}R"
    return body + mrn_module.check_digit(body)


def C(code: str) -> dict[str, Any]:  # noqa: N802 - reads as the kind
    return {"kind": "CONTAINER", "value": code}


def P(plate: str, country: str | None = "IT") -> dict[str, Any]:  # noqa: N802
    return {"kind": "PLATE", "value": plate, "country": country}


class Port:
    """One core, fed input by input; every output kept in order."""

    def __init__(self, config: CoreConfig | None = None, *, paths: bool = True) -> None:
        self.state = CoreState(config=config or CoreConfig())
        self.outputs: list[Output] = []
        self.sent = 0
        if paths:
            self.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [3 * DAY])
            self.path(T0, "RAIL-EXPORT", RAIL_EXPORT, [2 * DAY])

    # -- sending ---------------------------------------------------------------------------

    def record(self, at: int, event_id: str | None = None, **fields: Any) -> dict[str, Any]:
        self.sent += 1
        return {
            "event_id": event_id or deterministic_uuid7(at, "port", str(self.sent)),
            "source": "test",
            "occurred_at": at,
            **fields,
        }

    def send(
        self,
        name: str,
        at: int,
        *,
        sender: Sender | str | None = None,
        event_id: str | None = None,
        **fields: Any,
    ) -> list[Output]:
        """Apply one ``iotrack.<name>`` input; its outputs."""
        return self.apply(name, self.record(at, event_id, **fields), sender)

    def apply(
        self, name: str, record: dict[str, Any], sender: Sender | str | None = None
    ) -> list[Output]:
        schema = f"iotrack.{name}"
        party = (
            Sender.of(sender)
            if isinstance(sender, str)
            else (sender or claimed_sender(schema, record))
        )
        self.state, outputs = apply(self.state, schema, record, party)
        self.outputs.extend(outputs)
        return outputs

    def path(
        self, at: int, path_id: str, nodes: list[tuple[str, str, str]], budgets: list[int]
    ) -> list[Output]:
        return self.send(
            "MissionPathDefined",
            at,
            mission_path_id=path_id,
            version=1,
            nodes=[
                {"node_id": n, "kind": k, "role": r, "customs_relevant": True, "name": None}
                for n, k, r in nodes
            ],
            legs=[
                {"from_node": a[0], "to_node": b[0], "time_budget_ms": budget}
                for a, b, budget in zip(nodes, nodes[1:], budgets, strict=False)
            ],
            defined_by="ADM",
        )

    def bind(
        self,
        at: int,
        request_id: str,
        itus: list[dict[str, Any]],
        mrns: list[str],
        path: str = "IMPORT-ROAD",
    ) -> str:
        """Customs binds; the IOT_ID the request gives (bound or not)."""
        self.send(
            "BindingRequested",
            at,
            request_id=request_id,
            mrns=mrns,
            itus=itus,
            mission_path_id=path,
            requested_by="officer",
        )
        return iot_of(at, request_id)

    def passage(
        self,
        at: int,
        node: str,
        read_point: str,
        identifiers: list[dict[str, Any]],
        direction: str = "IN",
    ) -> list[Output]:
        return self.send(
            "Passage",
            at,
            read_point_id=read_point,
            node_id=node,
            lane="1",
            direction=direction,
            started_at=at,
            ended_at=at + 1500,
            identifiers=identifiers,
            evidence=[],
            sensors_agree=True,
        )

    def release(self, at: int, iot_id: str, number: str, **fields: Any) -> list[Output]:
        return self.send(
            "CustomsRelease", at, iot_id=iot_id, mrn=number, released_by="officer", **fields
        )

    def hold(self, at: int, iot_id: str, hold_id: str, agency: str, **fields: Any) -> list[Output]:
        return self.send(
            "HoldPlaced",
            at,
            iot_id=iot_id,
            hold_id=hold_id,
            agency=agency,
            hold_type="INSPECTION",
            reason_code="RISK-7",
            reason="secret",
            placed_by="officer",
            **fields,
        )

    def lift(self, at: int, iot_id: str, hold_id: str, agency: str, **fields: Any) -> list[Output]:
        return self.send(
            "HoldLifted",
            at,
            iot_id=iot_id,
            hold_id=hold_id,
            agency=agency,
            hold_type="INSPECTION",
            lifted_by="officer",
            **fields,
        )

    def exit(self, at: int, iot_id: str, gate: str = "PORT-GATE-1", **fields: Any) -> list[Output]:
        mode = "RAIL" if gate.startswith("RAIL") else "ROAD"
        return self.send(
            "ExitConfirmed",
            at,
            iot_id=iot_id,
            mode=mode,
            gate_node_id=gate,
            confirmed_by="gdf.b",
            **fields,
        )

    def declare(self, at: int, number: str, state: str, **fields: Any) -> list[Output]:
        return self.send(
            "DeclarationStatus", at, mrn=number, state=state, declarant="decl", **fields
        )

    def change(
        self,
        at: int,
        iot_id: str,
        *,
        itus_added: Iterable[dict[str, Any]] = (),
        itus_removed: Iterable[dict[str, Any]] = (),
        mrns_added: Iterable[str] = (),
        mrns_removed: Iterable[str] = (),
        **fields: Any,
    ) -> list[Output]:
        return self.send(
            "BindingChanged",
            at,
            iot_id=iot_id,
            itus_added=list(itus_added),
            itus_removed=list(itus_removed),
            mrns_added=list(mrns_added),
            mrns_removed=list(mrns_removed),
            changed_by="officer",
            reason="r",
            **fields,
        )

    def end(self, at: int, iot_id: str, valid_to: int | None = None, **fields: Any) -> list[Output]:
        return self.send(
            "BindingEnded",
            at,
            iot_id=iot_id,
            reason="CORRECTION",
            ended_by="officer",
            valid_to=at if valid_to is None else valid_to,
            **fields,
        )

    def manifest(
        self,
        at: int,
        train: str,
        version: int,
        wagons: list[list[str]],
        mrns: list[str],
        *,
        operator: str = "tuscan-rail",
        **fields: Any,
    ) -> list[Output]:
        return self.send(
            "TrainManifest",
            at,
            train_id=train,
            version=version,
            operator=operator,
            wagons=[
                {
                    "position": n,
                    "wagon_number": WAGONS[n - 1],
                    "itus": [C(u) for u in units],
                    "mrns": mrns,
                    "transport_document": None,
                }
                for n, units in enumerate(wagons, start=1)
            ],
            **fields,
        )

    def loading_list(
        self, at: int, train: str, units: list[str], operator: str = "tuscan-rail"
    ) -> list[Output]:
        return self.send(
            "TrainLoadingList",
            at,
            train_id=train,
            operator=operator,
            items=[{"itu": C(u)} for u in units],
        )

    # -- reading back ----------------------------------------------------------------------

    def verdicts(self) -> dict[str, dict[str, Any] | None]:
        """The last record published under each key of the verdict-by-ITU topic (None: a
        tombstone)."""
        found: dict[str, dict[str, Any] | None] = {}
        for o in self.outputs:
            if o.channel is Channel.VERDICT_BY_ITU:
                found[o.key] = o.value
        return found

    def verdict(self, key: str) -> dict[str, Any] | None:
        return self.verdicts().get(key)

    def may_leave(self, key: str) -> bool:
        value = self.verdict(key)
        return bool(value and value["may_leave"])


def iot_of(at: int, request_id: str) -> str:
    """The IOT_ID the core derives for a binding request."""
    return deterministic_uuid7(at, "iot", request_id)


def refusals(outputs: Iterable[Output]) -> list[tuple[str, str]]:
    """``(error_kind, reason)`` of each refusal (the dead letters, not the replies' copies)."""
    return [
        (str(o.value["error_kind"]), str(o.value["reason"]))
        for o in outputs
        if o.channel is Channel.REFUSALS and o.value is not None
    ]


def deviations(outputs: Iterable[Output], kind: str | None = None) -> list[dict[str, Any]]:
    return [
        o.value
        for o in outputs
        if o.channel is Channel.DEVIATIONS
        and o.value is not None
        and (kind is None or o.value["kind"] == kind)
    ]
