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
    speaks_for,
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

_ENDED = (mission.Phase.DEFINITIVE, mission.Phase.CLOSED)

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
    """Customs' binding request. The same request sent again (its MRNs, units and path those
    of the IOT_ID its id made) changes nothing; another request with an id used before is
    refused with the IOT_ID that id made: a new binding needs a new request id."""
    made = state.ledger.requests.get(event.request_id)
    if made is not None and not _same_request(state.iots.get(made), event):
        gone = "" if made in state.iots else ", retired since"
        out.refuse(
            f"binding request {event.request_id}: that request id made IOT_ID {made} already"
            f"{gone}, for other MRNs, units or path; a new binding needs a new request id",
            "DuplicateRequestId",
        )
        return NO_UNITS
    if event.mission_path_id not in state.paths and made is None:
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


def _same_request(iot: Tracked | None, event: BindingRequested) -> bool:
    """Whether ``event`` asks for what the IOT_ID its request id made binds (still tracked)."""
    return (
        iot is not None
        and set(iot.mrns) == set(event.mrns)
        and {i.key for i in iot.itus} == {i.key for i in event.itus}
        and iot.position.path.mission_path_id == event.mission_path_id
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
    claimed: bool = False,
) -> UnitKeys:
    """A binding request, from Customs or for a manifest's unit: a new IOT_ID bound to its MRNs
    and ITUs at the input's time, or refused; the units bound. ``claimed`` when the MRNs are a
    party's claim, not Customs' (a manifest's): only Customs' release of the IOT_ID releases
    them (``clearance.Clearance.claimed``)."""
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
    asked = f"request {request_id} (mission path {path.mission_path_id})"
    if not claimed:
        _claims_give_way(state, out, keys, request_id)
    if _conflict(state, out, itus, asked=asked, refused=f"binding request {request_id}"):
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
        clearing.new(iot_id, tuple(mrns), state.declared(mrns), claimed=claimed),
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


def _conflict(
    state: CoreState,
    out: Emitter,
    itus: Sequence[Itu],
    *,
    asked: str,
    refused: str,
    besides: str | None = None,
) -> bool:
    """Whether binding ``itus`` from the input's time on would give a unit a second IOT_ID
    (``Ledger.conflicts``): then a ``BINDING_CONFLICT`` deviation for each, naming both, and
    the input refused. ``asked`` names the binding asked for, ``refused`` the input."""
    keys = [i.key for i in itus]
    conflicts = state.ledger.conflicts(keys, out.at, besides=besides)
    if not conflicts:
        return False
    for key, interval in conflicts:
        holder = state.iots.get(interval.iot_id)
        held_by = f"request {holder.request_id}, " if holder else ""
        until = f" until {mission.iso(interval.valid_to)}" if interval.valid_to is not None else ""
        out.deviation(
            "BINDING_CONFLICT",
            iot=holder,
            iot_id=interval.iot_id,
            mission_path_id=interval.mission_path_id,
            itu=itus[keys.index(key)],
            expected=f"{key} free: a unit has one active IOT_ID at a time",
            observed=f"{asked} while {key} is bound to IOT_ID {interval.iot_id} ({held_by}"
            f"mission path {interval.mission_path_id}) since "
            f"{mission.iso(interval.valid_from)}{until}",
        )
    out.refuse(
        f"{refused}: "
        + "; ".join(
            (
                f"{key} is already bound to IOT_ID {interval.iot_id} on mission path "
                f"{interval.mission_path_id}"
            )
            if interval.valid_to is None
            else (
                f"{key} was bound to IOT_ID {interval.iot_id} on mission path "
                f"{interval.mission_path_id} until {mission.iso(interval.valid_to)}, after "
                f"this input's time {mission.iso(out.at)}"
            )
            for key, interval in conflicts
        ),
        "BindingConflict",
    )
    return True


def known(state: CoreState, event: AboutAnIotId, out: Emitter) -> Tracked | None:
    """The IOT_ID an input is about; when it is not bound (yet), the input waits for it."""
    iot = state.iots.get(event.iot_id)
    if iot is None:
        waiting.park(state, out, waiting.iot_key(event.iot_id), event, f"IOT_ID {event.iot_id}")
    return iot


def binding_ended(state: CoreState, event: BindingEnded, out: Emitter) -> UnitKeys:
    """Customs ends a binding: the IOT_ID is closed, its units free from ``valid_to`` (at the
    latest the end's own time: an end cannot take effect later than it is sent)."""
    iot = known(state, event, out)
    if iot is None or iot.position.phase is mission.Phase.CLOSED:
        return NO_UNITS
    if event.valid_to > out.at:
        out.refuse(
            f"end of the binding of {iot.iot_id}: valid_to {mission.iso(event.valid_to)} is "
            f"after the end's own time {mission.iso(out.at)}; end it when it ends",
            "InvalidBindingEnd",
        )
        return NO_UNITS
    out.accept(Channel.BINDINGS, iot.iot_id, event)
    return _end(state, iot, event.valid_to, out)


