"""Phases 1 and 2: whether a unit is Customs-ready for a train (a loading list's answer, a
manifest unit's), and a manifest's structural problems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from processors.binding import check_itu
from processors.clearance import Verdict
from processors.events import Itu, WagonEntry
from processors.identifiers import mrn as mrn_module
from processors.identifiers import wagon as wagon_module
from processors.rail.reasons import Reason, ReasonCode


@dataclass(frozen=True)
class UnitStatus:
    """What the tracking core knows of one unit right now."""

    iot_id: str
    verdict: Verdict
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
    if status.verdict is Verdict.EXITED:
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
