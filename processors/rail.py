"""Rail: Customs readiness of loading lists, manifest checks, the train's phases, and the
reconciliation of the consist read at the exit gate with the manifest.

The seed document's three phases: the operator shares the candidate units (a loading list) and
learns which are Customs-ready; it sends the manifest (wagons in order with their units), Customs
associates an IOT_ID with each unit and grants permission to leave when all are cleared; the
rail OCR portal at the exit reads the consist, which must match the manifest before the GdF
confirms the exits.

Pure: the tracking core (``processors.core``) owns the state and calls these functions with
what it knows of each unit (``UnitStatus``).

Every reason is a ``Reason``: a code stable for programs (``ReasonCode``) and a text for people,
published as ``CODE: text``. Hold reason codes never appear: operators see which agency holds a
unit and the kind of hold, not why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from processors.binding import check_itu
from processors.events import DetectedWagon, Itu, WagonEntry
from processors.identifiers import mrn as mrn_module
from processors.identifiers import wagon as wagon_module
from processors.ocr_repair import Outcome, repair


class ReasonCode(StrEnum):
    """Why a unit may not go on a train, or a train may not leave."""

    # a unit (loading list, manifest)
    INVALID_IDENTIFIER = "INVALID_IDENTIFIER"
    INVALID_MRN = "INVALID_MRN"
    ON_OTHER_TRAIN = "ON_OTHER_TRAIN"
    UNKNOWN_UNIT = "UNKNOWN_UNIT"
    NO_DECLARATION = "NO_DECLARATION"
    MRN_NOT_BOUND = "MRN_NOT_BOUND"
    ALREADY_LEFT = "ALREADY_LEFT"
    HELD = "HELD"
    NOT_RELEASED = "NOT_RELEASED"
    LISTED_TWICE = "LISTED_TWICE"
    # a manifest
    EMPTY = "EMPTY"
    POSITIONS = "POSITIONS"
    WAGON_NUMBER = "WAGON_NUMBER"
    WAGON_TWICE = "WAGON_TWICE"
    ITU_TWICE = "ITU_TWICE"
    # the consist at the exit, and exits
    UNREADABLE_WAGON = "UNREADABLE_WAGON"
    UNREADABLE_ITU = "UNREADABLE_ITU"
    DUPLICATE_ITU = "DUPLICATE_ITU"
    REVERSED_CONSIST = "REVERSED_CONSIST"
    DUPLICATE_WAGON = "DUPLICATE_WAGON"
    MISSING_WAGON = "MISSING_WAGON"
    EXTRA_WAGON = "EXTRA_WAGON"
    SWAPPED_WAGON = "SWAPPED_WAGON"
    MISSING_ITU = "MISSING_ITU"
    MOVED_ITU = "MOVED_ITU"
    EXTRA_ITU = "EXTRA_ITU"
    NO_PERMISSION = "NO_PERMISSION"
    EXIT_BEFORE_CONSIST = "EXIT_BEFORE_CONSIST"


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason, as a code and a text; ``str`` gives the published ``CODE: text``.

    >>> reason = Reason(ReasonCode.HELD, "held by CUSTOMS (DOC)")
    >>> str(reason), str(reason.at(3))
    ('HELD: held by CUSTOMS (DOC)', 'HELD: position 3: held by CUSTOMS (DOC)')
    """

    code: ReasonCode
    text: str

    def __str__(self) -> str:
        return f"{self.code}: {self.text}"

    def at(self, position: int) -> Reason:
        """The same reason about the wagon at ``position`` of a manifest."""
        return Reason(self.code, f"position {position}: {self.text}")


class Mismatch(NamedTuple):
    """One difference between the consist read at the exit and the manifest."""

    code: ReasonCode
    expected: str
    observed: str

    @property
    def reason(self) -> Reason:
        """The difference as a reason: ``CODE: expected / observed``."""
        return Reason(self.code, f"{self.expected} / {self.observed}")


class TrainPhase(StrEnum):
    """Where a train stands (``iotrack.TrainPhase``)."""

    LISTED = "LISTED"
    REFUSED = "REFUSED"
    PERMITTED = "PERMITTED"
    REVOKED = "REVOKED"
    CONFIRMING = "CONFIRMING"
    DEPARTED = "DEPARTED"


