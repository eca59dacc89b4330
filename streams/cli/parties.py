"""``iotrack parties``: admit a terminal, rail operator, rail portal or reader, and list who is in.

Customs, the GdF, the other agencies and iotrack's services are standing parties; the others are
admitted one by one. Admitting a rail operator or a rail portal creates the topics it has of its
own (its requests or consist reads, and its replies), so that it may write only its own channel
and read only what is said to it.
"""

from __future__ import annotations

import argparse

from processors.parties import PartyKind, Sender
from streams.cli.options import Commands, add_command
from streams.cli.tables import print_table
from streams.local import runtime
from streams.ops.settings import Settings
from topics import admin, catalog
from topics.parties import ADMITTED_KINDS, STANDING, describe


def _add(settings: Settings, args: argparse.Namespace) -> int:
    party = Sender(PartyKind(args.kind), args.name)
    found = runtime.endpoints(settings)
    own = catalog.topics_of(party)
    reports = admin.apply(admin.admin_client(found.bootstrap), own) if own else []
    for report in reports:
        print(f"{report.topic.name}  {report.outcome}")
    print(f"{party} admitted: {describe(party.kind)}")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    found = runtime.endpoints(settings)
    admitted = admin.admitted(admin.admin_client(found.bootstrap))
    rows = [("party", "kind", "admitted")]
    rows += [(str(p), str(p.kind), "standing") for p in STANDING]
    rows += [(str(p), str(p.kind), "one by one") for p in admitted]
    print_table(rows)
    return 0


def register(commands: Commands) -> None:
    """Add ``parties add`` and ``parties list`` to ``commands``."""
    parties = add_command(commands, "parties", "the parties that write and read the topics")
    actions = parties.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="admit a party: its own topics (and credentials)")
    add.add_argument("kind", choices=[str(k) for k in ADMITTED_KINDS], help="its kind")
    add.add_argument("name", help="its name: lower case letters, digits and inner hyphens")
    add.set_defaults(handler=_add)
    actions.add_parser("list", help="every party, standing or admitted").set_defaults(handler=_list)
