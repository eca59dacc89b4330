"""Passages: a read point's reads resolved to IOT_IDs, and each IOT_ID moved along its path."""

from __future__ import annotations

from dataclasses import replace

from processors import clearance as clearing
from processors import mission
from processors.binding import check_itu
from processors.core import waiting
from processors.core.outputs import SOURCE, Channel, Emitter, publish_carriers, publish_state
from processors.core.state import NO_UNITS, CoreState, Tracked, UnitKeys
from processors.events import Itu, Passage
from processors.identifiers.itu import is_carrier
from processors.identifiers.itu import kind_of as itu_kind
from processors.ocr_repair import Outcome, repair
from processors.parties import FUSION

_UNIT_KINDS = ("CONTAINER", "ILU", "SWAP_BODY")
_ENDED = (mission.Phase.DEFINITIVE, mission.Phase.CLOSED)
_REPAIRABLE = {"CONTAINER": "container", "ILU": "ilu"}
"""Unit kinds whose check digit OCR repair can work with, and their identifier modules."""


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
    overdue_leg = iot.position.expected_next() if signal is mission.Signal.DEADLINE else []
    deadline = iot.position.deadline
    moved = mission.advance(iot.position, signal, out.at, node_id)
    iot = replace(iot, position=moved.position)
    freed = moved.position.phase is mission.Phase.DEFINITIVE and iot.retire_at is None
    if freed:
        # The mission is over: the units are free for a new binding from now on, and its
        # carriers no longer carry it.
        state.ledger.unbind(iot.itu_keys, iot.iot_id, out.at)
        iot = replace(iot, retire_at=out.at + state.config.retire_after_ms)
    state.store(iot)
    if freed:
        publish_carriers(out, state, iot.itus)
    if moved.deviation == "OVERDUE":
        # The leg's next node, at its deadline; no input caused it (time passed).
        out.deviation(
            moved.deviation,
            iot=iot,
            node_id=overdue_leg[0] if overdue_leg else None,
            expected=moved.expected,
            observed=moved.observed,
            at=deadline,
            caused_by=False,
        )
    elif moved.deviation:
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


def passage_for(state: CoreState, iot_id: str, event: Passage, out: Emitter) -> None:
    """A passage kept because its unit had no IOT_ID, applied to the IOT_ID bound to that unit
    since (from before the passage): it moves along its path as if the binding had come first.
    Its outputs are numbered from the passage and the IOT_ID, so they do not depend on when the
    binding came."""
    late = Emitter(event.event_id, event.occurred_at, FUSION, salt=f"late:{iot_id}")
    # The carriers read with it, as if it had been bound when the passage came.
    carriers = tuple(i for i in event.identifiers if is_carrier(i.key) and not check_itu(i))
    units = tuple(i for i in event.identifiers if not is_carrier(i.key))
    learn_carriers(state, event, (*units, *carriers), late, only=iot_id)
    iot = state.iots[iot_id]
    signal = mission.classify(iot.position, event.node_id)
    if signal in mission.EXIT_SIGNALS:
        what = f"read at exit gate {event.node_id} ({event.direction}) before its binding came"
        exit_deviation(late, iot, event.node_id, event.read_point_id, what)
    move(state, iot, signal, late, node_id=event.node_id, read_point_id=event.read_point_id)
    out.outputs.extend(late.outputs)


def readable(state: CoreState, event: Passage, out: Emitter) -> tuple[Itu, ...]:
    """The passage's identifiers, each unit code checked: one that fails its check digit (or a
    sensor read of a container or ILU that fusion could not make valid) is repaired towards
    the units bound to IOT_IDs whose path crosses this node when exactly one fits, and is an
    ``UNREADABLE_IDENTIFIER`` deviation otherwise, never an unknown unit. A carrier that fails
    its check (a plate read without its country) is an ``UNREADABLE_IDENTIFIER`` too, and is
    not used."""
    found: list[Itu] = []
    unreadable: list[Itu] = []
    for itu in event.identifiers:
        if itu.kind in _REPAIRABLE and check_itu(itu):
            unreadable.append(itu)
        elif is_carrier(itu.key) and (problem := check_itu(itu)):
            # A plate without its country (or a carrier that fails its check) names no carrier:
            # taken as one, it would move units off the truck they are on.
            if state.customs_relevant(event.node_id):
                out.deviation(
                    "UNREADABLE_IDENTIFIER",
                    iot=None,
                    itu=itu,
                    node_id=event.node_id,
                    read_point_id=event.read_point_id,
                    expected=f"a {itu.kind.lower()} that passes its check, to tell the carrier",
                    observed=f"{itu.value!r} read at {event.node_id}: {problem}; not taken "
                    "as a carrier",
                )
        else:
            found.append(itu)
    readable_kinds = {i.kind for i in found}
    for evidence in event.evidence:
        kind = evidence.itu_kind
        if (
            kind in _REPAIRABLE
            and evidence.value is None
            and kind not in readable_kinds
            and all(u.value != evidence.raw_value for u in unreadable)
        ):
            unreadable.append(Itu(str(kind), evidence.raw_value))
    for itu in unreadable:
        expected = _expected_units(state, event.node_id, itu.kind)
        result = repair(_REPAIRABLE[itu.kind], itu.value, (), expected)
        if result.outcome is Outcome.REPAIRED and result.value is not None:
            found.append(replace(itu, value=result.value))
            continue
        if state.customs_relevant(event.node_id):
            out.deviation(
                "UNREADABLE_IDENTIFIER",
                iot=None,
                itu=itu,
                node_id=event.node_id,
                read_point_id=event.read_point_id,
                expected=f"a {itu.kind.lower()} code that passes its check digit, or one bound "
                f"unit it can be repaired to",
                observed=f"{itu.value!r} read at {event.node_id}: {result.reason}",
            )
    return tuple(found)