class TrainSignal(StrEnum):
    """What happened to a train."""

    LISTED = "LISTED"
    """A loading list was answered."""
    MANIFESTED = "MANIFESTED"
    """An operator sent a manifest version; the decision on it follows (GRANTED, REFUSED)."""
    REFUSED = "REFUSED"
    """A manifest (or a re-evaluation of it) refused permission to leave."""
    GRANTED = "GRANTED"
    """A manifest (or a re-evaluation of it) granted permission to leave."""
    CONSIST_MATCHED = "CONSIST_MATCHED"
    """The exit portal's consist matched the manifest."""
    CONSIST_MISMATCHED = "CONSIST_MISMATCHED"
    """The exit portal's consist differs from the manifest."""
    ALL_EXITED = "ALL_EXITED"
    """The GdF confirmed the exit of every unit."""


_OPEN = (None, TrainPhase.LISTED, TrainPhase.REFUSED, TrainPhase.PERMITTED, TrainPhase.REVOKED)


def _transitions() -> dict[tuple[TrainPhase | None, TrainSignal], TrainPhase]:
    table: dict[tuple[TrainPhase | None, TrainSignal], TrainPhase] = {}
    for phase in _OPEN:
        table[phase, TrainSignal.MANIFESTED] = phase or TrainPhase.LISTED
        table[phase, TrainSignal.REFUSED] = TrainPhase.REFUSED
        table[phase, TrainSignal.GRANTED] = TrainPhase.PERMITTED
    # A new loading list does not undo a manifest's decision; before any, the train is listed.
    table[None, TrainSignal.LISTED] = TrainPhase.LISTED
    for decided in (
        TrainPhase.LISTED,
        TrainPhase.REFUSED,
        TrainPhase.PERMITTED,
        TrainPhase.REVOKED,
    ):
        table[decided, TrainSignal.LISTED] = decided
    table[TrainPhase.PERMITTED, TrainSignal.CONSIST_MATCHED] = TrainPhase.CONFIRMING
    table[TrainPhase.PERMITTED, TrainSignal.CONSIST_MISMATCHED] = TrainPhase.REVOKED
    # Read again after a revocation, the train stays revoked until an amendment is granted.
    table[TrainPhase.REVOKED, TrainSignal.CONSIST_MATCHED] = TrainPhase.REVOKED
    table[TrainPhase.REVOKED, TrainSignal.CONSIST_MISMATCHED] = TrainPhase.REVOKED
    # Waiting for the GdF, a unit's status can still change (a hold placed at the last
    # minute): refused now, the permission is revoked.
    table[TrainPhase.CONFIRMING, TrainSignal.GRANTED] = TrainPhase.CONFIRMING
    table[TrainPhase.CONFIRMING, TrainSignal.REFUSED] = TrainPhase.REVOKED
    table[TrainPhase.CONFIRMING, TrainSignal.ALL_EXITED] = TrainPhase.DEPARTED
    return table


TRANSITIONS: Mapping[tuple[TrainPhase | None, TrainSignal], TrainPhase] = _transitions()
"""(phase, signal) -> next phase; a pair missing here is refused. ``None`` is a train not yet
known. Once the consist matched, the train's composition is final: loading lists and manifests
are refused, while re-decisions (GRANTED, REFUSED) still apply."""


class TrainTransitionError(ValueError):
    """A signal the train's phase does not allow (e.g. a manifest after the consist matched)."""


def advance(phase: TrainPhase | None, signal: TrainSignal) -> TrainPhase:
    """The phase after ``signal``; TrainTransitionError when the table has no such step.

    >>> advance(None, TrainSignal.LISTED)
    <TrainPhase.LISTED: 'LISTED'>
    >>> advance(TrainPhase.PERMITTED, TrainSignal.CONSIST_MATCHED)
    <TrainPhase.CONFIRMING: 'CONFIRMING'>
    """
    try:
        return TRANSITIONS[phase, signal]
    except KeyError:
        where = phase.value if phase else "unknown"
        raise TrainTransitionError(f"a train {where.lower()} cannot take {signal}") from None


@dataclass(frozen=True)
class UnitStatus:
    """What the tracking core knows of one unit right now."""

    iot_id: str
    verdict: str
    """CLEARED, HELD, NOT_RELEASED or EXITED (``processors.clearance.Verdict``)."""
    mrns: tuple[str, ...]
    pending_mrns: tuple[str, ...]
    holds: tuple[str, ...]
    """Open holds as ``AGENCY HOLD_TYPE``, without reason codes."""


@dataclass(frozen=True)
class Readiness:
    """One unit's answer: ready, or every reason it is not."""

    key: str
    iot_id: str | None
    reasons: tuple[Reason, ...]

    @property
    def ready(self) -> bool:
        return not self.reasons


