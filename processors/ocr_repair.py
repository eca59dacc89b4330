"""Check-digit-aware repair of OCR reads of container, ILU, MRN and wagon numbers.

Gate OCR portals are right 97-99 % of the time; the rest are mostly look-alike confusions
(``0``/``O``, ``1``/``I``, ``5``/``S``, ``8``/``B`` ...) and dropped characters. The check digit
tells a right reading from a wrong one, so a read that fails it can often be repaired, but only
when exactly one reading passes: this module never guesses.

1. The compact raw value validates: ``VALID``.
2. Otherwise the check-digit-valid readings are collected from the OCR's own alternative
   candidates and from the *position-class coercion* of the raw value and of each candidate
   (a letter where the layout wants a digit becomes its look-alike digit, and the reverse;
   tried only when the length is right). One reading: ``REPAIRED``. Several: ``REPAIRED`` when
   exactly one of them is expected at this read point, else ``AMBIGUOUS``.
3. No reading: ``REPAIRED`` when exactly one expected identifier is one edit (a substitution,
   an insertion or a dropped character) away from the raw value, ``AMBIGUOUS`` when several
   are, else ``INVALID`` with the validation error as the reason.

A repaired value always validates. A read that validates stays ``VALID`` even when it is not
expected: the check digit cannot see letters 11 apart (A/K, O/Y ...), and deciding what a
valid but unexpected unit means is the caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType

from processors import identifiers
from processors.identifiers.errors import IdentifierError

# Look-alikes an OCR engine confuses, by the class the position demands.
_DIGIT_FOR_LETTER = {
    "O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2",
    "S": "5", "G": "6", "B": "8", "T": "7", "A": "4",
}  # fmt: skip
_LETTER_FOR_DIGIT = {
    "0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B", "4": "A", "7": "T",
}  # fmt: skip
_DIGITS = frozenset("0123456789")

# The class each position demands: L a letter, D a digit, * either.
_POSITION_CLASSES = {
    "container": "LLLL" + "D" * 7,
    "ilu": "LLLL" + "D" * 7,
    "mrn": "DDLL" + "*" * 13 + "D",
    "wagon": "D" * 12,
}
REPAIRABLE_KINDS = tuple(_POSITION_CLASSES)
"""The identifier kinds :func:`repair` handles."""


class Outcome(StrEnum):
    """What the repair made of a read (the values are the ones written in SensorEvidence)."""

    VALID = "VALID"
    """The read validates as it is."""
    REPAIRED = "REPAIRED"
    """The read did not validate; exactly one valid value was found for it."""
    AMBIGUOUS = "AMBIGUOUS"
    """Several valid values fit the read and nothing decides between them: manual review."""
    INVALID = "INVALID"
    """The read does not validate and no valid value fits it."""


@dataclass(frozen=True)
class Candidate:
    """One alternative reading the OCR engine offers, with its confidence (0..1)."""

    value: str
    confidence: float


@dataclass(frozen=True)
class Repair:
    """The result of :func:`repair`."""

    outcome: Outcome
    value: str | None
    """The compact valid identifier for VALID and REPAIRED; None otherwise."""
    raw: str
    """The raw value as the OCR gave it."""
    reason: str
    """Why: what decided the repair, what made it ambiguous, or the validation error."""
    alternatives: tuple[str, ...] = ()
    """The valid readings that were considered: the ones left aside for REPAIRED, all of
    them for AMBIGUOUS; empty for VALID and INVALID."""


@dataclass
class OutcomeCounter:
    """Counts of repair outcomes, for a shell to export as metrics.

    >>> counter = OutcomeCounter()
    >>> counter.add(repair("container", "CSQU3054383"))
    >>> counter.add(repair("container", "CSQU3O54383"))
    >>> counter.as_dict()
    {'VALID': 1, 'REPAIRED': 1, 'AMBIGUOUS': 0, 'INVALID': 0}
    """

    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))

    def add(self, result: Repair) -> None:
        """Count one repair result."""
        self.counts[result.outcome] += 1

    @property
    def total(self) -> int:
        """How many results were counted."""
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        """The counts keyed by outcome name, every outcome present."""
        return {str(outcome): self.counts.get(outcome, 0) for outcome in Outcome}


def coerce(kind: str, value: str) -> str:
    """``value`` with each character of the wrong class replaced by its look-alike.

    A letter where ``kind`` demands a digit becomes the digit it looks like, a digit where it
    demands a letter the letter; a value of the wrong length is returned unchanged.

    >>> coerce("container", "C5QU3O54383")
    'CSQU3054383'
    >>> coerce("container", "C5QU3O5438")  # one character short: no position is known
    'C5QU3O5438'
    """
    classes = _POSITION_CLASSES[kind]
    if len(value) != len(classes):
        return value
    coerced = []
    for char, wanted in zip(value, classes, strict=True):
        if wanted == "D" and char not in _DIGITS:
            coerced.append(_DIGIT_FOR_LETTER.get(char, char))
        elif wanted == "L" and char in _DIGITS:
            coerced.append(_LETTER_FOR_DIGIT.get(char, char))
        else:
            coerced.append(char)
    return "".join(coerced)


def one_edit_apart(first: str, second: str) -> bool:
    """Whether one substitution, insertion or deletion turns ``first`` into ``second``.

    >>> one_edit_apart("CSQU3054383", "CSQU305438"), one_edit_apart("CSQU3054383", "CSQU3054383")
    (True, False)
    """
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) == len(second):
        return sum(a != b for a, b in zip(first, second, strict=True)) == 1
    shorter, longer = (first, second) if len(first) < len(second) else (second, first)
    index = 0
    while index < len(shorter) and shorter[index] == longer[index]:
        index += 1
    return shorter[index:] == longer[index + 1 :]


def _module(kind: str) -> ModuleType:
    if kind not in _POSITION_CLASSES:
        raise ValueError(
            f"OCR repair handles {', '.join(REPAIRABLE_KINDS)}; not {kind!r}",
        )
    return identifiers.KINDS[kind]


def _rank(candidate: Candidate) -> float:
    """Sort key: confidence, with a missing (NaN) confidence ranked last."""
    return -math.inf if math.isnan(candidate.confidence) else candidate.confidence


def _valid_readings(
    kind: str, module: ModuleType, text: str, candidates: Sequence[Candidate]
) -> dict[str, str]:
    """Each distinct check-digit-valid reading, with where it came from, in order found."""
    readings: dict[str, str] = {}

    def consider(value: str, origin: str) -> None:
        try:
            valid: str = module.validate(value)
        except IdentifierError:
            return
        readings.setdefault(valid, origin)

    consider(coerce(kind, text), "the raw read with look-alike characters corrected")
    for candidate in sorted(candidates, key=_rank, reverse=True):
        value = module.compact(candidate.value)
        origin = f"OCR alternative {value} (confidence {candidate.confidence:.2f})"
        consider(value, origin)
        consider(coerce(kind, value), f"{origin} with look-alike characters corrected")
    return readings


def repair(
    kind: str,
    raw: str,
    candidates: Sequence[Candidate] = (),
    expected: Collection[str] = (),
) -> Repair:
    """Validate an OCR read of ``kind`` and repair it when exactly one valid value fits.

    ``candidates`` are the OCR engine's alternative readings; ``expected`` holds the
    identifiers expected at this read point (pre-advised units, a train's loading list, units
    bound to IOT_IDs whose path leads here), in compact form. An unknown ``kind`` raises
    ValueError.

    >>> repair("container", "CSQU 305438 3").outcome
    <Outcome.VALID: 'VALID'>
    >>> repair("container", "CSQU3O54383").value  # a letter O among the serial digits
    'CSQU3054383'
    >>> repair("container", "CSQU305438", expected={"CSQU3054383", "TCNU7200794"}).value
    'CSQU3054383'
    >>> repair("container", "CSQU3054384").reason
    'CSQU3054384: check digit is 4, expected 3'
    """
    module = _module(kind)
    text = module.compact(raw) if isinstance(raw, str) else ""
    try:
        value: str = module.validate(raw)
    except IdentifierError as error:
        invalid_reason = str(error)
    else:
        return Repair(Outcome.VALID, value, raw, "check digit verified as read")

    readings = _valid_readings(kind, module, text, candidates)
    if len(readings) == 1:
        [(value, origin)] = readings.items()
        return Repair(
            Outcome.REPAIRED, value, raw, f"{value} is the only valid reading, from {origin}"
        )
    if readings:
        found = tuple(readings)
        listed = ", ".join(found)
        chosen = [reading for reading in found if reading in expected]
        if len(chosen) == 1:
            others = tuple(reading for reading in found if reading != chosen[0])
            return Repair(
                Outcome.REPAIRED,
                chosen[0],
                raw,
                f"{len(found)} valid readings ({listed}); the expected list decided",
                others,
            )
        return Repair(
            Outcome.AMBIGUOUS,
            None,
            raw,
            f"{len(found)} valid readings ({listed}), {len(chosen)} of them expected",
            found,
        )

    # Only the few identifiers one edit away are validated: expected lists can be long.
    near = tuple(
        sorted(
            {
                module.compact(identifier)
                for identifier in expected
                if one_edit_apart(text, identifier) and module.is_valid(identifier)
            }
        )
    )
    if len(near) == 1:
        return Repair(
            Outcome.REPAIRED,
            near[0],
            raw,
            f"no valid reading; {near[0]} is the only expected identifier one edit away",
        )
    if near:
        return Repair(
            Outcome.AMBIGUOUS,
            None,
            raw,
            f"no valid reading; {len(near)} expected identifiers are one edit away",
            near,
        )
    return Repair(Outcome.INVALID, None, raw, invalid_reason)
