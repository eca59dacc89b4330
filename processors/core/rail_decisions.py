"""Rail decisions: each unit's status for a train, the claims of trains on shared units, the
answer to a loading list and the permission to leave for a manifest."""

from __future__ import annotations

from processors import clearance as clearing
from processors import rail
from processors.binding import check_itu
from processors.core.state import CoreState, Permission, Train, UnitAnswer
from processors.events import Itu, WagonEntry


def unit_status(state: CoreState, key: str, at: int) -> rail.UnitStatus | None:
    """The unit's IOT_ID and clearance now: its active binding, else the last one if it left."""
    active = state.ledger.active(key, at)
    iot = state.iots.get(active[-1].iot_id) if active else None
    if iot is None:
        ended = [
            i
            for i in state.ledger.intervals.get(key, ())
            if i.iot_id in state.iots and state.iots[i.iot_id].clearance.exited_at is not None
        ]
        iot = state.iots[ended[-1].iot_id] if ended else None
    if iot is None:
        return None
    clearance = iot.clearance
    return rail.UnitStatus(
        iot.iot_id,
        clearance.verdict,
        iot.mrns,
        tuple(clearance.pending_mrns()),
        tuple(f"{h.agency} ({h.hold_type})" for h in clearance.open_holds()),
    )


def _claim(train: Train) -> tuple[int, int, str]:
    """A train's precedence on a unit it shares with another: a manifest before a loading
    list, then the earlier one, then the train id (so the answer never depends on dict order)."""
    if train.manifests:
        return (0, train.manifests[0].received_at, train.train_id)
    return (1, train.listed_at, train.train_id)


def other_train(state: CoreState, train: Train, key: str) -> str | None:
    """The train with precedence over ``train`` that also carries the unit, if any, as the
    operator of ``train`` may see it."""
    mine = _claim(train)
    holders = [
        other
        for other in state.trains.values()
        if other.train_id != train.train_id
        and other.phase is not rail.TrainPhase.DEPARTED
        and key in other.unit_keys
        and _claim(other) < mine
    ]
    if not holders:
        return None
    first = min(holders, key=_claim)
    # Another operator's train is not named: its composition is not this operator's business.
    return (
        f"train {first.train_id}"
        if first.operator == train.operator
        else ("a train of another operator")
    )


def answer_list(state: CoreState, train: Train, at: int) -> tuple[UnitAnswer, ...]:
    """The loading list's items with each unit's readiness now."""
    answered = []
    seen: set[str] = set()
    for item in train.items:
        itu, mrn = item.itu, item.mrn
        key = itu.key
        found = rail.unit_readiness(
            itu,
            [mrn] if mrn else [],
            unit_status(state, key, at),
            other_train(state, train, key),
        )
        reasons = list(found.reasons)
        if key in seen:
            text = f"{key} appears more than once on the list"
            reasons.append(rail.Reason(rail.ReasonCode.LISTED_TWICE, text))
        seen.add(key)
        answered.append(UnitAnswer(itu, mrn, tuple(reasons), found.iot_id))
    return tuple(answered)


def decide(state: CoreState, train: Train, at: int) -> tuple[Permission, tuple[str, ...]]:
    """Permission for the latest manifest (every problem when refused), and its units'
    IOT_IDs."""
    manifest = train.manifest
    assert manifest is not None  # noqa: S101 - called only once a manifest is known
    problems = list(manifest.problems)
    iot_ids: list[str] = []
    for wagon in manifest.wagons:
        for itu in wagon.itus:
            if check_itu(itu) if manifest.problems else False:
                continue  # listed among the manifest's own problems
            iot_id, reasons = _unit_on_manifest(state, train, wagon, itu, at)
            if iot_id:
                iot_ids.append(iot_id)
            problems += [reason.at(wagon.position) for reason in reasons]
    return Permission(not problems, tuple(problems)), tuple(iot_ids)


def _unit_on_manifest(
    state: CoreState, train: Train, wagon: WagonEntry, itu: Itu, at: int
) -> tuple[str | None, list[rail.Reason]]:
    """A manifest unit's IOT_ID and every reason it may not leave on this train now."""
    key = itu.key
    own = list(wagon.mrns_by_itu.get(itu.value, ()))
    status = unit_status(state, key, at)
    found = rail.unit_readiness(
        itu, own, status, other_train(state, train, key), identifier_checked=True
    )
    reasons = list(found.reasons)
    wagon_mrns = list(wagon.mrns)
    if status is None:
        # The manifest gives a declaration (or a transport document), so the unit is not
        # undeclared: what is missing is Customs' binding.
        if own or wagon_mrns:
            reasons = [rail.Reason(rail.ReasonCode.UNKNOWN_UNIT, f"no IOT_ID is bound to {key}")]
        elif wagon.transport_document:
            text = (
                f"{key} travels on transport document {wagon.transport_document} only, and no "
                "IOT_ID is bound to it"
            )
            reasons = [rail.Reason(rail.ReasonCode.NO_DECLARATION, text)]
    elif not own and wagon_mrns and not set(wagon_mrns) & set(status.mrns):
        text = f"none of the wagon's MRNs ({', '.join(wagon_mrns)}) is bound to {key}"
        reasons.append(rail.Reason(rail.ReasonCode.MRN_NOT_BOUND, text))
    if (
        status is not None
        and status.verdict is clearing.Verdict.EXITED
        and train.phase is rail.TrainPhase.CONFIRMING
        and status.iot_id in train.iot_ids
    ):
        # It left through this train's exit: that is the train leaving, not a problem.
        reasons = [r for r in reasons if r.code is not rail.ReasonCode.ALREADY_LEFT]
    return found.iot_id, reasons
