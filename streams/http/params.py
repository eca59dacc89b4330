"""Query parameters of the API: one value per name, checked, unit codes validated."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import parse_qs

from processors.identifiers import IdentifierError, country_code, itu
from streams.http.access import (
    BadParameter,
    no_nul,
)

LOOKUP_KINDS = ("CONTAINER", "ILU", "SWAP_BODY", "SEAL", "PLATE")


@contextmanager
def parameter(name: str) -> Iterator[None]:
    """Turn a stray ValueError raised while reading parameter ``name`` into BadParameter."""
    try:
        yield
    except BadParameter:
        raise
    except (ValueError, OverflowError) as exc:
        raise BadParameter(name, f"malformed ({type(exc).__name__})") from None


def one(query: Mapping[str, list[str]], name: str, *, required: bool = False) -> str | None:
    values = query.get(name)
    if not values:
        if required:
            raise BadParameter(name, "required")
        return None
    if len(values) > 1:
        raise BadParameter(name, "given more than once")
    if not values[0].strip():
        raise BadParameter(name, "empty")
    return values[0].strip()


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


def query_of(text: str) -> dict[str, list[str]]:
    """The query string's parameters; BadParameter naming one that holds a NUL character."""
    query = parse_qs(text, keep_blank_values=True)
    for name, values in query.items():
        no_nul(name, "query")
        for value in values:
            no_nul(value, name)
    return query
