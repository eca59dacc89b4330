"""``iotrack demo``: the demonstration on the embedded default (see ``streams.demo``)."""

from __future__ import annotations

import argparse

from streams.demo import port_day as demo_module
from streams.ops.settings import Settings


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    port = args.metrics_port if args.metrics_port is not None else (9300 if args.serve else 0)
    return demo_module.run(
        settings,
        as_json=args.json,
        keep_running=args.keep_running,
        serve=args.serve,
        metrics_port=port,
        api_port=args.api_port,
    )


def _demo_serving_options(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--serve",
        action="store_true",
        help="after the summary, keep the workers, /metrics and the query API with its web "
        "console (/console) running until SIGINT/SIGTERM",
    )
    demo.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on 127.0.0.1:PORT (default: 9300 with --serve, else off; 0: off)",
    )
    demo.add_argument(
        "--api-port",
        type=int,
        default=8080,
        metavar="PORT",
        help="with --serve: the query API and its web console on 127.0.0.1:PORT (default 8080)",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to ``commands``."""
    help_text = "bring the system up and run the demonstration"
    demo = commands.add_parser("demo", help=help_text, description=help_text)
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the local broker and database running afterwards",
    )
    _demo_serving_options(demo)
    demo.set_defaults(handler=_demo)
