"""The ISO 6346 check character and the layout shared by container (ISO 6346) and ILU codes.

Both are an owner code of three letters, a category letter, a six-digit serial number and a
check digit; they differ only in which category letters they allow. python-stdnum's
``iso6346`` does the check-digit arithmetic, but it is looser than the standard (it accepts
digits in the owner code and category R) and can raise unexpected exceptions on odd input, so
it is only ever called here after our own strict checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stdnum import iso6346

from processors.identifiers._normalise import (
    compact_checked,
    is_ascii_alphanumeric,
    is_ascii_digits,
    is_ascii_letters,
)
from processors.identifiers.errors import (
    InvalidCategory,
    InvalidCheckDigit,
    InvalidFormat,
    InvalidLength,
)

LENGTH = 11
BODY_LENGTH = LENGTH - 1


def check_character(body: str) -> str:
    """The ISO 6346 check digit of ``body`` (A-Z and 0-9 only, already checked by the caller).

    Letters are worth 10..38 skipping the multiples of 11, position i weighs 2**i, and the
    check digit is (sum mod 11) mod 10.

    >>> check_character("CSQU305438"), check_character("06DE586600006143E")
    ('3', '1')
    """
    if not is_ascii_alphanumeric(body):
        # Not reachable through the public validators; guards stdnum against what it mishandles.
        raise ValueError(f"ISO 6346 check digits are computed over A-Z and 0-9, got {body!r}")
    return iso6346.calc_check_digit(body)


def _listed(letters: str) -> str:
    """``"UJZ"`` -> ``"U, J or Z"``."""
    return f"{', '.join(letters[:-1])} or {letters[-1]}"


@dataclass(frozen=True)
class OwnerCodeLayout:
    """The rules of one kind laid out as owner code + category + serial + check digit."""

    kind: str
    categories: str
    """The category letters this kind allows, e.g. ``"UJZ"``."""
    refused: Mapping[str, str] = field(default_factory=dict)
    """Why some other letters are refused, to make the message helpful."""

    def _check_body(self, text: str) -> None:
        """Raise the error for the first fault in the owner code, category and serial."""
        owner, category, serial = text[:3], text[3], text[4:10]
        if not is_ascii_letters(owner):
            raise InvalidFormat(self.kind, text, f"owner code {owner!r} must be 3 letters A-Z")
        allowed = _listed(self.categories)
        if not is_ascii_letters(category):
            raise InvalidFormat(
                self.kind, text, f"category {category!r} must be a letter ({allowed})"
            )
        if category not in self.categories:
            why = self.refused.get(category, "")
            raise InvalidCategory(
                self.kind,
                text,
                f"category letter is {category}, expected {allowed}" + (f" ({why})" if why else ""),
            )
        if not is_ascii_digits(serial):
            raise InvalidFormat(self.kind, text, f"serial number {serial!r} must be 6 digits")

    def check_digit(self, value: object) -> str:
        """The check digit of the 10-character body (owner code, category, serial)."""
        text = compact_checked(self.kind, value)
        if len(text) != BODY_LENGTH:
            raise InvalidLength(
                self.kind,
                text,
                f"length is {len(text)}, expected {BODY_LENGTH} characters without the check digit",
            )
        self._check_body(text)
        return check_character(text)

    def validate(self, value: object) -> str:
        """The compact form of ``value`` when valid; the specific IdentifierError otherwise."""
        text = compact_checked(self.kind, value)
        if len(text) != LENGTH:
            raise InvalidLength(
                self.kind,
                text,
                f"length is {len(text)}, expected {LENGTH} characters "
                "(owner code, category letter, 6-digit serial, check digit)",
            )
        self._check_body(text)
        found = text[-1]
        if not is_ascii_digits(found):
            raise InvalidFormat(self.kind, text, f"check digit {found!r} must be a digit 0-9")
        expected = check_character(text[:-1])
        if found != expected:
            raise InvalidCheckDigit(self.kind, text, found=found, expected=expected)
        return text

    def format(self, value: str) -> str:
        """The printed form: owner code and category, serial, check digit."""
        text = self.validate(value)
        return f"{text[:4]} {text[4:10]} {text[10]}"
