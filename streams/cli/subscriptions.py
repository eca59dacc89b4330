"""``iotrack subscriptions run``: the delivery worker of webhooks (streams are served by
``iotrack api``), with its ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import argparse
import logging

from streams.cli.options import Commands, add_command
from streams.local import runtime
from streams.ops.duties import Duty
from streams.ops.settings import Settings
from streams.ops.signals import stop_on_signals


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.http.ops import serve_ops
    from streams.ops import running
    from streams.subscriptions.destinations import Destinations
    from streams.subscriptions.webhooks import RetryPolicy
    from streams.subscriptions.worker import DeliveryWorker
    from topics.codec import codec_for
    from topics.parties import SUBSCRIPTIONS

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    found = runtime.endpoints(settings)
    policy = RetryPolicy(
        base_s=args.retry_base, max_s=args.retry_max, suspend_after_s=args.suspend_after
    )
    worker = DeliveryWorker(
        found.kafka(SUBSCRIPTIONS),
        found.database(Duty.SUBSCRIPTIONS).reveal(),
        codec_for(settings.schema_registry_url),
        policy,
        Destinations(settings.webhook_allowed_networks),
        retain_s=args.retain_days * 86400.0,
    )
    stop = stop_on_signals()
    stop_serving = None
    try:
        if args.port:
            stop_serving = serve_ops(
                worker.readiness(),
                args.port,
                title="iotrack delivery worker",
                description="Webhook deliveries of subscriptions: health, readiness, metrics.",
                register=running.register(settings.home, "subscriptions"),
            )
        print(
            f"iotrack subscriptions: delivering from {found.bootstrap}; /ready and /metrics on "
            f"127.0.0.1:{args.port or '-'}; retries {policy.base_s:g}-{policy.max_s:g} s, "
            f"suspended after {policy.suspend_after_s:g} s failing; delivered notifications "
            f"and delivery logs kept {args.retain_days:g} days",
            flush=True,
        )
        worker.run(stop)
    finally:
        if stop_serving is not None:
            stop_serving()
        worker.close()
    return 0


def register(commands: Commands) -> None:
    """Add ``subscriptions`` (``run``)."""
    group = add_command(commands, "subscriptions", "deliver subscriptions (webhooks)")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="queue matching events for each subscription and deliver its webhooks",
    )
    run.add_argument(
        "--port", type=int, default=9310, help="/health, /ready, /metrics (default 9310; 0: off)"
    )
    run.add_argument(
        "--retry-base", type=float, default=0.5, help="first retry pause in s (default 0.5)"
    )
    run.add_argument(
        "--retry-max", type=float, default=60.0, help="longest retry pause in s (default 60)"
    )
    run.add_argument(
        "--suspend-after",
        type=float,
        default=3600.0,
        help="suspend a subscription failing for this many s (default 3600)",
    )
    run.add_argument(
        "--retain-days",
        type=_positive_days,
        default=7.0,
        help="keep delivered (or only streamed) notifications and delivery logs this long "
        "(default 7; a webhook's undelivered ones are kept until delivered)",
    )
    run.set_defaults(handler=_run)


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 < days <= 3650:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of days above 0")
    return days
