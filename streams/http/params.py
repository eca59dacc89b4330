"""Query parameters of the API that need more than their type: unit codes validated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import get_args

from processors.identifiers import IdentifierError, country_code, itu
from streams.http.access import BadParameter
from streams.http.models import LookupKind

LOOKUP_KINDS: tuple[str, ...] = get_args(LookupKind)


@contextmanager
def parameter(name: str) -> Iterator[None]:
    """Turn a stray ValueError raised while reading parameter ``name`` into BadParameter."""
    try:
        yield
    except BadParameter:
        raise
    except (ValueError, OverflowError) as exc:
        raise BadParameter(name, f"malformed ({type(exc).__name__})") from None


def itu_key_of(kind: str, value: str, country: str | None, *, kinds: str = "kind") -> str:
    """The ITU key of a queried unit, validated (check digits for containers and ILUs)."""
    kind = kind.upper()
    if kind not in LOOKUP_KINDS:
        raise BadParameter(kinds, f"{kind!r} is not one of {', '.join(LOOKUP_KINDS)}")
    if kind == "PLATE":
        if not country:
            raise BadParameter("country", "required for a plate (ISO 3166 alpha-2, e.g. IT)")
        try:
            country = country_code(country)
        except ValueError as exc:
            raise BadParameter("country", str(exc)) from None
    elif country:
        raise BadParameter("country", "applies to plates only")
    try:
        normalised = itu.checked(kind, value, country)
    except IdentifierError as exc:
        raise BadParameter("value" if kinds == "kind" else kinds.lower(), str(exc)) from None
    return itu.key(kind, normalised, country)
