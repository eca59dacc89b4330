"""Why a unit may not go on a train, or a train may not leave: a code for programs, a text for
people, published as ``CODE: text``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


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
