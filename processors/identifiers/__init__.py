"""Identifiers of transport units and declarations, validated strictly.

One module per kind, each offering ``compact``, ``validate``, ``is_valid`` and ``format`` (and
``check_digit`` where the kind has one):

============= =========================================================== ==============
kind          what                                                        check
============= =========================================================== ==============
``container`` ISO 6346 container code, ``CSQU3054383``                    ISO 6346
``ilu``       EN 13044 intermodal loading unit code, ``KRKE1234567``       ISO 6346
``mrn``       customs declaration MRN, ``06DE586600006143E1``              ISO 6346
``wagon``     UIC wagon number, ``218124712173``                          Luhn
``plate``     vehicle plate, strict for Italy, loose elsewhere            none
``seal``      seal number with ISO 17712 class                            none
============= =========================================================== ==============

``validate`` returns the compact form or raises an
:class:`~processors.identifiers.errors.IdentifierError` subclass saying what is wrong;
``is_valid`` never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType

from processors.identifiers import container, ilu, mrn, plate, seal, wagon
from processors.identifiers._countries import ISO_3166_ALPHA2, country_code
from processors.identifiers.errors import (
    IdentifierError,
    InvalidCategory,
    InvalidCheckDigit,
    InvalidCountry,
    InvalidFormat,
    InvalidLength,
)

__all__ = [
    "CLASSIFIED_KINDS",
    "ISO_3166_ALPHA2",
    "KINDS",
    "IdentifierError",
    "InvalidCategory",
    "InvalidCheckDigit",
    "InvalidCountry",
    "InvalidFormat",
    "InvalidLength",
    "classify",
    "container",
    "country_code",
    "ilu",
    "mrn",
    "plate",
    "seal",
    "validate_kind",
    "wagon",
]

KINDS: Mapping[str, ModuleType] = MappingProxyType(
    {
        "container": container,
        "ilu": ilu,
        "mrn": mrn,
        "wagon": wagon,
        "plate": plate,
        "seal": seal,
    }
)
"""The module of each identifier kind, by name."""

CLASSIFIED_KINDS = ("container", "ilu", "mrn", "wagon")
"""The kinds :func:`classify` recognises: those whose check character makes a guess safe."""


def validate_kind(
    kind: str, value: str, *, country: str | None = None, allow_fallback: bool = False
) -> str:
    """The compact form of ``value`` validated as ``kind``; IdentifierError when invalid.

    ``country`` is the registration country of a plate (default ``IT``) and ``allow_fallback``
    accepts NCTS fallback MRNs; passing either for a kind they do not apply to, or an unknown
    kind, raises a plain ValueError.

    >>> validate_kind("container", "csqu 305438 3")
    'CSQU3054383'
    >>> validate_kind("plate", "m ab 123", country="DE")
    'MAB123'
    >>> validate_kind("boat", "X")
    Traceback (most recent call last):
        ...
    ValueError: unknown identifier kind 'boat'; known kinds: container, ilu, mrn, wagon, plate, seal
    """
    if kind not in KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}; known kinds: {', '.join(KINDS)}")
    if country is not None and kind != "plate":
        raise ValueError(f"a country applies to plates only, not to {kind}")
    if allow_fallback and kind != "mrn":
        raise ValueError(f"the fallback procedure applies to MRNs only, not to {kind}")
    if kind == "plate":
        return plate.validate(value, country="IT" if country is None else country)
    if kind == "mrn":
        return mrn.validate(value, allow_fallback=allow_fallback)
    validated: str = KINDS[kind].validate(value)
    return validated


def classify(value: object) -> str | None:
    """Which of container, ilu, mrn or wagon ``value`` validly is; None if none. Never raises.

    Readers use it to tell what an OCR or barcode string is. The kinds cannot overlap: they
    differ in length or in the category letter.

    >>> classify("CSQU 305438 3"), classify("KRKE1234567"), classify("06DE586600006143E1")
    ('container', 'ilu', 'mrn')
    >>> classify("21 81 2471 217-3"), classify("CSQU3054384"), classify(None)
    ('wagon', None, None)
    """
    for kind in CLASSIFIED_KINDS:
        if KINDS[kind].is_valid(value):
            return kind
    return None
