"""``iotrack asyncapi [--output FILE]``: the AsyncAPI 3.0 document of every catalogued topic.

It is derived from the topic catalogue and the Avro schemas (:mod:`topics.asyncapi`), needs
neither the broker nor the database, and prints the JSON to stdout unless given a file. The
committed copy is ``docs/asyncapi.json``; after a change to the catalogue or a schema::

    $ iotrack asyncapi --output docs/asyncapi.json
    wrote docs/asyncapi.json: 21 channels, 61 operations
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.cli.options import add_command
from streams.errors import StreamsError
from topics import asyncapi


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``asyncapi`` sub-command to ``subparsers``; its handler is :func:`run`."""
    command = add_command(
        subparsers, "asyncapi", "print the AsyncAPI 3.0 document of every topic (JSON)"
    )
    command.add_argument(
        "--output",
        metavar="FILE",
        type=Path,
        help="write it to FILE instead of stdout (the committed copy: docs/asyncapi.json)",
    )
    command.set_defaults(handler=run)


def run(settings: object, args: argparse.Namespace) -> int:
    """Render the document to ``args.output`` or stdout; 0, or StreamsError when unwritable.

    ``settings`` is unused: the document comes from the catalogue and the schemas alone.
    """
    document = asyncapi.document()
    text = asyncapi.rendered(document)
    output: Path | None = args.output
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StreamsError(f"cannot write {output}: {exc.strerror or exc}") from exc
    print(
        f"wrote {output}: {len(document['channels'])} channels, "
        f"{len(document['operations'])} operations"
    )
    return 0
