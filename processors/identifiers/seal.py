"""Container and trailer seals: ISO 17712 class, issuer and the number printed on the seal.

ISO 17712 grades a mechanical seal's strength: ``I`` indicative, ``S`` security, ``H`` high
security. It sets no numbering scheme: each manufacturer or issuer (a shipping line, a customs
office) prints its own, so a seal number has no check digit and is only checked for a sensible
shape, 4 to 20 letters and digits after normalising. A seal is identified by
(class, issuer, text).
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.identifiers import _normalise
from processors.identifiers.errors import (
    IdentifierError,
    InvalidCategory,
    InvalidFormat,
    InvalidLength,
    shown,
)

KIND = "seal"
CLASSES = {"I": "indicative", "S": "security", "H": "high security"}
"""ISO 17712 seal classes by letter."""
_LENGTHS = range(4, 21)


@dataclass(frozen=True)
class Seal:
    """A validated seal: ISO 17712 class and issuer when known, and the normalised number."""

    seal_class: str | None
    issuer: str | None
    text: str


def compact(value: str) -> str:
    """``value`` in upper case without spaces, hyphens, dots or slashes; never raises on text.

    >>> compact("ml-it 0012345")
    'MLIT0012345'
    """
    return _normalise.compact(value)


def _seal_class(text: str, seal_class: object) -> str | None:
    if seal_class is None or (isinstance(seal_class, str) and not seal_class.strip()):
        return None  # class not known
    letter = seal_class.strip().upper() if isinstance(seal_class, str) else repr(seal_class)
    if letter not in CLASSES:
        raise InvalidCategory(
            KIND,
            text,
            f"seal class is {shown(letter)}, expected I, S or H "
            "(ISO 17712: indicative, security, high security)",
        )
    return letter


def _validated(value: object) -> str:
    text = _normalise.compact_checked(KIND, value)
    if len(text) not in _LENGTHS:
        raise InvalidLength(
            KIND,
            text,
            f"length is {len(text)}, expected {_LENGTHS.start} to {_LENGTHS.stop - 1} "
            "letters and digits",
        )
    if not _normalise.is_ascii_alphanumeric(text):
        raise InvalidFormat(KIND, text, "a seal number has letters A-Z and digits 0-9 only")
    return text


def validate(value: str, seal_class: str | None = None) -> str:
    """The normalised seal number when valid (and ``seal_class``, if given, is I, S or H).

    There is no check digit to verify.

    >>> validate("ml-it 0012345", seal_class="H")
    'MLIT0012345'
    >>> validate("0012345", seal_class="X")
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidCategory: 0012345: seal class is X, expected I, S or H ...
    """
    text = _validated(value)
    _seal_class(text, seal_class)
    return text


def is_valid(value: object, seal_class: object = None) -> bool:
    """Whether ``value`` is an acceptable seal number; never raises, whatever ``value`` is.

    >>> is_valid("MLIT0012345"), is_valid("A1"), is_valid("MLIT0012345", seal_class="Q")
    (True, False, False)
    """
    try:
        _seal_class(_validated(value), seal_class)
    except IdentifierError:
        return False
    return True


def format(value: str) -> str:
    """The printed form, which for a seal is its normalised number.

    >>> format("ml-it 0012345")
    'MLIT0012345'
    """
    return _validated(value)


def parse(text: str, seal_class: str | None = None, issuer: str | None = None) -> Seal:
    """The seal numbered ``text``, of ``seal_class`` (I, S, H) issued by ``issuer``.

    The issuer is free text (a shipping line, a customs office), kept with its spaces collapsed;
    blank means unknown.

    >>> parse("ml-it 0012345", seal_class="h", issuer="  Maersk   Line ")
    Seal(seal_class='H', issuer='Maersk Line', text='MLIT0012345')
    """
    number = _validated(text)
    cleaned_issuer = " ".join(issuer.split()) if issuer is not None else ""
    return Seal(_seal_class(number, seal_class), cleaned_issuer or None, number)
