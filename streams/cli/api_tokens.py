"""``iotrack api tokens``: make, list and revoke the query API's bearer tokens.

``add ROLE NAME`` prints a new token once and writes only its digest to the tokens file
(``IOTRACK_API_TOKENS_FILE``, by default ``IOTRACK_HOME/secrets/api-tokens``); ``iotrack api``
reads the file when it starts, so a token added or revoked counts from its next start.
"""

from __future__ import annotations

import argparse

from streams.cli.tables import print_table
from streams.http.access import Role
from streams.ops.settings import Settings


def _add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.http.tokens_file import add_token

    path = settings.api_tokens_file
    token = add_token(path, Role(args.role), args.name, args.operator)
    print(
        f"token for {args.name} ({args.role}), shown this once and kept nowhere (only its "
        f"digest, in {path}): {token.reveal()}"
    )
    print("restart 'iotrack api' for it to count")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.http.tokens_file import listed

    rows = [("name", "role", "operator")]
    rows += [(p.name, p.role.value, p.operator or "") for p in listed(settings.api_tokens_file)]
    print_table(rows)
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    from streams.http.tokens_file import revoke_token

    gone = revoke_token(settings.api_tokens_file, args.name)
    print(
        f"revoked the token of {gone.name} ({gone.role.value}); restart 'iotrack api' for it "
        "to count"
    )
    return 0


def register(api: argparse.ArgumentParser) -> None:
    """Add ``tokens add``, ``tokens list`` and ``tokens revoke`` under ``iotrack api``."""
    commands = api.add_subparsers(dest="api_action", metavar="tokens")
    help_text = "make, list and revoke the API's bearer tokens"
    tokens = commands.add_parser("tokens", help=help_text, description=help_text)
    actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="make a token: printed once, only its digest kept")
    add.add_argument("role", choices=[r.value for r in Role], help="what the token may see")
    add.add_argument("name", help="who holds it (e.g. gate-3-clerk): lower case, unique")
    add.add_argument("--operator", help="a rail-operator token's operator id (required for it)")
    add.set_defaults(handler=_add)
    actions.add_parser("list", help="every token's holder and role").set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="remove a holder's token")
    revoke.add_argument("name", help="the holder, as listed")
    revoke.set_defaults(handler=_revoke)
