"""The ``iotrack`` command line: one module per command group, one table of exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from processors.errors import IotrackError
from streams.cli import (
    asyncapi,
    bind,
    demo,
    events,
    exits,
    parties,
    rail,
    read_side,
    readers,
    services,
    subscriptions,
    validate,
    workers,
)
from streams.ops.settings import load

COMMAND_GROUPS = (
    services,
    parties,
    readers,
    events,
    bind,
    workers,
    read_side,
    subscriptions,
    validate,
    asyncapi,
    rail,
    demo,
)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (and exit 2), naming the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(exits.BAD_INPUT, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per action."""
    top = OneLineParser(
        prog="iotrack",
        description="Track goods and transport units through a port on Kafka (IOT_ID model).",
    )
    commands = top.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    for group in COMMAND_GROUPS:
        group.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iotrack`` console script; the exit status as ``streams.cli.exits``
    decides it."""
    args = parser().parse_args(argv)
    try:
        settings = load()
        code: int = args.handler(settings, args)
    except IotrackError as exc:
        print(f"iotrack {args.command}: {exc}", file=sys.stderr)
        return exits.exit_code(exc)
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`iotrack topics list | head`); that is not a failure.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
