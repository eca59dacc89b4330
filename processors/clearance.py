"""Clearance of one IOT_ID: holds per agency, Customs releases per MRN, the exit, and a journal.

An IOT_ID may leave when every MRN bound to it is released and no hold is open. Only the
agency that placed a hold lifts it. A release can be annulled. Nothing is overwritten: every
accepted or refused command is journalled with who, when and why, and the current view is
derived from the journal's effects.

Each hold is a small state machine (``HOLD_TRANSITIONS``): a command that its table does not
allow is refused with a reason, never applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from processors.events import (
    CustomsRelease,
    DeclarationStatus,
    Event,
    ExitConfirmed,
    HoldLifted,
    HoldPlaced,
)

RELEASED = "RELEASED"
UNDER_CONTROL = "UNDER_CONTROL"
ANNULLED = "ANNULLED"
BLOCKING = frozenset({UNDER_CONTROL, ANNULLED})
"""Declaration states that keep an MRN from counting as released, whatever else says so."""
PRECEDENCE = ("RELEASED", "LODGED", "ACCEPTED", UNDER_CONTROL, ANNULLED)
"""Which of two states of one declaration with the same event time stands: the later in this
order. Blocking beats releasing, whichever reached the core first."""


def supersedes(state: str, at: int, known_state: str, known_at: int) -> bool:
    """Whether a declaration's ``state`` at event time ``at`` replaces the one known (of
    ``known_at``): a newer one does; one of the same time only when it blocks more.

    >>> supersedes("UNDER_CONTROL", 5, "RELEASED", 5), supersedes("RELEASED", 5, "UNDER_CONTROL", 5)
    (True, False)
    >>> supersedes("RELEASED", 6, "UNDER_CONTROL", 5), supersedes("ANNULLED", 4, "RELEASED", 5)
    (True, False)
    """
    if at != known_at:
        return at > known_at
    return _rank(state) > _rank(known_state)


def _rank(state: str) -> int:
    return PRECEDENCE.index(state) if state in PRECEDENCE else -1


class Verdict(StrEnum):
    """What a gate is told about an IOT_ID (the Avro ``iotrack.Verdict`` symbols)."""

    CLEARED = "CLEARED"
    HELD = "HELD"
    NOT_RELEASED = "NOT_RELEASED"
    EXITED = "EXITED"


class HoldState(StrEnum):
    """Where one hold is."""

    ABSENT = "ABSENT"
    OPEN = "OPEN"
    LIFTED = "LIFTED"


class HoldCommand(StrEnum):
    """What can happen to a hold."""

    PLACE = "PLACE"
    LIFT = "LIFT"


# (state, command) -> next state. Anything else is refused. Placing a lifted hold again is a
# new decision and needs a new hold id; placing an open one again is the same command resent.
HOLD_TRANSITIONS: Mapping[tuple[HoldState, HoldCommand], HoldState] = {
    (HoldState.ABSENT, HoldCommand.PLACE): HoldState.OPEN,
    (HoldState.OPEN, HoldCommand.LIFT): HoldState.LIFTED,
}


@dataclass(frozen=True)
class Hold:
    """A hold placed by one agency."""

    hold_id: str
    agency: str
    hold_type: str
    placed_at: int
    placed_by: str
    state: HoldState = HoldState.OPEN
    lifted_at: int | None = None
    lifted_by: str | None = None


@dataclass(frozen=True)
class JournalEntry:
    """One command as it was received and what became of it."""

    at: int
    event_id: str
    actor: str
    action: str
    subject: str
    accepted: bool
    reason: str | None = None


@dataclass(frozen=True)
class Clearance:
    """The clearance view of one IOT_ID."""

    iot_id: str
    mrns: tuple[str, ...]
    released: frozenset[str] = frozenset()
    """MRNs Customs released for this IOT_ID alone (``CustomsRelease``)."""
    declared: Mapping[str, str] = field(default_factory=dict)
    """Where each of its MRNs' declarations stands (``DeclarationStatus``): RELEASED releases
    the MRN on every IOT_ID bound to it; UNDER_CONTROL and ANNULLED keep it from leaving."""
    holds: Mapping[str, Hold] = field(default_factory=dict)
    exited_at: int | None = None
    journal: tuple[JournalEntry, ...] = ()
    claimed: bool = False
    """Its MRNs are a party's claim, not Customs' association (a rail operator's manifest bound
    the unit): its declarations' release by MRN does not release it, since nothing but the claim
    ties the unit to that MRN; only Customs' release of this IOT_ID does (blocking states still
    block)."""

    def open_holds(self) -> list[Hold]:
        """Holds still open, oldest first."""
        return sorted(
            (h for h in self.holds.values() if h.state is HoldState.OPEN),
            key=lambda h: (h.placed_at, h.hold_id),
        )

    def pending_mrns(self) -> list[str]:
        """MRNs bound to the IOT_ID and not (or no longer) released: neither by a release of
        this IOT_ID nor by its declaration (unless ``claimed``), or whose declaration is under
        control or annulled."""
        return [
            m
            for m in self.mrns
            if self.declared.get(m) in BLOCKING
            or (m not in self.released and (self.claimed or self.declared.get(m) != RELEASED))
        ]

    @property
    def verdict(self) -> Verdict:
        """EXITED once out; HELD while a hold is open; NOT_RELEASED while an MRN waits."""
        if self.exited_at is not None:
            return Verdict.EXITED
        if self.open_holds():
            return Verdict.HELD
        if self.pending_mrns():
            return Verdict.NOT_RELEASED
        return Verdict.CLEARED

    @property
    def may_leave(self) -> bool:
        """True only when cleared (an exited unit has left already)."""
        return self.verdict is Verdict.CLEARED

    def reasons(self) -> list[str]:
        """Why it may not leave, without Customs-restricted detail (no reason codes)."""
        found = [f"open {h.hold_type} hold by {h.agency}" for h in self.open_holds()]
        # A control is Customs' own business: it shows as "not released", as any other wait.
        found += [
            f"MRN {m} annulled"
            if self.declared.get(m) == ANNULLED
            else f"MRN {m} not released by Customs for this unit"
            if self.claimed and self.declared.get(m) == RELEASED
            else f"MRN {m} not released"
            for m in self.pending_mrns()
        ]
        if self.exited_at is not None:
            found.append("already exited")
        return found


@dataclass(frozen=True)
class Decision:
    """The outcome of one command: applied, or refused with a reason."""

    accepted: bool
    reason: str | None = None
    superseded: bool = False
    """Taken but of no effect: a newer decision on the same thing stands (event time)."""


def new(
    iot_id: str,
    mrns: tuple[str, ...],
    declared: Mapping[str, str] | None = None,
    *,
    claimed: bool = False,
) -> Clearance:
    """The clearance of a freshly bound IOT_ID: nothing released by Customs for it yet, nothing
    held; ``declared`` holds where its MRNs' declarations stand already (released before the
    binding, say); ``claimed`` when its MRNs are a party's claim (``Clearance.claimed``)."""
    unique = tuple(dict.fromkeys(mrns))
    return Clearance(
        iot_id,
        unique,
        declared={m: s for m, s in (declared or {}).items() if m in unique},
        claimed=claimed,
    )


