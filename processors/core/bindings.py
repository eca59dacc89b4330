"""Mission paths and bindings: paths defined, IOT_IDs bound to their MRNs and ITUs, bindings
changed and ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from processors import clearance as clearing
from processors import mission
from processors.binding import check_itu
from processors.core import waiting
from processors.core.outputs import (
    Channel,
    Emitter,
    annulled_deviation,
    publish_carriers,
    publish_state,
    publish_verdicts,
)
from processors.core.passages import passage_for
from processors.core.state import NO_UNITS, CoreState, Tracked, UnitKeys
from processors.events import (
    BindingChanged,
    BindingEnded,
    BindingRequested,
    CustomsRelease,
    ExitConfirmed,
    HoldLifted,
    HoldPlaced,
    Itu,
    MissionPathDefined,
)
from processors.identifiers import mrn as mrn_module
from processors.identifiers.itu import is_carrier
from processors.ids import deterministic_uuid7

AboutAnIotId = (
    BindingChanged | BindingEnded | HoldPlaced | HoldLifted | CustomsRelease | ExitConfirmed
)
"""Inputs that name the IOT_ID they are about."""


def path_defined(state: CoreState, event: MissionPathDefined, out: Emitter) -> UnitKeys:
    try:
        path = mission.MissionPath.from_event(event)
    except mission.PathError as exc:
        out.refuse(str(exc), "PathError")
        return NO_UNITS
    known = state.paths.get(path.mission_path_id)
    if known is not None and known.version >= path.version:
        if known.version > path.version:
            out.refuse(
                f"mission path {path.mission_path_id} v{path.version} is older than the "
                f"known v{known.version}",
                "StalePathError",
            )
        return NO_UNITS
    state.paths[path.mission_path_id] = path
    state.changes.paths.add(path.mission_path_id)
    state.released.append(waiting.path_key(path.mission_path_id))
    return NO_UNITS


def binding_requested(state: CoreState, event: BindingRequested, out: Emitter) -> UnitKeys:
    if event.mission_path_id not in state.paths and event.request_id not in state.ledger.requests:
        waiting.park(
            state,
            out,
            waiting.path_key(event.mission_path_id),
            event,
            f"mission path {event.mission_path_id!r}",
        )
        return NO_UNITS
    return bind(
        state,
        out,
        request_id=event.request_id,
        mission_path_id=event.mission_path_id,
        mrns=event.mrns,
        itus=event.itus,
        requested_by=event.requested_by,
    )


def bind(
    state: CoreState,
    out: Emitter,
    *,
    request_id: str,
    mission_path_id: str,
    mrns: Sequence[str],
    itus: Sequence[Itu],
    requested_by: str,
) -> UnitKeys:
    """A binding request, from Customs or for a manifest's unit: a new IOT_ID bound to its MRNs
    and ITUs at the input's time, or refused; the units bound."""
    if request_id in state.ledger.requests:
        return NO_UNITS  # the same request again: the same IOT_ID exists already
    path = state.paths.get(mission_path_id)
    problems = [] if path else [f"unknown mission path {mission_path_id!r}"]
    problems += [f"MRN {m}: not valid" for m in mrns if not mrn_module.is_valid(m)]
    if not itus:
        problems.append("no ITU identifier to bind")
    problems += [p for p in (check_itu(i) for i in itus) if p]
    if problems or path is None:
        out.refuse(f"binding request {request_id}: " + "; ".join(problems), "InvalidBindingRequest")
        return NO_UNITS
    keys = [i.key for i in itus]
    conflicts = state.ledger.conflicts(keys)
    if conflicts:
        for key, interval in conflicts:
            itu = itus[keys.index(key)]
            holder = state.iots.get(interval.iot_id)
            held_by = holder.request_id if holder else "?"
            out.deviation(
                "BINDING_CONFLICT",
                iot=holder,
                itu=itu,
                expected=f"{key} free: a unit has one active IOT_ID at a time",
                observed=f"request {request_id} (mission path {path.mission_path_id}) while "
                f"{key} is bound to IOT_ID {interval.iot_id} (request {held_by}, mission path "
                f"{interval.mission_path_id}) since {mission.iso(interval.valid_from)}",
            )
        out.refuse(
            f"binding request {request_id}: "
            + "; ".join(
                f"{key} is already bound to IOT_ID {interval.iot_id} on mission path "
                f"{interval.mission_path_id}"
                for key, interval in conflicts
            ),
            "BindingConflict",
        )
        return NO_UNITS
    iot_id = deterministic_uuid7(out.at, "iot", request_id)
    state.ledger.requests[request_id] = iot_id
    state.changes.requests.add(request_id)
    state.ledger.bind(keys, iot_id, path.mission_path_id, out.at)
    iot = Tracked(
        iot_id,
        request_id,
        tuple(mrns),
        tuple(itus),
        mission.start(iot_id, path),
        clearing.new(iot_id, tuple(mrns), state.declared(mrns)),
    )
    state.store(iot)
    out.emit(
        Channel.BINDINGS,
        iot_id,
        "iotrack.IotBound",
        {
            "iot_id": iot_id,
            "request_id": request_id,
            "mrns": list(mrns),
            "itus": [i.record() for i in itus],
            "mission_path_id": path.mission_path_id,
            "requested_by": requested_by,
            "valid_from": out.at,
        },
    )
    publish_state(out, iot)
    publish_verdicts(out, iot, state)
    for mrn in iot.mrns:
        if iot.clearance.declared.get(mrn) == clearing.ANNULLED:
            annulled_deviation(out, iot, mrn, "was annulled before this binding")
    state.released.append(waiting.iot_key(iot_id))
    for key in keys:
        for late in waiting.passages_for(state, key, out.at):
            passage_for(state, iot_id, late, out)
    return frozenset(keys)


