"""UIC wagon numbers: 12 digits, the last a Luhn check digit over the first 11.

``21 81 2471 217-3``: interoperability and owner type (``21``), the country of registration
(``81``, Austria), the wagon type and serial (``2471 217``) and the check digit (``3``). The
UIC self-check (weights 2, 1, 2, 1 ... from the left, digit sums, complement to ten) is the
Luhn algorithm; python-stdnum's ``luhn`` computes it.
"""

from __future__ import annotations

from stdnum import luhn

from processors.identifiers import _normalise
from processors.identifiers.errors import (
    IdentifierError,
    InvalidCheckDigit,
    InvalidFormat,
    InvalidLength,
)

KIND = "wagon"
LENGTH = 12
BODY_LENGTH = LENGTH - 1


def compact(value: str) -> str:
    """``value`` without spaces, hyphens, dots or slashes; never raises on text.

    >>> compact("21 81 2471 217-3")
    '218124712173'
    """
    return _normalise.compact(value)


def _digits(value: object, length: int, what: str) -> str:
    text = _normalise.compact_checked(KIND, value)
    if len(text) != length:
        raise InvalidLength(KIND, text, f"length is {len(text)}, expected {length} {what}")
    if not _normalise.is_ascii_digits(text):
        raise InvalidFormat(KIND, text, "a wagon number has digits 0-9 only")
    return text


def check_digit(value: str) -> str:
    """The check digit of the first 11 digits.

    >>> check_digit("21 81 2471 217")
    '3'
    """
    return luhn.calc_check_digit(_digits(value, BODY_LENGTH, "digits without the check digit"))


def validate(value: str) -> str:
    """The compact wagon number when valid; otherwise the IdentifierError saying why.

    >>> validate("51 80 0843 001-0")
    '518008430010'
    >>> validate("218124712174")
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidCheckDigit: 218124712174: check digit is 4, expected 3
    """
    return _validated(value)


def _validated(value: object) -> str:
    text = _digits(value, LENGTH, "digits")
    expected = luhn.calc_check_digit(text[:-1])
    if text[-1] != expected:
        raise InvalidCheckDigit(KIND, text, found=text[-1], expected=expected)
    return text


def is_valid(value: object) -> bool:
    """Whether ``value`` is a valid wagon number; never raises, whatever ``value`` is.

    >>> is_valid("218124712173"), is_valid("218124712172"), is_valid(218124712173)
    (True, False, False)
    """
    try:
        _validated(value)
    except IdentifierError:
        return False
    return True


def format(value: str) -> str:
    """The printed form, e.g. ``21 81 2471 217-3``; raises IdentifierError when invalid.

    >>> format("218124712173")
    '21 81 2471 217-3'
    """
    text = _validated(value)
    return f"{text[:2]} {text[2:4]} {text[4:8]} {text[8:11]}-{text[11]}"