def _journal(
    clearance: Clearance,
    event: Event,
    actor: str,
    action: str,
    subject: str,
    *,
    decision: Decision,
) -> Clearance:
    entry = JournalEntry(
        event.occurred_at,
        event.event_id,
        actor,
        action,
        subject,
        decision.accepted,
        decision.reason,
    )
    return replace(clearance, journal=(*clearance.journal, entry))


def _hold_step(current: Hold | None, command: HoldCommand) -> HoldState | None:
    state = current.state if current is not None else HoldState.ABSENT
    return HOLD_TRANSITIONS.get((state, command))


def place_hold(clearance: Clearance, event: HoldPlaced) -> tuple[Clearance, Decision]:
    """An agency places a hold (``iotrack.HoldPlaced``)."""
    hold_id = event.hold_id
    current = clearance.holds.get(hold_id)
    actor = event.placed_by
    if current is not None and current.state is HoldState.OPEN and current.agency == event.agency:
        return clearance, Decision(True)  # the same placement resent
    if _hold_step(current, HoldCommand.PLACE) is None:
        decision = Decision(
            False,
            f"hold {hold_id} exists already ({current.state if current else ''}"
            f" by {current.agency if current else ''}): a new hold needs a new id",
        )
        return _journal(
            clearance, event, actor, "HOLD_PLACED", hold_id, decision=decision
        ), decision
    hold = Hold(hold_id, event.agency, event.hold_type, event.occurred_at, actor)
    updated = replace(clearance, holds={**clearance.holds, hold_id: hold})
    decision = Decision(True)
    return _journal(updated, event, actor, "HOLD_PLACED", hold_id, decision=decision), decision


