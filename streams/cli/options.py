"""What the command groups share when they declare their commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from streams.ops.readiness import Readiness
    from streams.ops.settings import Settings

# A string: argparse's class is not subscriptable at run time.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(commands: Commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """A sub-command whose one-line help is also its description."""
    return commands.add_parser(name, help=help_text, description=help_text)


def worker_options(
    parser: argparse.ArgumentParser, *, idle: str, metrics_port: int = 0, ops: bool = False
) -> None:
    """``--exit-when-idle`` (stop after that long without ``idle``) and ``--metrics-port``; with
    ``ops``, the port serves /health, /ready and /metrics, on a free port by default."""
    parser.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"stop after this long without {idle}",
    )
    if ops:
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=metrics_port or None,
            help="serve /health, /ready and /metrics on 127.0.0.1:PORT (default: "
            f"{metrics_port or 'a free port'}, which 'iotrack status' finds; 0: none)",
        )
        return
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=metrics_port,
        help=f"serve /metrics on 127.0.0.1:PORT (default {metrics_port or 'off'}; 0: off)",
    )


def serve_ops_of(
    settings: Settings, args: argparse.Namespace, readiness: Readiness
) -> Callable[[], None]:
    """Serve a worker's /health, /ready and /metrics on ``--metrics-port`` (a free port when
    not given; 0: none), listed for ``iotrack status``; returns how to stop serving."""
    if args.metrics_port == 0:
        return lambda: None
    from streams.http.ops import serve_ops
    from streams.ops import running

    return serve_ops(
        readiness,
        args.metrics_port or 0,
        title=f"iotrack {readiness.process}",
        register=running.register(settings.home, readiness.process),
    )