def unit_readiness(
    itu: Itu,
    mrns: Sequence[str],
    status: UnitStatus | None,
    other_train: str | None = None,
    *,
    identifier_checked: bool = False,
) -> Readiness:
    # ``other_train`` names the train that has the unit already, as the asking operator may
    # see it ("train IT-4711" for its own, "a train of another operator" otherwise).
    """Whether a unit may be loaded: identifiers valid, bound, released, no hold, not elsewhere.
    ``identifier_checked`` skips the identifier's check when the caller has made it already.

    >>> [str(r) for r in unit_readiness(Itu("CONTAINER", "CSQU3054384"), [], None).reasons]
    ['INVALID_IDENTIFIER: CSQU3054384: check digit is 4, expected 3']
    >>> unit_readiness(Itu("CONTAINER", "CSQU3054383"), [], None).reasons[0].code
    <ReasonCode.NO_DECLARATION: 'NO_DECLARATION'>
    """
    problem = None if identifier_checked else check_itu(itu)
    if problem:
        invalid = Reason(ReasonCode.INVALID_IDENTIFIER, problem)
        return Readiness(f"{itu.kind}:{itu.value}", None, (invalid,))
    key = itu.key
    reasons: list[Reason] = []
    for number in mrns:
        try:
            mrn_module.validate(number)
        except ValueError as exc:
            reasons.append(Reason(ReasonCode.INVALID_MRN, str(exc)))
    if other_train is not None:
        reasons.append(Reason(ReasonCode.ON_OTHER_TRAIN, f"{key} is already on {other_train}"))
    if status is None:
        if mrns:
            reasons.append(Reason(ReasonCode.UNKNOWN_UNIT, f"no IOT_ID is bound to {key}"))
        else:
            text = f"no MRN given and no IOT_ID bound to {key}"
            reasons.append(Reason(ReasonCode.NO_DECLARATION, text))
        return Readiness(key, None, tuple(reasons))
    for number in mrns:
        if number not in status.mrns and mrn_module.is_valid(number):
            # Which MRNs are bound is not the operator's to learn from a guess.
            reasons.append(Reason(ReasonCode.MRN_NOT_BOUND, f"{number} is not bound to {key}"))
    if status.verdict == "EXITED":
        reasons.append(Reason(ReasonCode.ALREADY_LEFT, f"{key} has already exited"))
    reasons += [Reason(ReasonCode.HELD, f"held by {hold}") for hold in status.holds]
    reasons += [
        Reason(ReasonCode.NOT_RELEASED, f"MRN {m} not released") for m in status.pending_mrns
    ]
    return Readiness(key, status.iot_id, tuple(reasons))


def unit_mrns(wagon: WagonEntry, itu: Itu) -> list[str]:
    """The MRNs covering a unit on a manifest wagon: its own when given, else the wagon's.

    >>> x, y = Itu("CONTAINER", "X"), Itu("CONTAINER", "Y")
    >>> wagon = WagonEntry(position=1, wagon_number="1", itus=(x, y), mrns=("A", "B"),
    ...                    mrns_by_itu={"X": ("B",)})
    >>> unit_mrns(wagon, x), unit_mrns(wagon, y)
    (['B'], ['A', 'B'])
    """
    own = wagon.mrns_by_itu.get(itu.value)
    return list(own or wagon.mrns)


def manifest_problems(wagons: Sequence[WagonEntry]) -> list[Reason]:
    """Every structural problem of a manifest: positions, wagon numbers, units on two wagons,
    identifiers and MRNs, declarations missing (readiness is checked apart).

    >>> unit = Itu("CONTAINER", "CSQU3054383")
    >>> [str(p) for p in manifest_problems([
    ...     WagonEntry(position=1, wagon_number="318344783416", itus=(unit,)),
    ...     WagonEntry(position=3, wagon_number="318344783410", itus=(unit,),
    ...                transport_document="CIM-1")]
    ... )]  # doctest: +NORMALIZE_WHITESPACE
    ['POSITIONS: wagons must be numbered 1 to 2 in order, found 1, 3',
     'NO_DECLARATION: position 1: units without an MRN or a transport document',
     'WAGON_NUMBER: position 3: 318344783410: check digit is 0, expected 6',
     'ITU_TWICE: CONTAINER:CSQU3054383 on the wagons at positions 1, 3']
    """
    problems: list[Reason] = []
    positions = [w.position for w in wagons]
    if not wagons:
        problems.append(Reason(ReasonCode.EMPTY, "the manifest has no wagons"))
    elif positions != list(range(1, len(wagons) + 1)):
        found = ", ".join(str(p) for p in positions)
        text = f"wagons must be numbered 1 to {len(wagons)} in order, found {found}"
        problems.append(Reason(ReasonCode.POSITIONS, text))
    numbers: dict[str, list[int]] = {}
    units: dict[str, list[int]] = {}
    for entry in wagons:
        problems += _wagon_entry_problems(entry, numbers, units)
    problems += [
        Reason(ReasonCode.WAGON_TWICE, f"{number} at positions {_listed(where)}")
        for number, where in numbers.items()
        if len(where) > 1
    ]
    problems += [
        Reason(ReasonCode.ITU_TWICE, f"{key} on the wagons at positions {_listed(where)}")
        for key, where in units.items()
        if len(where) > 1
    ]
    return problems


