"""``iotrack run``: the stream workers, passage fusion and the tracking core, until stopped."""

from __future__ import annotations

import argparse

from streams.cli.options import add_command, serve_ops_of, worker_options
from streams.local import runtime
from streams.ops.settings import Settings
from streams.ops.signals import stop_on_signals


def _run(settings: Settings, args: argparse.Namespace) -> int:
    import logging
    import threading

    from readers import fusion_worker
    from streams.ops import metrics
    from streams.workers import ready
    from streams.workers.core import CoreWorker
    from topics.codec import codec_for
    from topics.parties import CORE, FUSION

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    found = runtime.endpoints(settings)
    stop = stop_on_signals()
    idle = args.exit_when_idle
    threads = []
    fusion = None
    if not args.no_fusion:
        connection = found.kafka(FUSION)
        fusion = fusion_worker.FusionWorker(
            connection,
            codec_for(settings.schema_registry_url),
            statistics=metrics.lag_from_statistics(connection.own(fusion_worker.GROUP)),
        )
        metrics.EDGE.fusions.append(fusion)
        thread = threading.Thread(
            target=fusion.run, args=(stop,), kwargs={"exit_when_idle_s": idle}, daemon=True
        )
        thread.start()
        threads.append(thread)
    from processors.core import DAY_MS, CoreConfig

    retire_ms = int(settings.retire_after_days * DAY_MS)
    core = CoreWorker(
        found.kafka(CORE),
        codec_for(settings.schema_registry_url),
        config=CoreConfig(retire_after_ms=retire_ms),
    )
    stop_serving = serve_ops_of(settings, args, ready.core(core, fusion))
    print(
        f"workers running against {found.bootstrap}: tracking core"
        f"{'' if args.no_fusion else ', passage fusion'}",
        flush=True,
    )
    try:
        stats = core.run(stop, exit_when_idle_s=idle)
    finally:
        stop_serving()
    stop.set()
    for thread in threads:
        thread.join(30)
    print(
        f"core: {stats.inputs} inputs -> {stats.outputs} outputs in {stats.batches} "
        f"transactions, {stats.dead_letters} dead letters"
    )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to ``commands``."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return add_command(commands, name, help_text)

    run_parser = command("run", "run the workers: tracking core and passage fusion")
    run_parser.add_argument("--no-fusion", action="store_true", help="the tracking core only")
    worker_options(run_parser, idle="input (for replays and tests)", metrics_port=9300, ops=True)
    run_parser.set_defaults(handler=_run)
