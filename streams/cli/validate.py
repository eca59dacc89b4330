"""``iotrack validate KIND VALUE``: check one identifier and say what is wrong with it.

Exit status 0 when the value is valid, 1 when it is not, 2 for a usage error (an unknown kind,
a ``--country`` that is not an ISO 3166-1 alpha-2 code, an option the kind does not take).

::

    $ iotrack validate container CSQU3054383
    valid container CSQU3054383 (CSQU 305438 3)
    $ iotrack validate container CSQU3054384
    invalid container CSQU3054384: check digit is 4, expected 3
    $ iotrack validate plate "b ab 1234" --country DE --json
    {"kind": "plate", "input": "b ab 1234", "normalized": "BAB1234", "valid": true, "reason": null}
"""

from __future__ import annotations

import argparse
import json
import sys

from processors import identifiers
from processors.identifiers.errors import IdentifierError

KINDS = tuple(identifiers.KINDS)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``validate`` sub-command to ``subparsers``; its handler is :func:`run`."""
    help_text = "check a container, ILU, MRN, wagon, plate or seal identifier"
    command = subparsers.add_parser("validate", help=help_text, description=help_text)
    command.add_argument("kind", metavar="KIND", choices=KINDS, help=f"one of {', '.join(KINDS)}")
    command.add_argument("value", metavar="VALUE", help="the identifier, as read or typed")
    command.add_argument(
        "--country",
        metavar="CC",
        help="plates only: ISO 3166-1 alpha-2 country of registration (default IT)",
    )
    command.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: kind, input, normalized, valid, reason",
    )
    command.add_argument(
        "--allow-fallback",
        action="store_true",
        help="MRNs only: accept an NCTS fallback MRN (last character F, no check digit)",
    )
    command.set_defaults(handler=run)


def _usage_error(message: str) -> int:
    print(f"iotrack validate: {message}", file=sys.stderr)
    return 2


def run(settings: object, args: argparse.Namespace) -> int:
    """Validate ``args.value`` as ``args.kind``; 0 valid, 1 invalid, 2 usage error.

    ``settings`` is unused: validation needs neither the broker nor the database.
    """
    kind: str = args.kind
    value: str = args.value
    if args.country is not None:
        if kind != "plate":
            return _usage_error(f"--country applies to plates only, not to {kind}")
        try:
            identifiers.country_code(args.country)
        except ValueError as error:
            return _usage_error(str(error))
    if args.allow_fallback and kind != "mrn":
        return _usage_error(f"--allow-fallback applies to MRNs only, not to {kind}")

    module = identifiers.KINDS[kind]
    normalized: str = module.compact(value)
    try:
        normalized = identifiers.validate_kind(
            kind, value, country=args.country, allow_fallback=args.allow_fallback
        )
    except IdentifierError as error:
        reason: str | None = str(error)
    else:
        reason = None

    if args.json:
        print(
            json.dumps(
                {
                    "kind": kind,
                    "input": value,
                    "normalized": normalized,
                    "valid": reason is None,
                    "reason": reason,
                }
            )
        )
    elif reason is not None:
        print(f"invalid {kind} {reason}")
    else:
        printed = _printed_form(kind, value, args)
        print(f"valid {kind} {normalized}" + (f" ({printed})" if printed != normalized else ""))
    return 0 if reason is None else 1


def _printed_form(kind: str, value: str, args: argparse.Namespace) -> str:
    module = identifiers.KINDS[kind]
    if kind == "plate":
        printed: str = module.format(value, country=args.country or "IT")
    elif kind == "mrn":
        printed = module.format(value, allow_fallback=args.allow_fallback)
    else:
        printed = module.format(value)
    return printed