def _wagon_entry_problems(
    entry: WagonEntry, numbers: dict[str, list[int]], units: dict[str, list[int]]
) -> list[Reason]:
    """One wagon's problems; notes its number and units' positions in ``numbers``/``units``."""
    problems: list[Reason] = []
    position = entry.position
    try:
        number = wagon_module.validate(entry.wagon_number)
    except ValueError as exc:
        problems.append(Reason(ReasonCode.WAGON_NUMBER, str(exc)).at(position))
    else:
        numbers.setdefault(number, []).append(position)
    for itu in entry.itus:
        problem = check_itu(itu)
        if problem:
            problems.append(Reason(ReasonCode.INVALID_IDENTIFIER, problem).at(position))
        else:
            units.setdefault(itu.key, []).append(position)
    for number in entry.mrns:
        try:
            mrn_module.validate(number)
        except ValueError as exc:
            problems.append(Reason(ReasonCode.INVALID_MRN, str(exc)).at(position))
    undeclared = [i for i in entry.itus if not unit_mrns(entry, i)]
    if undeclared and not entry.transport_document:
        text = "units without an MRN or a transport document"
        problems.append(Reason(ReasonCode.NO_DECLARATION, text).at(position))
    return problems


def _listed(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


# -- phase 3: the consist at the exit gate ---------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """A detected consist compared with its manifest."""

    wagon_numbers: tuple[str | None, ...]
    """Detected wagon numbers after repair, in train order (None: unreadable)."""
    problems: tuple[Mismatch, ...]
    """Every difference."""
    repairs: tuple[str, ...]

    @property
    def matched(self) -> bool:
        return not self.problems


def compact_wagon(text: str) -> str:
    """A wagon number as read, without spaces, dots or hyphens (``31 83 4478 341-6``)."""
    return wagon_module.compact(text) if isinstance(text, str) else ""


def _unit_kind(text: str) -> str:
    """Container or ILU by the category letter (ISO 6346 U/J/Z; EN 13044 A/B/D/E/K)."""
    compact = "".join(c for c in text.upper() if c.isalnum())
    return "ilu" if len(compact) > 3 and compact[3] in "ABDEK" else "container"


@dataclass
class _Reads:
    """The detected consist after repair against the manifest."""

    numbers: list[str | None]
    units: dict[str, tuple[str | None, int]]
    problems: list[Mismatch]
    repairs: list[str]


def _read_unit(text: str, expected: Sequence[str]) -> tuple[str | None, str, bool]:
    """A unit code as read: (value or None, why, repaired). A read equal to a manifest value is
    taken as it is, whatever its kind (a swap body has no check digit); otherwise it is
    repaired as a container and as an ILU (an OCR may misread the category letter itself)."""
    compact = "".join(ch for ch in text.upper() if ch.isalnum())
    if compact in expected:
        return compact, "as on the manifest", False
    first = _unit_kind(text)
    tried = [
        repair(kind, text, expected=expected)
        for kind in (first, {"container": "ilu", "ilu": "container"}[first])
    ]
    for unit in tried:
        if unit.outcome in (Outcome.VALID, Outcome.REPAIRED) and unit.value is not None:
            return unit.value, unit.reason, unit.outcome is Outcome.REPAIRED
    return None, tried[0].reason, False


def _read_consist(
    detected: Sequence[DetectedWagon], expected_order: Sequence[str], expected_units: Sequence[str]
) -> _Reads:
    reads = _Reads([], {}, [], [])
    unmatched = list(expected_order)
    for read in sorted(detected, key=lambda w: w.position):
        position = read.position
        raw = read.wagon_number_read
        # Repaired only towards a manifest wagon not read yet: a misread foreign or repeated
        # wagon must not pass for one already seen.
        fixed = repair("wagon", raw, expected=unmatched)
        if fixed.outcome is Outcome.REPAIRED:
            reads.repairs.append(f"wagon at position {position}: read {raw!r}, {fixed.reason}")
        if fixed.value is None:
            reads.problems.append(
                Mismatch(
                    ReasonCode.UNREADABLE_WAGON,
                    f"a wagon number at position {position}",
                    f"{raw!r}: {fixed.reason}",
                )
            )
        elif fixed.value in unmatched:
            unmatched.remove(fixed.value)
        reads.numbers.append(fixed.value)
        for text in read.itus_read:
            value, why, repaired = _read_unit(text, expected_units)
            if repaired:
                reads.repairs.append(
                    f"unit on the wagon at position {position}: read {text!r}, {why}"
                )
            if value is None:
                reads.problems.append(
                    Mismatch(
                        ReasonCode.UNREADABLE_ITU,
                        f"a unit code on the wagon at position {position}",
                        f"{text!r}: {why}",
                    )
                )
            elif value in reads.units:
                reads.problems.append(
                    Mismatch(
                        ReasonCode.DUPLICATE_ITU,
                        f"{value} once on the train",
                        f"also on the wagon at position {position}",
                    )
                )
            else:
                reads.units[value] = (fixed.value, position)
    return reads


def _wagon_problems(expected: Sequence[str], found: Sequence[str | None]) -> list[Mismatch]:
    problems: list[Mismatch] = []
    readable = [n for n in found if n is not None]
    if len(expected) >= 3 and readable == list(reversed(expected)):
        return [
            Mismatch(
                ReasonCode.REVERSED_CONSIST,
                f"wagons {expected[0]} to {expected[-1]} from the locomotive",
                "read from the tail end: the portal's direction or the train's is wrong",
            )
        ]
    for number in sorted({n for n in readable if readable.count(n) > 1}):
        where = ", ".join(str(p) for p, n in enumerate(found, start=1) if n == number)
        problems.append(
            Mismatch(ReasonCode.DUPLICATE_WAGON, f"wagon {number} once", f"at positions {where}")
        )
    for at, number in enumerate(expected, start=1):
        if number not in readable:
            problems.append(
                Mismatch(
                    ReasonCode.MISSING_WAGON, f"wagon {number} at position {at}", "not detected"
                )
            )
    for position, read in enumerate(found, start=1):
        if read is not None and read not in expected:
            problems.append(
                Mismatch(
                    ReasonCode.EXTRA_WAGON,
                    "no such wagon on the manifest",
                    f"wagon {read} at position {position}",
                )
            )
    common_expected = [n for n in expected if n in readable]
    common_found = list(dict.fromkeys(n for n in readable if n in expected))
    for number in common_expected:
        if common_expected.index(number) != common_found.index(number):
            problems.append(
                Mismatch(
                    ReasonCode.SWAPPED_WAGON,
                    f"wagon {number} at position {expected.index(number) + 1}",
                    f"at position {found.index(number) + 1}",
                )
            )
    return problems


def _unit_problems(
    expected: Mapping[str, str], found: Mapping[str, tuple[str | None, int]], readable: set[str]
) -> list[Mismatch]:
    problems: list[Mismatch] = []
    for value, on_wagon in expected.items():
        if value not in found:
            if on_wagon in readable:  # an unreadable or missing wagon is reported already
                problems.append(
                    Mismatch(ReasonCode.MISSING_ITU, f"{value} on wagon {on_wagon}", "not detected")
                )
            continue
        seen_on, position = found[value]
        if seen_on is not None and seen_on != on_wagon:
            problems.append(
                Mismatch(
                    ReasonCode.MOVED_ITU,
                    f"{value} on wagon {on_wagon}",
                    f"on wagon {seen_on} at position {position}",
                )
            )
    for value, (_, position) in found.items():
        if value not in expected:
            problems.append(
                Mismatch(
                    ReasonCode.EXTRA_ITU,
                    "no such unit on the manifest",
                    f"{value} on the wagon at position {position}",
                )
            )
    return problems


def reconcile(manifest: Sequence[WagonEntry], detected: Sequence[DetectedWagon]) -> Reconciliation:
    """Reconcile the wagons and units read at the exit with the manifest, which is the expected
    list for OCR repair: a read is repaired only towards a manifest value, never guessed.

    Wagons are compared in train order: missing, extra, unreadable, and out of place
    (swapped); units: missing, extra, unreadable, and on another wagon than the manifest says.
    """
    ordered = sorted(manifest, key=lambda w: w.position)
    expected_order = [w.wagon_number for w in ordered]
    expected_units = {itu.value: entry.wagon_number for entry in ordered for itu in entry.itus}
    reads = _read_consist(detected, expected_order, list(expected_units))
    readable = {n for n in reads.numbers if n is not None}
    problems = reads.problems + _wagon_problems(expected_order, reads.numbers)
    problems += _unit_problems(expected_units, reads.units, readable)
    return Reconciliation(tuple(reads.numbers), tuple(problems), tuple(reads.repairs))
