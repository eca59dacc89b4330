"""Trains, phases 1 and 2: loading lists answered, manifests taken (Customs binds their units),
permission to leave decided, and re-decided when a unit's status changes."""

from __future__ import annotations

from dataclasses import replace

from processors import rail
from processors.binding import check_itu
from processors.core import waiting
from processors.core.bindings import bind
from processors.core.outputs import SOURCE, Channel, Emitter
from processors.core.rail_decisions import answer_list, decide, other_train
from processors.core.state import CoreState, ManifestVersion, Train, UnitKeys
from processors.events import TrainLoadingList, TrainManifest
from processors.identifiers import mrn as mrn_module
from processors.parties import Sender


def train_status(out: Emitter, train: Train, state: CoreState) -> None:
    manifest = train.manifest
    if manifest is not None:
        units = sum(len(w.itus) for w in manifest.wagons)
        ready = sum(
            1
            for iot_id in train.iot_ids
            if iot_id in state.iots and state.iots[iot_id].clearance.may_leave
        )
    else:
        units = len(train.answer)
        ready = sum(1 for item in train.answer if item.ready)
    permission = train.permission
    out.emit(
        Channel.TRAINS,
        train.train_id,
        "iotrack.TrainStatus",
        {
            "train_id": train.train_id,
            "operator": train.operator,
            "phase": str(train.phase),
            "manifest_version": manifest.version if manifest else None,
            "manifest_versions": [m.version for m in train.manifests],
            "permission_granted": permission.granted if permission is not None else None,
            "reasons": permission.published_reasons() if permission is not None else [],
            "units": units,
            "units_ready": ready,
            "iot_ids": list(train.iot_ids),
            "exited": len(train.exited),
        },
        reply_to=(Sender.rail_operator(train.operator),),
    )


def publish_answer(out: Emitter, train: Train) -> None:
    out.emit(
        Channel.LOADING_LISTS,
        train.train_id,
        "iotrack.TrainLoadingList",
        {
            "train_id": train.train_id,
            "operator": train.operator,
            "planned_departure": None,
            "items": [item.record() for item in train.answer],
            "answered": True,
            "caused_by_event_id": out.cause_id,
        },
        reply_to=(Sender.rail_operator(train.operator),),
    )


def publish_permission(out: Emitter, train: Train) -> None:
    assert train.manifest is not None  # noqa: S101 - a permission follows a manifest
    assert train.permission is not None  # noqa: S101
    out.emit(
        Channel.PERMISSIONS,
        train.train_id,
        "iotrack.PermissionToLeave",
        {
            "train_id": train.train_id,
            "manifest_version": train.manifest.version,
            "granted": train.permission.granted,
            "reasons": train.permission.published_reasons(),
            "decided_by": SOURCE,
            "caused_by_event_id": out.cause_id,
        },
        reply_to=(Sender.rail_operator(train.operator),),
    )


def store_train(state: CoreState, train: Train) -> Train:
    state.trains[train.train_id] = train
    state.changes.trains.add(train.train_id)
    due = train.retire_at
    if due is not None and (state.next_due is None or due < state.next_due):
        state.next_due = due
    return train


def _train_for(
    state: CoreState,
    event: TrainLoadingList | TrainManifest,
    out: Emitter,
    signal: rail.TrainSignal,
) -> Train | None:
    """The train an operator's submission is for, in the phase the submission takes it to, if
    the submission is allowed now."""
    train_id, operator = event.train_id, event.operator
    known = state.trains.get(train_id)
    if known is not None and known.operator != operator:
        out.refuse(
            # Not named: which operator runs a train is not another operator's business.
            f"train {train_id} is composed by another operator, not {operator}",
            "TrainOperatorMismatch",
        )
        return None
    try:
        phase = rail.advance(known.phase if known else None, signal)
    except rail.TrainTransitionError as exc:
        out.refuse(f"train {train_id}: {exc}", "TrainPhaseError")
        return None
    return replace(known, phase=phase) if known else Train(train_id, operator, phase)


def loading_list(state: CoreState, event: TrainLoadingList, out: Emitter) -> None:
    if event.answered:
        out.refuse("a loading list answer is published by the core, not taken", "AnswerAsInput")
        return
    train = _train_for(state, event, out, rail.TrainSignal.LISTED)
    if train is None:
        return
    items = event.items
    train = replace(train, items=items, listed_at=train.listed_at or out.at)
    if train.manifest is None:
        train = replace(train, unit_keys=frozenset(item.itu.key for item in items))
    train = replace(train, answer=answer_list(state, train, out.at))
    store_train(state, train)
    publish_answer(out, train)
    train_status(out, train, state)


