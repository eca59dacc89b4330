"""Vehicle registration plates: strict for Italy, loose for the rest of the world.

Italy (``country="IT"``, the default), the current series since 1994:

- car and lorry ``[A-HJ-NPR-TV-Z]{2}[0-9]{3}[A-HJ-NPR-TV-Z]{2}`` (``AB123CD``; the letters I,
  O, Q and U never appear, and no plate starts with ``EE``);
- trailer ``X[A-HJ-NPR-TV-Z][0-9]{3}[A-HJ-NPR-TV-Z]{2}`` (``XA123BC``): the same shape in the X
  series, which is reserved for trailers, so a plate starting with X is a trailer.

Any other country (an ISO 3166-1 alpha-2 code; ``XK`` for Kosovo is accepted too) is stored as
(country, normalised text) with loose checks, because plate formats differ by country, region
and era: after normalising, 2 to 10 letters A-Z and digits with at least one digit. A letter is
not required, since some countries (Luxembourg, for one) still issue all-digit plates. Cyrillic
and Greek plates use only letters that look like Latin ones and are registered under those in
international traffic, so those letters are written as their Latin look-alikes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from processors.identifiers import _normalise
from processors.identifiers._countries import PLATE_COUNTRIES, country_code
from processors.identifiers.errors import InvalidFormat, InvalidLength

KIND = "plate"
ITALY = "IT"
COUNTRIES = PLATE_COUNTRIES
"""Country codes a plate may be registered in."""
PlateKind = Literal["car", "trailer", "foreign"]

_LETTER = "[A-HJ-NPR-TV-Z]"
_ITALIAN_CAR = re.compile(rf"{_LETTER}{{2}}[0-9]{{3}}{_LETTER}{{2}}")
_ITALIAN_TRAILER = re.compile(rf"X{_LETTER}[0-9]{{3}}{_LETTER}{{2}}")
_ITALIAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{3}[A-Z]{2}")
_ITALIAN_LENGTH = 7
_UNUSED_ITALIAN_LETTERS = "IOQU"
_FOREIGN_LENGTHS = range(2, 11)
# Plate letters of the Cyrillic and Greek alphabets and the Latin letters they are registered as.
_CYRILLIC_PLATE_LETTERS = {
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M",
    "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T",
    "\u0423": "Y", "\u0425": "X", "\u0406": "I", "\u0408": "J", "\u0405": "S",
}  # fmt: skip
_GREEK_PLATE_LETTERS = {
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H",
    "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O",
    "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
}  # fmt: skip
_CYRILLIC_AND_GREEK_TO_LATIN = str.maketrans(_CYRILLIC_PLATE_LETTERS | _GREEK_PLATE_LETTERS)


@dataclass(frozen=True)
class Plate:
    """A validated plate: registration country, normalised text and what kind of plate."""

    country: str
    text: str
    kind: PlateKind
    """``car`` or ``trailer`` for Italian plates, ``foreign`` for the others."""


def compact(value: str) -> str:
    """``value`` in upper case without separators, Cyrillic/Greek letters written in Latin.

    Never raises on text.

    >>> compact("ab 123 cd")
    'AB123CD'
    >>> compact("\\u0412\\u041d 1234 \\u0410\\u041a")  # Cyrillic, as on a Ukrainian plate
    'BH1234AK'
    """
    return _normalise.compact(value).translate(_CYRILLIC_AND_GREEK_TO_LATIN)


def _italian(text: str) -> PlateKind:
    if len(text) != _ITALIAN_LENGTH:
        raise InvalidLength(
            KIND,
            text,
            f"length is {len(text)}, expected {_ITALIAN_LENGTH} characters "
            "for an Italian plate (2 letters, 3 digits, 2 letters, e.g. AB123CD)",
        )
    if not (text.isascii() and _ITALIAN_SHAPE.fullmatch(text)):
        raise InvalidFormat(
            KIND, text, "an Italian plate is 2 letters, 3 digits, 2 letters (e.g. AB123CD)"
        )
    unused = [letter for letter in text if letter in _UNUSED_ITALIAN_LETTERS]
    if unused:
        raise InvalidFormat(
            KIND,
            text,
            f"letter {unused[0]} is not used on Italian plates (I, O, Q and U never appear)",
        )
    if text.startswith("EE"):
        raise InvalidFormat(KIND, text, "no Italian plate of this series starts with EE")
    # The X series is reserved for trailers; it also fits the car pattern, so it goes first.
    if _ITALIAN_TRAILER.fullmatch(text):
        return "trailer"
    if _ITALIAN_CAR.fullmatch(text):
        return "car"
    raise InvalidFormat(KIND, text, "not an Italian car or trailer plate")


def _foreign(text: str) -> PlateKind:
    if len(text) not in _FOREIGN_LENGTHS:
        raise InvalidLength(
            KIND,
            text,
            f"length is {len(text)}, expected {_FOREIGN_LENGTHS.start} to "
            f"{_FOREIGN_LENGTHS.stop - 1} letters and digits",
        )
    if not _normalise.is_ascii_alphanumeric(text):
        raise InvalidFormat(KIND, text, "a plate has letters A-Z and digits 0-9 only")
    if not any(char.isdigit() for char in text):
        raise InvalidFormat(KIND, text, "a plate has at least one digit")
    return "foreign"


def parse(value: str, country: str = ITALY) -> Plate:
    """The plate ``value`` registered in ``country``; IdentifierError when it is not valid.

    ``country`` must be an ISO 3166-1 alpha-2 code (any case); a bad code raises ValueError.

    >>> parse("XA 123 BC")
    Plate(country='IT', text='XA123BC', kind='trailer')
    >>> parse("b-ab 1234", country="de")
    Plate(country='DE', text='BAB1234', kind='foreign')
    """
    return _parsed(value, country)


def _parsed(value: object, country: str) -> Plate:
    code = country_code(country, COUNTRIES)
    text = _normalise.compact_checked(KIND, value).translate(_CYRILLIC_AND_GREEK_TO_LATIN)
    kind = _italian(text) if code == ITALY else _foreign(text)
    return Plate(code, text, kind)


def validate(value: str, country: str = ITALY) -> str:
    """The normalised plate text when valid in ``country``; IdentifierError otherwise.

    >>> validate("ab 123 cd")
    'AB123CD'
    >>> validate("AB 123 CO")
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidFormat: AB123CO: letter O is not used on Italian ...
    >>> validate("ABC 123", country="GB")
    'ABC123'
    """
    return _parsed(value, country).text


def is_valid(value: object, country: str = ITALY) -> bool:
    """Whether ``value`` is a valid plate of ``country``; never raises (a bad country is False).

    >>> is_valid("AB123CD"), is_valid("EE123AB"), is_valid("AB123CD", country="ZZ1")
    (True, False, False)
    """
    try:
        _parsed(value, country)
    except ValueError:  # IdentifierError, or a country argument that is not a code
        return False
    return True


def format(value: str, country: str = ITALY) -> str:
    """The printed form: ``AB 123 CD`` for Italian plates, the normalised text for others.

    >>> format("ab123cd"), format("XA123BC"), format("b ab 1234", country="DE")
    ('AB 123 CD', 'XA 123 BC', 'BAB1234')
    """
    plate = _parsed(value, country)
    if plate.kind == "foreign":
        return plate.text
    return f"{plate.text[:2]} {plate.text[2:5]} {plate.text[5:]}"
