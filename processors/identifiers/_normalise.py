"""Normalisation shared by every identifier kind, and the guard in front of every validator."""

from __future__ import annotations

import unicodedata

from processors.identifiers.errors import InvalidFormat, InvalidLength

# Longer raw input is refused before any work is done on it: no identifier is anywhere near this
# long even with generous separators, and validators must stay cheap on hostile input.
MAX_INPUT_LENGTH = 256

# Separators people and printers put inside identifiers. NFKC has already folded the
# full-width and compatibility forms of these into the ASCII ones.
_SEPARATORS = frozenset("-./\u2212")
# Dashes of every script (Pd) and invisible format characters (Cf: soft hyphen, zero-width
# space, byte-order mark) arrive with copy-pasted or OCR text and carry no meaning.
_DROPPED_CATEGORIES = frozenset({"Pd", "Cf"})


def _is_separator(char: str) -> bool:
    return (
        char.isspace() or char in _SEPARATORS or unicodedata.category(char) in _DROPPED_CATEGORIES
    )


def compact(value: str) -> str:
    """``value`` in Unicode NFKC, upper case, without spaces, hyphens, dots or slashes.

    Never raises on text; what remains may still be invalid for every kind.

    >>> compact(" csqu 305438-3 ")
    'CSQU3054383'
    >>> full_width = "".join(chr(ord(char) + 0xFEE0) for char in "CSQU3054383")
    >>> compact(full_width)  # as some OCR engines emit
    'CSQU3054383'
    >>> compact("21.81/2471\\u00a0217\\u20133")
    '218124712173'
    """
    upper = unicodedata.normalize("NFKC", value).upper()
    return "".join(char for char in upper if not _is_separator(char))


def compact_checked(kind: str, value: object) -> str:
    """The compact form of ``value``, refusing non-text and absurdly long input first.

    >>> compact_checked("container", "csqu 3054383")
    'CSQU3054383'
    >>> compact_checked("container", 3054383)
    Traceback (most recent call last):
        ...
    processors.identifiers.errors.InvalidFormat: 3054383: must be text, got int
    """
    if not isinstance(value, str):
        raise InvalidFormat(kind, repr(value), f"must be text, got {type(value).__name__}")
    if len(value) > MAX_INPUT_LENGTH:
        raise InvalidLength(
            kind,
            value,
            f"input is {len(value)} characters long, at most {MAX_INPUT_LENGTH} are accepted",
        )
    return compact(value)


def is_ascii_letters(text: str) -> bool:
    """True when ``text`` is non-empty and only A-Z (``str.isalpha`` also accepts other scripts).

    >>> is_ascii_letters("CSQU"), is_ascii_letters("CS0U"), is_ascii_letters("ÇSQU")
    (True, False, False)
    """
    return bool(text) and text.isascii() and text.isalpha() and text.isupper()


def is_ascii_digits(text: str) -> bool:
    """True when ``text`` is non-empty and only 0-9 (``str.isdigit`` also accepts ``²``, ``٣``).

    >>> is_ascii_digits("305438"), is_ascii_digits("3O5438"), is_ascii_digits("٣")
    (True, False, False)
    """
    return bool(text) and text.isascii() and text.isdigit()


def is_ascii_alphanumeric(text: str) -> bool:
    """True when ``text`` is non-empty and only A-Z and 0-9.

    >>> is_ascii_alphanumeric("06DE586600006143E1"), is_ascii_alphanumeric("06DE_5866")
    (True, False)
    """
    return bool(text) and text.isascii() and text.isalnum() and text == text.upper()
