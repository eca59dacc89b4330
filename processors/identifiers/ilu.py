"""ILU codes (EN 13044): intermodal loading units of European road-rail transport.

Same layout and check digit as ISO 6346 container codes (owner code of three letters, a
category letter, a 6-digit serial, a check digit), but the fourth letter is ``A``, ``B``,
``D``, ``E`` or ``K`` (swap bodies, semi-trailers and other units registered with UIRR), so an
ILU code is never also a container code. As with containers, the check digit cannot see a
letter replaced by one whose value differs by 11.
"""

from __future__ import annotations

from processors.identifiers import _normalise
from processors.identifiers._iso6346 import OwnerCodeLayout
from processors.identifiers.errors import IdentifierError

KIND = "ilu"
CATEGORIES = "ABDEK"
_LAYOUT = OwnerCodeLayout(
    KIND,
    CATEGORIES,
    refused=dict.fromkeys("UJZ", "U, J and Z mark ISO 6346 containers, not ILU codes"),
)


def compact(value: str) -> str:
    """``value`` in upper case without spaces, hyphens, dots or slashes; never raises on text.

    >>> compact("krke 123456-7")
    'KRKE1234567'
    """
    return _normalise.compact(value)


def check_digit(value: str) -> str:
    """The check digit of the 10 characters before it (owner code, category, serial).

    >>> check_digit("KRKE 123456")
    '7'
    """
    return _LAYOUT.check_digit(value)


def validate(value: str) -> str:
    """The compact ILU code when valid; otherwise the IdentifierError saying why.

    >>> validate("KRKE 123456 7")
    'KRKE1234567'
    >>> validate("CSQU3054383")
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidCategory: CSQU3054383: category letter is U, expected ...
    """
    return _LAYOUT.validate(value)


def is_valid(value: object) -> bool:
    """Whether ``value`` is a valid ILU code; never raises, whatever ``value`` is.

    >>> is_valid("HUPE7812311"), is_valid("HUPE7812312"), is_valid(b"HUPE7812311")
    (True, False, False)
    """
    try:
        _LAYOUT.validate(value)
    except IdentifierError:
        return False
    return True


def format(value: str) -> str:
    """The printed form, e.g. ``KRKE 123456 7``; raises IdentifierError when invalid.

    >>> format("krke1234567")
    'KRKE 123456 7'
    """
    return _LAYOUT.format(value)
