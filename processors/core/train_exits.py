"""Trains, phase 3: the consist read at the exit gate, the GdF's exits of its units, and a
departed train's retirement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from processors import mission, rail
from processors.core.outputs import Channel, Emitter
from processors.core.passages import exit_deviation, move
from processors.core.state import CoreState, Permission, Train
from processors.core.trains import publish_permission, store_train, train_status
from processors.events import DetectedConsist, DetectedWagon
from processors.parties import PartyKind, Sender


def _train_by_wagons(state: CoreState, wagons: Sequence[DetectedWagon]) -> Train | None:
    """The train a portal read without a train id belongs to: the permitted (or revoked) train
    whose latest manifest holds most of the wagon numbers read, if that is at least half."""
    read = {rail.compact_wagon(w.wagon_number_read) for w in wagons}
    best, best_count = None, 0
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if train.manifest is None or train.phase not in (
            rail.TrainPhase.PERMITTED,
            rail.TrainPhase.REVOKED,
        ):
            continue
        numbers = {w.wagon_number for w in train.manifest.wagons}
        count = len(numbers & read)
        if count > best_count:
            best, best_count = train, count
    return best if best is not None and 2 * best_count >= len(read) else None


def detected_consist(state: CoreState, event: DetectedConsist, out: Emitter) -> None:
    gate, point = event.gate_node_id, event.read_point_id
    if event.train_id:
        train = state.trains.get(event.train_id)
    else:
        train = _train_by_wagons(state, event.wagons)
    observed = f"{len(event.wagons)} wagons read by {point}"
    if train is None or train.manifest is None:
        out.deviation(
            "CONSIST_MISMATCH",
            iot=None,
            node_id=gate,
            read_point_id=point,
            expected=f"a manifest for train {event.train_id or '(no train id read)'}",
            observed=observed,
        )
        out.refuse(f"no manifest for the train read at {gate}: {observed}", "UnknownTrain")
        return
    if train.phase in (rail.TrainPhase.CONFIRMING, rail.TrainPhase.DEPARTED):
        return  # the portal read it again after it matched: nothing new
    found = rail.reconcile(train.manifest.wagons, event.wagons)
    problems = list(found.problems)
    if train.phase is not rail.TrainPhase.PERMITTED:
        # A revoked train stays revoked until an amendment is granted, however well it reads.
        refused = f"train {str(train.phase).lower()}"
        problems.insert(
            0, rail.Mismatch(rail.ReasonCode.NO_PERMISSION, "permission to leave granted", refused)
        )
    for problem in problems:
        out.deviation(
            "CONSIST_MISMATCH",
            iot=None,
            node_id=gate,
            read_point_id=point,
            expected=f"train {train.train_id}: {problem.expected}",
            observed=str(rail.Reason(problem.code, problem.observed)),
        )
    matched = not problems
    candidates: list[str] = []
    if matched:
        train = replace(train, phase=rail.advance(train.phase, rail.TrainSignal.CONSIST_MATCHED))
        if not train.iot_ids:  # wagons and no unit under customs control: nothing to confirm
            train = replace(
                train,
                phase=rail.advance(train.phase, rail.TrainSignal.ALL_EXITED),
                retire_at=out.at + state.config.retire_after_ms,
            )
        for iot_id in train.iot_ids:
            iot = state.iots.get(iot_id)
            if iot is None:
                continue
            signal = mission.classify(iot.position, gate)
            if signal in mission.EXIT_SIGNALS:
                exit_deviation(out, iot, gate, point, f"on train {train.train_id} at {gate}")
            move(state, iot, signal, out, node_id=gate, read_point_id=point)
            candidates.append(iot_id)
    elif train.phase in (rail.TrainPhase.PERMITTED, rail.TrainPhase.REVOKED):
        train = replace(
            train,
            phase=rail.advance(train.phase, rail.TrainSignal.CONSIST_MISMATCHED),
            permission=Permission(False, tuple(p.reason for p in problems)),
        )
        publish_permission(out, train)
    train = store_train(
        state, replace(train, consist_keys=train.consist_keys | {f"{train.train_id}:{point}"})
    )
    out.emit(
        Channel.CONSISTS,
        f"{train.train_id}:{point}",
        "iotrack.ConsistCheck",
        {
            "train_id": train.train_id,
            "gate_node_id": gate,
            "read_point_id": point,
            "manifest_version": train.manifest.version if train.manifest else 0,
            "matched": matched,
            "problems": [str(p.reason) for p in problems],
            "repairs": list(found.repairs),
            "wagon_numbers": list(found.wagon_numbers),
            "exit_candidates": candidates,
        },
        # The portal that read the train, and the train's operator.
        reply_to=(
            *((out.sender,) if out.sender.kind is PartyKind.RAIL_PORTAL else ()),
            Sender.rail_operator(train.operator),
        ),
    )
    train_status(out, train, state)


def train_exits(state: CoreState, iot_id: str, out: Emitter) -> None:
    """An exit confirmed: a confirming train is departed once all its units are out."""
    for train_id in sorted(state.trains):
        train = state.trains[train_id]
        if iot_id not in train.iot_ids or train.phase is rail.TrainPhase.DEPARTED:
            continue
        iot = state.iots.get(iot_id)
        if iot is None:
            continue
        if train.phase is not rail.TrainPhase.CONFIRMING:
            early = rail.Reason(
                rail.ReasonCode.EXIT_BEFORE_CONSIST,
                f"exit confirmed while the train is {str(train.phase).lower()}",
            )
            out.deviation(
                "CONSIST_MISMATCH",
                iot=iot,
                expected=f"train {train.train_id}: exits confirmed once its consist matched",
                observed=str(early),
            )
            continue
        train = replace(train, exited=train.exited | {iot_id})
        if train.exited >= set(train.iot_ids):
            train = replace(
                train,
                phase=rail.advance(train.phase, rail.TrainSignal.ALL_EXITED),
                retire_at=out.at + state.config.retire_after_ms,
            )
        store_train(state, train)
        train_status(out, train, state)


def retire_train(state: CoreState, train: Train, out: Emitter) -> None:
    """A departed train's records leave the compacted rail topics."""
    del state.trains[train.train_id]
    state.changes.trains.add(train.train_id)
    for channel in (Channel.TRAINS, Channel.LOADING_LISTS, Channel.PERMISSIONS):
        out.tombstone(channel, train.train_id)
    for manifest in train.manifests:
        out.tombstone(Channel.MANIFESTS, f"{train.train_id}:{manifest.version}")
    for key in sorted(train.consist_keys):
        out.tombstone(Channel.CONSISTS, key)