def _bind_for_rail(state: CoreState, train: Train, manifest: ManifestVersion, out: Emitter) -> None:
    """Customs associates an IOT_ID with each manifest unit that has none: a binding on the rail
    mission path, for the unit's MRNs, or its wagon's (units only with a transport document stay
    unbound). Those MRNs are the operator's claim: the unit may leave only once Customs releases
    its IOT_ID, not on the declarations' release by MRN (authority comes from the channel)."""
    for wagon in manifest.wagons:
        for itu in wagon.itus:
            key = itu.key
            mrns = [m for m in rail.unit_mrns(wagon, itu) if mrn_module.is_valid(m)]
            if (
                not mrns
                or check_itu(itu)
                or state.ledger.active(key, out.at)
                or other_train(state, train, key)
            ):
                continue
            bind(
                state,
                out,
                request_id=f"RAIL:{train.train_id}:{key}",
                mission_path_id=state.config.rail_mission_path_id,
                mrns=mrns,
                itus=[itu],
                requested_by=f"rail manifest {train.train_id} v{manifest.version}",
                claimed=True,  # the operator's word that these MRNs are the unit's
            )


def train_manifest(state: CoreState, event: TrainManifest, out: Emitter) -> None:
    rail_path = state.config.rail_mission_path_id
    if rail_path not in state.paths:
        # Its units without an IOT_ID are bound on the rail path: it waits for that path.
        waiting.park(state, out, waiting.path_key(rail_path), event, f"mission path {rail_path!r}")
        return
    train = _train_for(state, event, out, rail.TrainSignal.MANIFESTED)
    if train is None:
        return
    version = event.version
    latest = train.manifest
    if latest is not None and version <= latest.version:
        out.refuse(
            f"train {train.train_id}: manifest v{version} is not newer than v{latest.version}",
            "StaleManifest",
        )
        return
    supersedes = event.supersedes_version
    if latest is not None and supersedes is not None and supersedes != latest.version:
        out.refuse(
            f"train {train.train_id}: manifest v{version} amends v{supersedes}, but the latest "
            f"is v{latest.version}",
            "StaleManifest",
        )
        return
    wagons = event.wagons
    manifest = ManifestVersion(
        version, supersedes, wagons, out.at, tuple(rail.manifest_problems(wagons))
    )
    keys = frozenset(i.key for w in wagons for i in w.itus)
    train = store_train(
        state, replace(train, manifests=(*train.manifests, manifest), unit_keys=keys)
    )
    out.emit(
        Channel.MANIFESTS,
        f"{train.train_id}:{version}",
        "iotrack.TrainManifest",
        {
            "train_id": train.train_id,
            "version": version,
            "operator": train.operator,
            "wagons": [w.record() for w in wagons],
            "supersedes_version": supersedes,
        },
    )
    _bind_for_rail(state, train, manifest, out)
    reconsider_train(state, state.trains[train.train_id], out, force=True)


def reconsider_train(state: CoreState, train: Train, out: Emitter, *, force: bool = False) -> None:
    """Re-answer the loading list and re-decide permission; publish what changed."""
    changed = force
    if train.items and train.phase is not rail.TrainPhase.CONFIRMING:
        # Once the consist matched, the loading list is history: its units are leaving.
        answer = answer_list(state, train, out.at)
        if answer != train.answer:
            train = replace(train, answer=answer)
            publish_answer(out, train)
            changed = True
    if train.manifest is not None and (force or train.phase is not rail.TrainPhase.REVOKED):
        permission, iot_ids = decide(state, train, out.at)
        if force or permission != train.permission or iot_ids != train.iot_ids:
            signal = rail.TrainSignal.GRANTED if permission.granted else rail.TrainSignal.REFUSED
            train = replace(
                train,
                phase=rail.advance(train.phase, signal),
                permission=permission,
                iot_ids=iot_ids,
            )
            publish_permission(out, train)
            changed = True
    if changed:
        store_train(state, train)
        train_status(out, train, state)


_RECONSIDERED = (
    rail.TrainPhase.LISTED,
    rail.TrainPhase.REFUSED,
    rail.TrainPhase.PERMITTED,
    rail.TrainPhase.CONFIRMING,
)


def reconsider_trains(state: CoreState, units: UnitKeys, out: Emitter) -> None:
    """A hold, release or binding changed these units' status: the open trains carrying any of
    them re-decide, in train id order."""
    if not units:
        return
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if train.phase in _RECONSIDERED and not units.isdisjoint(train.unit_keys):
            reconsider_train(state, train, out)