def _expected_units(state: CoreState, node_id: str, kind: str) -> frozenset[str]:
    """The codes of units of ``kind`` bound to IOT_IDs still on a path through ``node_id``."""
    return frozenset(
        i.value
        for iot in state.iots.values()
        if iot.position.phase not in _ENDED and iot.position.path.index(node_id) is not None
        for i in iot.itus
        if i.kind == kind
    )


def learn_carriers(
    state: CoreState,
    event: Passage,
    identifiers: tuple[Itu, ...],
    out: Emitter,
    *,
    only: str | None = None,
) -> None:
    """A carrier (a plate, a wagon) read together with bound units carries them from then on;
    a unit seen on another carrier of the same kind has left the one it was on, unless that
    one was read with it too (a tractor picking up the trailer the unit is on). Judged by event
    time: a read older than the unit's latest carrier of that kind (a late read from another
    read point) changes nothing. Each change is journalled on the binding ledger as a
    ``BindingChanged`` with its evidence, and the carriers concerned are told their new
    verdict. ``only`` limits it to one IOT_ID (a kept passage applied to a late binding)."""
    carriers = {i.key: i for i in identifiers if is_carrier(i.key)}
    if not carriers:
        return
    touched: dict[str, Itu] = {}
    for unit in identifiers:
        if is_carrier(unit.key):
            continue
        for interval in state.ledger.active(unit.key, out.at):
            iot = state.iots.get(interval.iot_id)
            if (
                iot is None
                or iot.position.phase in _ENDED
                or (only is not None and iot.iot_id != only)
            ):
                continue
            added, left = _carrier_moves(state, iot, carriers, out.at)
            if not added:
                continue
            state.ledger.unbind([i.key for i in left], iot.iot_id, out.at)
            state.ledger.bind([c.key for c in added], iot.iot_id, interval.mission_path_id, out.at)
            kept = tuple(i for i in iot.itus if i not in left)
            iot = replace(iot, itus=(*kept, *added))
            state.store(iot)
            out.emit(
                Channel.BINDINGS,
                iot.iot_id,
                "iotrack.BindingChanged",
                {
                    "iot_id": iot.iot_id,
                    "mrns_added": [],
                    "mrns_removed": [],
                    "itus_added": [c.record() for c in added],
                    "itus_removed": [i.record() for i in left],
                    "changed_by": SOURCE,
                    "reason": f"seen with {unit.key} on {', '.join(c.key for c in added)} at "
                    f"{event.read_point_id} (passage {event.event_id})",
                },
            )
            touched.update({i.key: i for i in (*left, *added)})
    publish_carriers(out, state, touched.values())


def _carrier_moves(
    state: CoreState, iot: Tracked, read: dict[str, Itu], at: int
) -> tuple[list[Itu], list[Itu]]:
    """The carriers an IOT_ID is put on by a read at ``at`` of these carriers, and those it
    leaves: per carrier kind, the ones read that it is not on yet, and the ones of that kind it
    was on that were not read. A read of none new confirms those it is on (``Ledger.seen``);
    nothing changes for a kind it was put on, or seen on, after ``at``: the latest read wins,
    whichever reached the core first."""
    added: list[Itu] = []
    left: list[Itu] = []
    for kind in sorted({itu_kind(key) for key in read}):
        read_keys = sorted(k for k in read if itu_kind(k) == kind)
        current = [i for i in iot.itus if is_carrier(i.key) and itu_kind(i.key) == kind]
        latest = [
            interval.latest
            for c in current
            for interval in state.ledger.active(c.key)
            if interval.iot_id == iot.iot_id
        ]
        if latest and at < max(latest):
            continue  # a read older than what it is on now: it was moved, or seen, since
        new = [read[k] for k in read_keys if k not in iot.itu_keys]
        if new:
            added += new
            left += [c for c in current if c.key not in read]
        else:
            state.ledger.seen(read_keys, iot.iot_id, at)
    return added, left


def passage(state: CoreState, event: Passage, out: Emitter) -> UnitKeys:
    """Resolve a passage's identifiers and IOT_IDs and move each IOT_ID read; a passage changes
    no unit's clearance (a unit made definitive is unbound, but its verdict stands)."""
    node_id, read_point = event.node_id, event.read_point_id
    at = out.at
    identifiers = readable(state, event, out)
    learn_carriers(state, event, identifiers, out)
    resolved: list[str] = []
    for iot_id in event.iot_ids:
        if iot_id in state.iots and iot_id not in resolved:
            resolved.append(iot_id)
    unknown: list[Itu] = []
    for itu in identifiers:
        key = itu.key
        holders = state.ledger.active(key, at)
        # An IOT_ID retired since (a late read of long ago) is neither moved nor unknown.
        found = [i.iot_id for i in holders if i.iot_id in state.iots]
        if not holders and not is_carrier(key):
            # A unit whose mission ended but which is still tracked: a read after definitive
            # (not a truck's: it carries others since, or nothing).
            ended = [
                i
                for i in state.ledger.intervals.get(key, ())
                if i.iot_id in state.iots and i.valid_to is not None and i.valid_to <= at
            ]
            found = [ended[-1].iot_id] if ended else []
        for iot_id in found:
            if iot_id not in resolved:
                resolved.append(iot_id)
        if not found and not holders and itu.kind in _UNIT_KINDS:
            unknown.append(itu)
    for itu in unknown:
        waiting.keep_unresolved(state, itu.key, event)
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
