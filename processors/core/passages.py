"""Passages: a read point's reads resolved to IOT_IDs, and each IOT_ID moved along its path."""

from __future__ import annotations

from dataclasses import replace

from processors import clearance as clearing
from processors import mission
from processors.core.outputs import Emitter, publish_state
from processors.core.state import NO_UNITS, CoreState, Tracked, UnitKeys
from processors.events import Itu, Passage

_UNIT_KINDS = ("CONTAINER", "ILU", "SWAP_BODY")


def exit_deviation(
    out: Emitter, iot: Tracked, node_id: str | None, read_point_id: str | None, what: str
) -> None:
    """Leaving while held or not released is the deviation Customs must see first."""
    verdict = iot.clearance.verdict
    if verdict is clearing.Verdict.HELD:
        holds = ", ".join(f"{h.agency} {h.hold_type}" for h in iot.clearance.open_holds())
        out.deviation(
            "EXIT_WHILE_HELD",
            iot=iot,
            node_id=node_id,
            read_point_id=read_point_id,
            expected="no exit while a hold is open",
            observed=f"{what}; open: {holds}",
        )
    elif verdict is clearing.Verdict.NOT_RELEASED:
        pending = ", ".join(iot.clearance.pending_mrns())
        out.deviation(
            "EXIT_WITHOUT_RELEASE",
            iot=iot,
            node_id=node_id,
            read_point_id=read_point_id,
            expected="every MRN released before exit",
            observed=f"{what}; not released: {pending}",
        )


def move(
    state: CoreState,
    iot: Tracked,
    signal: mission.Signal,
    out: Emitter,
    *,
    node_id: str | None = None,
    read_point_id: str | None = None,
) -> Tracked:
    moved = mission.advance(iot.position, signal, out.at, node_id)
    iot = replace(iot, position=moved.position)
    if moved.position.phase is mission.Phase.DEFINITIVE and iot.retire_at is None:
        # The mission is over: the units are free for a new binding from now on.
        state.ledger.unbind(iot.itu_keys, iot.iot_id, out.at)
        iot = replace(iot, retire_at=out.at + state.config.retire_after_ms)
    state.store(iot)
    if moved.deviation:
        out.deviation(
            moved.deviation,
            iot=iot,
            node_id=node_id,
            read_point_id=read_point_id,
            expected=moved.expected,
            observed=moved.observed,
        )
    if moved.changed:
        publish_state(out, iot)
    return iot


def passage(state: CoreState, event: Passage, out: Emitter) -> UnitKeys:
    """Resolve a passage's identifiers and IOT_IDs and move each IOT_ID read; a passage changes
    no unit's clearance (a unit made definitive is unbound, but its verdict stands)."""
    node_id, read_point = event.node_id, event.read_point_id
    at = out.at
    resolved: list[str] = []
    for iot_id in event.iot_ids:
        if iot_id in state.iots and iot_id not in resolved:
            resolved.append(iot_id)
    unknown: list[Itu] = []
    for itu in event.identifiers:
        key = itu.key
        # Bound then, and still tracked: a late read of a retired IOT_ID finds none.
        found = [i.iot_id for i in state.ledger.active(key, at) if i.iot_id in state.iots]
        if not found:
            # A unit whose mission ended but which is still tracked: a read after definitive.
            ended = [
                i
                for i in state.ledger.intervals.get(key, ())
                if i.iot_id in state.iots and i.valid_to is not None and i.valid_to <= at
            ]
            found = [ended[-1].iot_id] if ended else []
        for iot_id in found:
            if iot_id not in resolved:
                resolved.append(iot_id)
        if not found and itu.kind in _UNIT_KINDS:
            unknown.append(itu)
    if state.customs_relevant(node_id):
        for itu in unknown:
            out.deviation(
                "UNKNOWN_UNIT",
                iot=None,
                itu=itu,
                node_id=node_id,
                read_point_id=read_point,
                expected=f"an IOT_ID bound to {itu.key}",
                observed=f"{itu.key} read at {node_id} with no active IOT_ID",
            )
    for iot_id in resolved:
        iot = state.iots[iot_id]
        signal = mission.classify(iot.position, node_id)
        if signal in mission.EXIT_SIGNALS:
            exit_deviation(
                out, iot, node_id, read_point, f"read at exit gate {node_id} ({event.direction})"
            )
        move(state, iot, signal, out, node_id=node_id, read_point_id=read_point)
    return NO_UNITS