def _end(state: CoreState, iot: Tracked, valid_to: int, out: Emitter) -> UnitKeys:
    """Close ``iot``: its units free from ``valid_to``; the units it bound."""
    # Its units' verdicts go, but not those of units another IOT_ID has bound since it exited.
    spoken = sorted(k for k in iot.itu_keys if not is_carrier(k) and speaks_for(state, iot, k))
    state.ledger.unbind(iot.itu_keys, iot.iot_id, valid_to)
    moved = mission.advance(iot.position, mission.Signal.END, out.at)
    iot = replace(iot, position=moved.position, retire_at=out.at + state.config.retire_after_ms)
    state.store(iot)
    publish_state(out, iot)
    for key in spoken:
        out.tombstone(Channel.VERDICT_BY_ITU, key)
    publish_carriers(out, state, iot.itus)
    return frozenset(iot.itu_keys)


def _claims_give_way(state: CoreState, out: Emitter, keys: Sequence[str], request_id: str) -> None:
    """Customs binds units a rail manifest bound on its operator's word (``claimed``): that
    binding ends where Customs' begins (``CORRECTION``), since the channel, not the claim,
    decides what a unit is bound to. Only when nothing else holds them: else the request is
    refused as a conflict and nothing ends."""
    conflicts = state.ledger.conflicts(keys, out.at)
    holders = [state.iots.get(i.iot_id) for _, i in conflicts]
    if not all(h and h.clearance.claimed and h.position.phase not in _ENDED for h in holders):
        return
    for (_key, interval), holder in zip(conflicts, holders, strict=True):
        if holder is None:  # checked above: for the type checker
            continue
        valid_to = max(out.at, interval.valid_from)
        out.emit(
            Channel.BINDINGS,
            holder.iot_id,
            "iotrack.BindingEnded",
            {
                "iot_id": holder.iot_id,
                "reason": "CORRECTION",
                "ended_by": "iotrack-core",
                "valid_to": valid_to,
                "note": f"Customs bound its unit (request {request_id}): a rail manifest's "
                "binding gives way",
            },
        )
        _end(state, holder, valid_to, out)


def binding_changed(state: CoreState, event: BindingChanged, out: Emitter) -> UnitKeys:
    """Customs adds or removes MRNs and ITUs: by the same rules as a new binding (identifiers
    and MRNs checked, a unit that has another IOT_ID at that time is a ``BINDING_CONFLICT``,
    an annulled declaration a ``DECLARATION_ANNULLED``), on an IOT_ID still on its mission,
    removing only what it binds."""
    iot = known(state, event, out)
    if iot is None:
        return NO_UNITS
    where = f"binding change of {iot.iot_id}"
    if iot.position.phase in _ENDED:
        out.refuse(
            f"{where}: its binding is {str(iot.position.phase).lower()} and no longer changes",
            "InvalidBindingChange",
        )
        return NO_UNITS
    bound = set(iot.itu_keys)
    added = tuple({i.key: i for i in event.itus_added if i.key not in bound}.values())
    problems = [p for p in (check_itu(i) for i in added) if p]
    problems += [f"MRN {m}: not valid" for m in event.mrns_added if not mrn_module.is_valid(m)]
    problems += [f"{i.key} is not bound to it" for i in event.itus_removed if i.key not in bound]
    problems += [f"MRN {m} is not bound to it" for m in event.mrns_removed if m not in iot.mrns]
    if problems:
        out.refuse(f"{where}: " + "; ".join(problems), "InvalidBindingChange")
        return NO_UNITS
    path_id = iot.position.path.mission_path_id
    asked = f"binding change of IOT_ID {iot.iot_id} (mission path {path_id})"
    if _conflict(state, out, added, asked=asked, refused=where, besides=iot.iot_id):
        return NO_UNITS
    out.accept(Channel.BINDINGS, iot.iot_id, event)
    removed_keys = {i.key for i in event.itus_removed}
    state.ledger.unbind(removed_keys, iot.iot_id, out.at)
    state.ledger.bind([i.key for i in added], iot.iot_id, path_id, out.at)
    for key in sorted(k for k in removed_keys if not is_carrier(k)):  # sorted: the same order
        out.tombstone(Channel.VERDICT_BY_ITU, key)
    itus = tuple(i for i in (*iot.itus, *added) if i.key not in removed_keys)
    mrns_added, mrns_removed = event.mrns_added, event.mrns_removed
    new_mrns = [m for m in dict.fromkeys(mrns_added) if m not in iot.mrns]
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
    for mrn in new_mrns:
        if mrn in iot.mrns and iot.clearance.declared.get(mrn) == clearing.ANNULLED:
            annulled_deviation(out, iot, mrn, "was annulled before this binding change added it")
    return frozenset(removed_keys) | frozenset(iot.itu_keys)
