"""``iotrack reader run``, ``iotrack fuse`` and ``iotrack simulate``: the edge from the shell."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from readers.adapters import PARSERS, ReadPoint
from readers.forwarder import Forwarder
from readers.fusion_worker import FusionWorker
from readers.service import ReaderService, reader_party, replay_file, spool_path
from readers.simulator import Faults, Simulator
from readers.spool import Spool
from streams.cli.inputs import open_binary
from streams.cli.options import serve_ops_of, worker_options
from streams.errors import InputFileError
from streams.local import runtime
from streams.ops.settings import Settings
from streams.ops.signals import stop_on_signals
from topics.clients import edge_producer
from topics.codec import codec_for
from topics.parties import FUSION


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:8081")
    return host or "127.0.0.1", int(port)


def reader_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one reader: HTTP (``--listen``) or a capture (``--input FILE`` or ``-``), signed in
    to Kafka as its reader party (``--party``, else its read point in lower case)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    found = runtime.endpoints(settings)
    party = reader_party(args.read_point, args.party)
    point = ReadPoint(args.read_point, args.node)
    path = Path(args.spool) if args.spool else spool_path(settings.home, args.kind, args.read_point)
    spool = Spool(path)
    service = ReaderService(args.kind, point, spool, codec_for(settings.schema_registry_url))
    forwarder = Forwarder(spool, lambda **extra: edge_producer(found.kafka(party), **extra))
    if args.metrics_port:
        from streams.ops import metrics

        metrics.EDGE.readers.append(service)
        metrics.serve(args.metrics_port)
    if args.input is not None:
        with open_binary(args.input) as source:
            accepted, rejected = replay_file(service, source)
        print(
            f"{service.reader_id}: {accepted} payloads spooled, {rejected} dead-lettered; "
            f"forwarding {len(spool)} records to {found.bootstrap}"
        )
        drained = forwarder.drain(args.drain_timeout)
        forwarder.stop()
        if not drained:
            print(
                f"{len(spool)} records remain in {path}: the broker did not take them within "
                f"{args.drain_timeout:.0f} s; they are sent on the next start",
                file=sys.stderr,
            )
            return 1
        print(f"all delivered ({forwarder.delivered} records)")
        return 0
    host, port = args.listen
    print(
        f"{service.reader_id} (node {args.node}) listening on http://{host}:{port}/payloads; "
        f"spool {path}",
        flush=True,
    )
    from streams.http.ingest import readiness, serve  # the web framework only if it listens
    from streams.ops import running

    stop = stop_on_signals()
    server_thread = threading.Thread(
        target=serve,
        args=(service, forwarder, host, port),
        kwargs={
            "ready": readiness(service, forwarder, args.ready_spool_age),
            "register": running.register(settings.home, f"reader {service.reader_id}"),
        },
        daemon=True,
    )
    server_thread.start()
    stop.wait()
    return 0


def _reader_spool(settings: Settings, args: argparse.Namespace) -> Spool:
    path = Path(args.spool) if args.spool else spool_path(settings.home, args.kind, args.read_point)
    if not path.exists():
        raise InputFileError(f"{path}: no spool there (is --kind/--read-point or --spool right?)")
    return Spool(path)


def quarantine(settings: Settings, args: argparse.Namespace) -> int:
    """``iotrack reader quarantine list|show``: the records the broker refused for good."""
    import base64
    import hashlib
    import json

    from streams.cli.tables import print_table
    from topics.errors import DecodeError

    spool = _reader_spool(settings, args)
    try:
        found = spool.quarantined(None if args.action_q == "list" else args.seq)
    finally:
        spool.close()
    if args.action_q == "show" and not found:
        raise InputFileError(f"{spool.path}: no quarantined record {args.seq}")

    def described(record: Any) -> dict[str, Any]:
        value = record.value or b""
        return {
            "seq": record.seq,
            "topic": record.topic,
            "reason": record.reason,
            "size": len(value),
            "sha256": hashlib.sha256(value).hexdigest(),
            "spooled_at": record.spooled_at,
            "quarantined_at": record.quarantined_at,
        }

    if args.action_q == "list":
        if args.json:
            print(json.dumps([described(r) for r in found]))
        elif not found:
            print(f"{spool.path}: nothing quarantined")
        else:
            print_table(
                [
                    ["seq", "topic", "bytes", "reason"],
                    *([str(r.seq), r.topic, str(len(r.value or b"")), r.reason] for r in found),
                ]
            )
        return 0
    [record] = found
    document = described(record)
    document["key"] = (record.key or b"").decode("utf-8", "backslashreplace")
    try:
        decoded = codec_for(settings.schema_registry_url).decode(
            record.value or b"", topic=record.topic
        )
        from topics.codec import plain

        document["record_type"] = decoded.schema
        document["record"] = {
            k: (base64.b64encode(v).decode() if isinstance(v, bytes) else v)
            for k, v in plain(decoded.value).items()
        }
    except DecodeError as exc:
        document["record_type"] = None
        document["not_decoded"] = str(exc)
        document["value_head_hex"] = (record.value or b"")[:256].hex()
    print(json.dumps(document, indent=None if args.json else 2, default=str))
    return 0


def fuse(settings: Settings, args: argparse.Namespace) -> int:
    """Run the fusion worker until interrupted (or idle, with ``--exit-when-idle``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    found = runtime.endpoints(settings)
    from readers.fusion_worker import GROUP
    from streams.ops import metrics
    from streams.workers import ready

    connection = found.kafka(FUSION)
    worker = FusionWorker(
        connection,
        codec_for(settings.schema_registry_url),
        statistics=metrics.lag_from_statistics(connection.own(GROUP)),
    )
    metrics.EDGE.fusions.append(worker)
    stop_serving = serve_ops_of(settings, args, ready.fusion(worker))
    stop = stop_on_signals()
    try:
        stats = worker.run(stop, exit_when_idle_s=args.exit_when_idle)
    finally:
        stop_serving()
    print(
        f"fusion: {stats.reads} reads -> {stats.passages} passages, "
        f"{stats.dead_letters} dead letters, repairs {stats.repairs}"
    )
    return 0


def simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Write a scenario's device payloads as capture files, one per reader."""
    simulator = Simulator(
        args.seed, Faults(ocr_error_rate=args.ocr_error_rate, garbage_rate=args.garbage_rate)
    )
    scenarios: dict[str, Any] = {
        "gate-hour": lambda: simulator.gate_hour(args.count or 240),
        "vessel": lambda: simulator.vessel_discharge(args.count or 300),
        "train": lambda: simulator.train(args.count or 15),
    }
    simulation = scenarios[args.scenario]()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for (kind, read_point, node), payloads in simulation.by_reader().items():
        path = out / f"{kind}__{read_point}__{node}.ndjson"
        path.write_bytes(b"".join(p.body.replace(b"\n", b" ") + b"\n" for p in payloads))
        party = reader_party(read_point)
        print(
            f"{path}  {len(payloads)} payloads  (iotrack parties add reader {party.name}; "
            f"iotrack reader run --kind {kind} --read-point {read_point} --node {node} "
            f"--input {path})"
        )
    return 0


def register(commands: Any) -> None:
    """Add ``reader``, ``fuse`` and ``simulate`` to the top-level sub-commands."""
    reader = commands.add_parser("reader", help="gate reader adapters (OCR, RFID, barcode)")
    actions = reader.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="accept device payloads and forward them to Kafka")
    run.add_argument("--kind", required=True, choices=sorted(PARSERS))
    run.add_argument("--read-point", required=True, help="read point id, e.g. PORT-GATE-1-L2-OCR")
    run.add_argument("--node", required=True, help="logistic node of the read point")
    run.add_argument(
        "--party",
        metavar="NAME",
        help="the reader party it signs in as (default: the read point, lower case), admitted "
        "with 'iotrack parties add reader NAME'",
    )
    source = run.add_mutually_exclusive_group()
    source.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8081),
        help="HTTP address (default 127.0.0.1:8081)",
    )
    source.add_argument("--input", help="capture file, one JSON payload per line ('-': stdin)")
    run.add_argument("--spool", help="spool file (default $IOTRACK_HOME/spool/KIND-POINT.sqlite)")
    run.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="with --input: seconds to wait for the broker (default 120)",
    )
    run.add_argument(
        "--metrics-port", type=int, default=0, help="serve /metrics on 127.0.0.1:PORT (default off)"
    )
    run.add_argument(
        "--ready-spool-age",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="/ready fails once the oldest spooled record waited longer (default 120)",
    )
    run.set_defaults(handler=reader_run)

    held = actions.add_parser(
        "quarantine", help="records the broker refused for good, moved aside from the spool"
    )
    held_actions = held.add_subparsers(dest="action_q", required=True, metavar="ACTION")
    for name, help_text in (
        ("list", "every quarantined record: seq, topic, size, reason"),
        ("show", "one quarantined record: its reason, key, size, SHA-256 and decoded value"),
    ):
        action = held_actions.add_parser(name, help=help_text, description=help_text)
        if name == "show":
            action.add_argument("seq", type=int, help="its sequence number (from 'list')")
        action.add_argument("--kind", required=True, choices=sorted(PARSERS))
        action.add_argument("--read-point", required=True, help="the reader's read point id")
        action.add_argument("--spool", help="spool file (default: the reader's own)")
        action.add_argument("--json", action="store_true", help="as JSON")
        action.set_defaults(handler=quarantine)

    fusion = commands.add_parser("fuse", help="fuse raw sensor reads into passages")
    worker_options(fusion, idle="reads (for replays)", ops=True)
    fusion.set_defaults(handler=fuse)

    sim = commands.add_parser("simulate", help="write simulated device payloads as captures")
    sim.add_argument("scenario", choices=["gate-hour", "vessel", "train"])
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--count", type=int, default=None, help="trucks / containers / wagons")
    sim.add_argument("--ocr-error-rate", type=float, default=0.02)
    sim.add_argument("--garbage-rate", type=float, default=0.005)
    sim.add_argument("--out", required=True, help="folder for the capture files")
    sim.set_defaults(handler=simulate)