def lift_hold(clearance: Clearance, event: HoldLifted) -> tuple[Clearance, Decision]:
    """An agency lifts a hold (``iotrack.HoldLifted``): only the agency that placed it may."""
    hold_id = event.hold_id
    actor = event.lifted_by
    current = clearance.holds.get(hold_id)
    if current is not None and current.state is HoldState.LIFTED and current.agency == event.agency:
        return clearance, Decision(True)  # the same lift resent
    if current is not None and current.agency != event.agency:
        decision = Decision(
            False, f"hold {hold_id} was placed by {current.agency}; {event.agency} cannot lift it"
        )
    elif _hold_step(current, HoldCommand.LIFT) is None:
        decision = Decision(False, f"no open hold {hold_id} on IOT_ID {clearance.iot_id}")
    else:
        if current is None:  # the table allows LIFT only from OPEN; this cannot happen
            raise AssertionError(hold_id)
        lifted = replace(
            current, state=HoldState.LIFTED, lifted_at=event.occurred_at, lifted_by=actor
        )
        updated = replace(clearance, holds={**clearance.holds, hold_id: lifted})
        decision = Decision(True)
        return _journal(updated, event, actor, "HOLD_LIFTED", hold_id, decision=decision), decision
    return _journal(clearance, event, actor, "HOLD_LIFTED", hold_id, decision=decision), decision


def release(clearance: Clearance, event: CustomsRelease) -> tuple[Clearance, Decision]:
    """Customs releases one MRN, or annuls its release (``iotrack.CustomsRelease``).

    Judged by event time: the newest release or annulment of an MRN on an IOT_ID stands, and of
    two of the same time the annulment (blocking beats releasing); an older one reaching the
    core later (late, or redelivered after the dedupe horizon) changes nothing. Annulling the
    release of an MRN its declaration releases (``DeclarationStatus`` RELEASED) is refused: it
    would not keep the unit from leaving."""
    mrn = event.mrn
    actor = event.released_by
    annul = event.annulled
    action = "RELEASE_ANNULLED" if annul else "RELEASED"
    if mrn not in clearance.mrns:
        decision = Decision(False, f"MRN {mrn} is not bound to IOT_ID {clearance.iot_id}")
        return _journal(clearance, event, actor, action, mrn, decision=decision), decision
    if not annul and clearance.declared.get(mrn) == ANNULLED:
        decision = Decision(
            False, f"MRN {mrn}: its declaration was annulled; it cannot be released"
        )
        return _journal(clearance, event, actor, action, mrn, decision=decision), decision
    if clearance.exited_at is not None and annul:
        decision = Decision(False, f"IOT_ID {clearance.iot_id} has exited; its release stands")
        return _journal(clearance, event, actor, action, mrn, decision=decision), decision
    latest = _latest_release(clearance, mrn)
    if latest is not None and _older(event.occurred_at, annul, latest):
        what = "annulment" if latest.action == "RELEASE_ANNULLED" else "release"
        decision = Decision(True, f"the newer {what} of {mrn} stands", superseded=True)
        return clearance, decision
    if annul and clearance.declared.get(mrn) == RELEASED and not clearance.claimed:
        decision = Decision(
            False,
            f"MRN {mrn} is released by its declaration: annulling the release of IOT_ID "
            f"{clearance.iot_id} would not keep it from leaving; place a hold, or have the "
            "declaration's state changed",
        )
        return _journal(clearance, event, actor, action, mrn, decision=decision), decision
    released = clearance.released - {mrn} if annul else clearance.released | {mrn}
    # Journalled even when it changes nothing (released twice): its time is the MRN's latest
    # decision, which an older one arriving later does not undo.
    decision = Decision(True, event.reason)
    updated = replace(clearance, released=frozenset(released))
    return _journal(updated, event, actor, action, mrn, decision=decision), decision


