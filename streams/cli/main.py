"""The ``iotrack`` command line: one module per command group, one table of exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streams.cli import (
    demo,
    events,
    rail,
    read_side,
    readers,
    services,
    subscriptions,
    validate,
    workers,
)
from streams.errors import StreamsError
from streams.ops.settings import load
from topics.errors import TopicsError

COMMAND_GROUPS = (
    services,
    readers,
    events,
    workers,
    read_side,
    subscriptions,
    validate,
    rail,
    demo,
)


def parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per action."""
    top = argparse.ArgumentParser(
        prog="iotrack",
        description="Track goods and transport units through a port on Kafka (IOT_ID model).",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iotrack`` console script; exit 1 on a failure, 2 on a usage error."""
    args = parser().parse_args(argv)
    try:
        settings = load()
        code: int = args.handler(settings, args)
    except (StreamsError, TopicsError) as exc:
        print(f"iotrack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`iotrack topics list | head`); that is not a failure.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
