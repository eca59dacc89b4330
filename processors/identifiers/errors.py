"""What is wrong with an identifier: one exception class per kind of fault.

Every error names the identifier kind (``kind``), the value that was checked (``value``, in its
compact form when it was text) and, in its message, what is wrong with it::

    CSQU3054384: check digit is 4, expected 3

``IdentifierError`` derives from ``ValueError`` (and from the processors' root,
``processors.errors.ProcessorError``), so callers that only care whether a value is acceptable
can catch either.
"""

from __future__ import annotations

from typing import Any

from processors.errors import ProcessorError

# Messages show at most this many characters of the value: a megabyte of garbage from a broken
# reader must not become a megabyte of log line.
_SHOWN_LENGTH = 40


def shown(value: str) -> str:
    """``value`` as it appears in a message: as is when short and printable, else quoted.

    >>> shown("CSQU3054383")
    'CSQU3054383'
    >>> shown("")
    "''"
    >>> shown("AB\\x00C")
    "'AB\\\\x00C'"
    """
    if value and value.isprintable() and len(value) <= _SHOWN_LENGTH:
        return value
    if len(value) > _SHOWN_LENGTH:
        return repr(value[:_SHOWN_LENGTH]) + f"... ({len(value)} characters)"
    return repr(value)


class IdentifierError(ProcessorError, ValueError):
    """An identifier failed validation; ``kind`` and ``value`` say which, the message why."""

    def __init__(self, kind: str, value: str, problem: str) -> None:
        super().__init__(f"{shown(value)}: {problem}")
        self.kind = kind
        self.value = value
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error intact when it is copied to another process (worker pools, queues).
        return (type(self), (self.kind, self.value, self.problem))


class InvalidLength(IdentifierError):  # noqa: N818 (the names read as the fault)
    """The compact value has the wrong number of characters."""


class InvalidFormat(IdentifierError):  # noqa: N818 (the names read as the fault)
    """A character is of the wrong class for its position (a digit in the owner code...)."""


class InvalidCategory(IdentifierError):  # noqa: N818 (the names read as the fault)
    """A category or class letter is not one the standard allows (container category R...)."""


class InvalidCountry(IdentifierError):  # noqa: N818 (the names read as the fault)
    """A country code is not an ISO 3166-1 alpha-2 code."""


class InvalidCheckDigit(IdentifierError):  # noqa: N818 (the names read as the fault)
    """The check character does not match the one computed; ``expected`` is the right one."""

    def __init__(self, kind: str, value: str, *, found: str, expected: str) -> None:
        super().__init__(kind, value, f"check digit is {found}, expected {expected}")
        self.found = found
        self.expected = expected

    def __reduce__(self) -> tuple[Any, ...]:
        return (_check_digit_error, (self.kind, self.value, self.found, self.expected))


def _check_digit_error(kind: str, value: str, found: str, expected: str) -> InvalidCheckDigit:
    return InvalidCheckDigit(kind, value, found=found, expected=expected)