def known(state: CoreState, event: AboutAnIotId, out: Emitter) -> Tracked | None:
    """The IOT_ID an input is about; when it is not bound (yet), the input waits for it."""
    iot = state.iots.get(event.iot_id)
    if iot is None:
        waiting.park(state, out, waiting.iot_key(event.iot_id), event, f"IOT_ID {event.iot_id}")
    return iot


def binding_ended(state: CoreState, event: BindingEnded, out: Emitter) -> UnitKeys:
    iot = known(state, event, out)
    if iot is None or iot.position.phase is mission.Phase.CLOSED:
        return NO_UNITS
    out.accept(Channel.BINDINGS, iot.iot_id, event)
    state.ledger.unbind(iot.itu_keys, iot.iot_id, event.valid_to)
    moved = mission.advance(iot.position, mission.Signal.END, out.at)
    iot = replace(iot, position=moved.position, retire_at=out.at + state.config.retire_after_ms)
    state.store(iot)
    publish_state(out, iot)
    for key in sorted(k for k in iot.itu_keys if not is_carrier(k)):
        out.tombstone(Channel.VERDICT_BY_ITU, key)
    publish_carriers(out, state, iot.itus)
    return frozenset(iot.itu_keys)


def binding_changed(state: CoreState, event: BindingChanged, out: Emitter) -> UnitKeys:
    iot = known(state, event, out)
    if iot is None:
        return NO_UNITS
    added = event.itus_added
    problems = [p for p in (check_itu(i) for i in added) if p]
    problems += [f"MRN {m}: not valid" for m in event.mrns_added if not mrn_module.is_valid(m)]
    if problems:
        out.refuse(
            f"binding change of {iot.iot_id}: " + "; ".join(problems), "InvalidBindingChange"
        )
        return NO_UNITS
    out.accept(Channel.BINDINGS, iot.iot_id, event)
    removed_keys = {i.key for i in event.itus_removed}
    state.ledger.unbind(removed_keys, iot.iot_id, out.at)
    state.ledger.bind([i.key for i in added], iot.iot_id, iot.position.path.mission_path_id, out.at)
    for key in sorted(k for k in removed_keys if not is_carrier(k)):  # sorted: the same order
        out.tombstone(Channel.VERDICT_BY_ITU, key)
    itus = tuple(i for i in (*iot.itus, *added) if i.key not in removed_keys)
    mrns_added, mrns_removed = event.mrns_added, event.mrns_removed
    iot = replace(
        iot,
        itus=itus,
        mrns=tuple(m for m in dict.fromkeys((*iot.mrns, *mrns_added)) if m not in mrns_removed),
        clearance=clearing.bind_more(
            iot.clearance, mrns_added, mrns_removed, state.declared(mrns_added)
        ),
    )
    state.store(iot)
    publish_verdicts(out, iot, state)
    publish_carriers(out, state, (i for i in event.itus_removed if is_carrier(i.key)))
    return frozenset(removed_keys) | frozenset(iot.itu_keys)
