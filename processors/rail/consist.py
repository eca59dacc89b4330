"""Phase 3: the consist read at the exit gate reconciled with the manifest, which is the
expected list for OCR repair."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from processors.events import DetectedWagon, WagonEntry
from processors.identifiers import wagon as wagon_module
from processors.ocr_repair import Outcome, repair
from processors.rail.reasons import Mismatch, ReasonCode


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
