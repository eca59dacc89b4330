"""``iotrack parties``: admit a terminal, rail operator, rail portal or reader, and list who is in.

Customs, the GdF, the other agencies and iotrack's services are standing parties (their Kafka
credentials are made by ``iotrack up``); the others are admitted one by one. Admitting one makes
its Kafka principal's SCRAM credential (its secret printed once; on the local broker also kept
in ``IOTRACK_HOME/secrets/kafka``), the topics it has of its own (a rail operator's requests or a
portal's consist reads, and its replies), and the ACLs the catalogue declares for it, so that it
may write only its own channel and read only what is said to it.
"""

from __future__ import annotations

import argparse

from processors.parties import PartyKind, Sender
from streams.cli.options import Commands, add_command
from streams.cli.tables import print_table
from streams.local import runtime
from streams.ops.admission import admit
from streams.ops.settings import Settings
from topics import admin, catalog
from topics.parties import ADMITTED_KINDS, STANDING, describe


def _add(settings: Settings, args: argparse.Namespace) -> int:
    party = Sender(PartyKind(args.kind), args.name)
    found = runtime.endpoints(settings)
    done = admit(found, [party])
    own = {t.name for t in catalog.topics_of(party)}
    for report in done.topics:
        if report.topic.name in own:
            print(f"{report.topic.name}  {report.outcome}")
    print(f"ACLs: {len(done.acls.created)} created")
    for acl in done.acls.extra:
        print(f"ACL not declared (left unchanged): {acl}")
    [credential] = done.credentials
    if credential.new_secret is None:
        print(f"Kafka principal {party.principal}: has its credential already (kept)")
    elif credential.kept_in is not None:
        print(
            f"Kafka principal {party.principal}, password (shown this once; kept in "
            f"{credential.kept_in}): {credential.new_secret.reveal()}"
        )
    else:
        print(
            f"Kafka principal {party.principal}, password (shown this once and kept nowhere: "
            f"hand it to the party): {credential.new_secret.reveal()}"
        )
    print(f"{party} admitted: {describe(party.kind)}")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    found = runtime.endpoints(settings)
    admitted = admin.admitted(admin.admin_client(found.kafka_admin()))
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
