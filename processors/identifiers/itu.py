"""ITU identifiers as the topics key them: ``KIND:value``, and ``PLATE:country:value``.

An ITU identifier (``iotrack.ItuIdentifier``) has an Avro ``ItuKind``; the kinds with a
standard are checked by the identifier module of the same name, the others (swap body ids,
manifest goods ids) only for being non-empty.

>>> unit_key("CONTAINER", "csqu 305438 3")
'CONTAINER:CSQU3054383'
>>> unit_key("PLATE", "ab 123 cd", country="it")
'PLATE:IT:AB123CD'
>>> unit_key("CONTAINER", "CSQU3054384")
Traceback (most recent call last):
    ...
processors.identifiers.errors.InvalidCheckDigit: CSQU3054384: check digit is 4, expected 3
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from processors.identifiers import KINDS
from processors.identifiers._countries import country_code
from processors.identifiers.errors import IdentifierError, InvalidCountry, InvalidFormat

ITU_KINDS = ("CONTAINER", "ILU", "PLATE", "SWAP_BODY", "SEAL", "MANIFEST_GOODS", "WAGON")
"""The symbols of the Avro enum ``iotrack.ItuKind``."""

UNIT_KINDS = frozenset({"CONTAINER", "ILU", "SWAP_BODY", "SEAL", "MANIFEST_GOODS"})
"""Kinds that name one cargo unit or consignment: at most one active IOT_ID at a time, across
every mission path. A seal is fixed to one unit for one journey and a manifest goods id names
one line of one manifest, so two active IOT_IDs for either would make "may it leave?" ambiguous."""
CARRIER_KINDS = frozenset({"PLATE", "WAGON"})
"""Kinds that name a carrier: a truck or a wagon carries several IOT_IDs at once, and others
later; it may leave only when everything it carries may."""

CHECKED_BY: Mapping[str, str] = MappingProxyType(
    {"CONTAINER": "container", "ILU": "ilu", "WAGON": "wagon", "PLATE": "plate", "SEAL": "seal"}
)
"""ITU kind -> the identifier module that checks it; kinds without a standard are absent."""


def key(kind: str, value: str, country: str | None = None) -> str:
    """The topic key of an identifier already in its compact form.

    >>> key("PLATE", "AB123CD", "IT"), key("SWAP_BODY", "WB-1")
    ('PLATE:IT:AB123CD', 'SWAP_BODY:WB-1')
    """
    if kind == "PLATE" and country:
        return f"PLATE:{country}:{value}"
    return f"{kind}:{value}"


def compact(kind: str, value: str) -> str:
    """``value`` in the compact form of ``kind``, as the ledger and the topics key it; never
    raises (whether it is valid is ``checked``'s question). Kinds with a standard take their
    module's ``compact`` (upper case, without spaces, hyphens, dots or slashes); the others are
    upper-cased without spaces.

    >>> compact("CONTAINER", "csqu 305438-3"), compact("PLATE", "ab 123 cd")
    ('CSQU3054383', 'AB123CD')
    >>> compact("SWAP_BODY", " wb-1 ")
    'WB-1'
    """
    module = CHECKED_BY.get(kind)
    if module is None:
        return "".join(value.upper().split())
    compacted: str = KINDS[module].compact(value)
    return compacted


def compact_country(country: str | None) -> str | None:
    """A plate's country as keys have it: upper case, no spaces; None when empty.

    >>> compact_country(" it"), compact_country(""), compact_country(None)
    ('IT', None, None)
    """
    if country is None:
        return None
    return "".join(country.split()).upper() or None


def key_of_record(record: Mapping[str, object]) -> str:
    """The topic key of an ``iotrack.ItuIdentifier`` as decoded from a topic.

    >>> key_of_record({"kind": "PLATE", "value": "AB123CD", "country": "IT"})
    'PLATE:IT:AB123CD'
    """
    country = record.get("country")
    return key(str(record["kind"]), str(record["value"]), str(country) if country else None)


def checked(kind: str, value: str, country: str | None = None) -> str:
    """``value`` in its compact form, checked as an ITU of ``kind``; IdentifierError (naming the
    kind and what is wrong) when it is not acceptable."""
    if kind not in ITU_KINDS:
        raise InvalidFormat("itu kind", kind, f"not an ITU kind; one of {', '.join(ITU_KINDS)}")
    module = CHECKED_BY.get(kind)
    if module is None:
        compact = "".join(value.upper().split())
        if not compact:
            raise InvalidFormat(kind.lower(), value, "empty identifier")
        return compact
    if module == "plate":
        validated: str = KINDS["plate"].validate(value, country=country or "IT")
        return validated
    if country:
        raise InvalidCountry(kind.lower(), country, "a country applies to plates only")
    checked_value: str = KINDS[module].validate(value)
    return checked_value


def unit_key(kind: str, value: str, country: str | None = None) -> str:
    """The topic key of a unit given by a person (a command, a query): kind and value checked,
    a plate's country normalised to ISO 3166 alpha-2 (required for a plate)."""
    kind = kind.upper()
    if kind == "PLATE":
        if not country:
            raise InvalidCountry("plate", "", "a plate needs its country (ISO 3166 alpha-2)")
        try:
            country = country_code(country)
        except ValueError as exc:
            raise InvalidCountry("plate", country, str(exc)) from None
    return key(kind, checked(kind, value, country), country)


def kind_of(key_text: str) -> str:
    """The ITU kind of a key (``CONTAINER:CSQU3054383`` -> ``CONTAINER``)."""
    return key_text.partition(":")[0]


def is_carrier(key_text: str) -> bool:
    """Whether a key names a carrier (a plate, a wagon) rather than a unit.

    >>> is_carrier("PLATE:IT:AB123CD"), is_carrier("CONTAINER:CSQU3054383")
    (True, False)
    """
    return kind_of(key_text) in CARRIER_KINDS


__all__ = [
    "CARRIER_KINDS",
    "CHECKED_BY",
    "ITU_KINDS",
    "UNIT_KINDS",
    "IdentifierError",
    "checked",
    "compact",
    "compact_country",
    "is_carrier",
    "key",
    "kind_of",
    "unit_key",
]