_RELEASE_ACTIONS = ("RELEASED", "RELEASE_ANNULLED")


def _latest_release(clearance: Clearance, mrn: str) -> JournalEntry | None:
    """The release or annulment of ``mrn`` that stands: the last one taken."""
    for entry in reversed(clearance.journal):
        if entry.accepted and entry.subject == mrn and entry.action in _RELEASE_ACTIONS:
            return entry
    return None


def _older(at: int, annul: bool, latest: JournalEntry) -> bool:
    """Whether a release (or annulment, ``annul``) at ``at`` is older than the one standing: of
    an earlier time, or of the same time and a release where an annulment stands."""
    if at != latest.at:
        return at < latest.at
    return not annul and latest.action == "RELEASE_ANNULLED"


def declare(clearance: Clearance, event: DeclarationStatus) -> tuple[Clearance, Decision]:
    """The declaration of one of its MRNs changed state (``iotrack.DeclarationStatus``)."""
    if event.mrn not in clearance.mrns:
        return clearance, Decision(False, f"MRN {event.mrn} is not bound to {clearance.iot_id}")
    if clearance.declared.get(event.mrn) == event.state:
        return clearance, Decision(True)  # already so
    decision = Decision(True, event.note)
    updated = replace(clearance, declared={**clearance.declared, event.mrn: event.state})
    return _journal(
        updated,
        event,
        event.declarant or event.source,
        f"DECLARATION_{event.state}",
        event.mrn,
        decision=decision,
    ), decision


def confirm_exit(clearance: Clearance, event: ExitConfirmed) -> tuple[Clearance, Decision]:
    """GdF confirms the goods left (``iotrack.ExitConfirmed``); a second confirmation is refused.

    An exit while held or not released is still recorded (the goods are gone); the caller
    raises the deviation for Customs.
    """
    actor = event.confirmed_by
    if clearance.exited_at is not None:
        decision = Decision(False, f"IOT_ID {clearance.iot_id} exited already")
        entry = _journal(
            clearance, event, actor, "EXIT_CONFIRMED", clearance.iot_id, decision=decision
        )
        return entry, decision
    updated = replace(clearance, exited_at=event.occurred_at)
    decision = Decision(True)
    return _journal(
        updated, event, actor, "EXIT_CONFIRMED", clearance.iot_id, decision=decision
    ), decision


def bind_more(
    clearance: Clearance,
    mrns_added: tuple[str, ...],
    mrns_removed: tuple[str, ...],
    declared: Mapping[str, str] | None = None,
) -> Clearance:
    """A binding change adds or removes MRNs; removed ones are no longer waited for. ``declared``
    holds where the added MRNs' declarations stand already."""
    mrns = tuple(m for m in dict.fromkeys((*clearance.mrns, *mrns_added)) if m not in mrns_removed)
    known = {**clearance.declared, **(declared or {})}
    return replace(
        clearance,
        mrns=mrns,
        released=clearance.released & frozenset(mrns),
        declared={m: s for m, s in known.items() if m in mrns},
    )
