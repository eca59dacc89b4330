"""Container codes (ISO 6346): owner code, category U/J/Z, 6-digit serial, check digit.

``CSQU3054383``: owner code ``CSQ``, category ``U`` (freight container; ``J`` detachable
freight-container equipment, ``Z`` trailer or chassis), serial ``305438``, check digit ``3``.
Category ``R``, which some old codings used for reefers, is refused, as are digits in the
owner code: python-stdnum accepts both. The check digit cannot see a letter replaced by one
whose value differs by 11 (A/K, I/S, O/Y, G/Q ...): a valid code is not proof of a right read.
"""

from __future__ import annotations

from processors.identifiers import _normalise
from processors.identifiers._iso6346 import OwnerCodeLayout
from processors.identifiers.errors import IdentifierError

KIND = "container"
CATEGORIES = "UJZ"
_LAYOUT = OwnerCodeLayout(
    KIND,
    CATEGORIES,
    refused={
        "R": "R is not an ISO 6346 category; some old codings used it for reefers",
        **dict.fromkeys("ABDEK", "A, B, D, E and K mark EN 13044 ILU codes, not containers"),
    },
)


def compact(value: str) -> str:
    """``value`` in upper case without spaces, hyphens, dots or slashes; never raises on text.

    >>> compact("csqu 305438-3")
    'CSQU3054383'
    """
    return _normalise.compact(value)


def check_digit(value: str) -> str:
    """The check digit of the 10 characters before it (owner code, category, serial).

    >>> check_digit("CSQU 305438")
    '3'
    """
    return _LAYOUT.check_digit(value)


def validate(value: str) -> str:
    """The compact container code when valid; otherwise the IdentifierError saying why.

    >>> validate("CSQU 305438 3")
    'CSQU3054383'
    >>> validate("CSQU3054384")
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidCheckDigit: CSQU3054384: check digit is 4, expected 3
    >>> validate("CSQR3054383")
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidCategory: CSQR3054383: category letter is R, expected ...
    """
    return _LAYOUT.validate(value)


def is_valid(value: object) -> bool:
    """Whether ``value`` is a valid container code; never raises, whatever ``value`` is.

    >>> is_valid("TCNU7200794"), is_valid("MSCU1234567"), is_valid(None)
    (True, False, False)
    """
    try:
        _LAYOUT.validate(value)
    except IdentifierError:
        return False
    return True


def format(value: str) -> str:
    """The printed form, e.g. ``CSQU 305438 3``; raises IdentifierError when invalid.

    >>> format("csqu3054383")
    'CSQU 305438 3'
    """
    return _LAYOUT.format(value)
