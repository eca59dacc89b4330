"""What the command groups share when they declare their commands."""

from __future__ import annotations

import argparse
from typing import TypeAlias

# A string: argparse's class is not subscriptable at run time.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(commands: Commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """A sub-command whose one-line help is also its description."""
    return commands.add_parser(name, help=help_text, description=help_text)


def worker_options(parser: argparse.ArgumentParser, *, idle: str, metrics_port: int = 0) -> None:
    """``--exit-when-idle`` (stop after that long without ``idle``) and ``--metrics-port``."""
    parser.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"stop after this long without {idle}",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=metrics_port,
        help=f"serve /metrics on 127.0.0.1:PORT (default {metrics_port or 'off'}; 0: off)",
    )
