"""Movement Reference Numbers (MRN) of customs declarations, 18 characters.

Layout ``[0-9]{2}[A-Z]{2}[A-Z0-9]{13}[0-9]``: the year of acceptance (2 digits), the ISO 3166
country of the customs office (``XI``, Northern Ireland in customs data, is accepted too), 13
characters chosen by that country, and a check character computed by the ISO 6346 method over
the first 17 characters (letters 10..38 skipping multiples of 11, weights 2**0 .. 2**16,
(sum mod 11) mod 10).

In the Union Customs Code layout the 17th character is a procedure letter (A/B/E export,
J/K/L/M transit, R/S/T import ...); :func:`procedure` reads it. MRNs from before the UCC may
have any character there. The NCTS phase 5 schema also allows ``F`` as the last character for
declarations lodged under the fallback procedure; those carry no check digit and are accepted
only when the caller says so (``allow_fallback=True``).
"""

from __future__ import annotations

from processors.identifiers import _normalise
from processors.identifiers._countries import MRN_COUNTRIES
from processors.identifiers._iso6346 import check_character
from processors.identifiers.errors import (
    IdentifierError,
    InvalidCheckDigit,
    InvalidCountry,
    InvalidFormat,
    InvalidLength,
)

KIND = "mrn"
LENGTH = 18
BODY_LENGTH = LENGTH - 1
FALLBACK = "F"
"""Last character of an MRN issued under the NCTS phase 5 fallback procedure."""
COUNTRIES = MRN_COUNTRIES
"""Country codes accepted in positions 3-4."""
_PROCEDURE_POSITION = 16  # 0-based index of the 17th character


def _check_body(text: str) -> None:
    """Raise the error for the first fault in the first 17 characters."""
    year, country, rest = text[:2], text[2:4], text[4:BODY_LENGTH]
    if not _normalise.is_ascii_digits(year):
        raise InvalidFormat(KIND, text, f"year {year!r} must be 2 digits")
    if not _normalise.is_ascii_letters(country):
        raise InvalidFormat(KIND, text, f"country code {country!r} must be 2 letters A-Z")
    if country not in COUNTRIES:
        raise InvalidCountry(KIND, text, f"country code {country} is not an ISO 3166-1 code")
    if not _normalise.is_ascii_alphanumeric(rest):
        raise InvalidFormat(
            KIND, text, f"characters 5-17 {rest!r} must be 13 letters A-Z or digits"
        )


def compact(value: str) -> str:
    """``value`` in upper case without spaces, hyphens, dots or slashes; never raises on text.

    >>> compact("06de 5866 0000 6143 e1")
    '06DE586600006143E1'
    """
    return _normalise.compact(value)


def check_digit(value: str) -> str:
    """The check character of the first 17 characters.

    >>> check_digit("06DE586600006143E")
    '1'
    """
    text = _normalise.compact_checked(KIND, value)
    if len(text) != BODY_LENGTH:
        raise InvalidLength(
            KIND,
            text,
            f"length is {len(text)}, expected {BODY_LENGTH} characters without the check digit",
        )
    _check_body(text)
    return check_character(text)


def validate(value: str, allow_fallback: bool = False) -> str:
    """The compact MRN when valid; otherwise the IdentifierError saying why.

    A last character ``F`` (NCTS fallback procedure, no check digit) is accepted only with
    ``allow_fallback=True``.

    >>> validate("06DE586600006143E1")
    '06DE586600006143E1'
    >>> validate("06ZZ586600006143E1")
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidCountry: 06ZZ586600006143E1: country code ZZ is not ...
    >>> validate("24IT000000000001AF", allow_fallback=True)
    '24IT000000000001AF'
    """
    return _validated(value, allow_fallback)


def _validated(value: object, allow_fallback: bool) -> str:
    text = _normalise.compact_checked(KIND, value)
    if len(text) != LENGTH:
        raise InvalidLength(KIND, text, f"length is {len(text)}, expected {LENGTH} characters")
    _check_body(text)
    found = text[-1]
    if found == FALLBACK:
        if allow_fallback:
            return text
        raise InvalidFormat(
            KIND,
            text,
            "last character F marks an NCTS fallback MRN, accepted only when fallback is allowed",
        )
    if not _normalise.is_ascii_digits(found):
        raise InvalidFormat(KIND, text, f"check digit {found!r} must be a digit 0-9")
    expected = check_character(text[:-1])
    if found != expected:
        raise InvalidCheckDigit(KIND, text, found=found, expected=expected)
    return text


def is_valid(value: object, allow_fallback: bool = False) -> bool:
    """Whether ``value`` is a valid MRN; never raises, whatever ``value`` is.

    >>> is_valid("06DE586600006143E1"), is_valid("06DE586600006143E2"), is_valid(618)
    (True, False, False)
    """
    try:
        _validated(value, allow_fallback)
    except IdentifierError:
        return False
    return True


def format(value: str, allow_fallback: bool = False) -> str:
    """The printed form, which for an MRN is its 18 characters in one block.

    >>> format("06de 586600006143 e1")
    '06DE586600006143E1'
    """
    return validate(value, allow_fallback=allow_fallback)


def procedure(value: str) -> str | None:
    """The procedure letter in position 17 of a valid MRN, or None when a digit is there.

    Union Customs Code MRNs put the procedure there (A, B, E export; J, K, L, M transit;
    R, S, T import ...). Fallback MRNs are accepted; an invalid MRN raises IdentifierError.

    >>> procedure("06DE586600006143E1")
    'E'
    >>> procedure("24IT000000000001AF")
    'A'
    """
    letter = validate(value, allow_fallback=True)[_PROCEDURE_POSITION]
    return letter if _normalise.is_ascii_letters(letter) else None
