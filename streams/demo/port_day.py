"""``iotrack demo``: a small port day on the embedded default, end to end.

Up, the day's parties admitted (its readers, the train operator and the rail portal: their
credentials and ACLs) with the topics, mission paths (``deploy/mission-paths.jsonl``), the
workers (passage fusion, the tracking core and the Postgres projection, each signed in as its own
service) in this process, then the simulators play the day, each party as itself,
through the real readers: Customs binds the containers of an arriving vessel (a few are missed),
the quay cranes' OCR reads them as they are discharged, agencies place holds and Customs
releases, trucks take them out through the gate (OCR and RFID portals), the GdF confirms the
exits, and the fast-corridor units arrive at the dry port. OCR errors and garbage payloads come
with the hardware. Each phase waits until the workers have taken the previous one, as the day's
clock would. Then a summary, read back from the output topics: passages per node, IOT_IDs by
status, deviations by kind with an example of each, dead letters, every unit's gate check,
timings. With ``serve`` the workers and ``/metrics`` keep running after the summary until SIGINT
or SIGTERM.
"""

from __future__ import annotations

import functools
import gc
import json
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from processors.identifiers import mrn as mrn_module
from processors.ids import deterministic_uuid7
from readers.adapters import ReadPoint
from readers.forwarder import Forwarder
from readers.fusion_worker import GROUP as FUSION_GROUP
from readers.fusion_worker import FusionWorker
from readers.service import ReaderService, reader_party
from readers.simulator import START, DevicePayload, Faults, Simulator
from readers.spool import Spool
from streams.demo import train as demo_rail
from streams.demo.dev_tokens import DEV_TOKENS_FILE, sign_in_hint
from streams.errors import StreamsError
from streams.kafka.reading import committed_up_to_end, read_committed
from streams.local import runtime
from streams.ops import metrics
from streams.ops.admission import admit
from streams.ops.duties import Duty
from streams.ops.settings import CHECKOUT, Settings
from streams.ops.signals import stopped_by_signals
from streams.replay.lines import EventLines
from streams.replay.publish import publish
from streams.workers.core import CoreWorker
from streams.workers.gate_state import GateState
from streams.workers.projection import Projection
from topics import catalog
from topics.clients import Connect, KafkaConnection, edge_producer
from topics.codec import Codec, codec_for, plain
from topics.parties import API, CORE, CUSTOMS, FUSION, PROJECTION

PATHS_FILE = CHECKOUT / "deploy" / "mission-paths.jsonl"
MINUTE = 60_000


class Progress:
    """One line per phase on stderr, so ``--json`` keeps stdout clean."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:6.1f} s] {text}", file=sys.stderr, flush=True)


def _ms(at: Any) -> int:
    return int(at.timestamp() * 1000)


class PortDay:
    """The day's events, built from a seed."""

    def __init__(self, seed: int, containers: int) -> None:
        self.random = random.Random(seed)  # noqa: S311 - a reproducible demo, not secrets
        self.simulator = Simulator(seed, Faults(ocr_error_rate=0.03, garbage_rate=0.02))
        self.discharge = self.simulator.vessel_discharge(containers, cranes=3)
        self.units = list(self.discharge.units)
        self.unbound = set(self.units[:3])  # Customs missed these: unknown units at the gate
        bound = [u for u in self.units if u not in self.unbound]
        self.corridor = set(bound[: len(bound) // 10])
        self.held = set(bound[len(bound) // 10 : len(bound) // 10 + 6])
        # Holds alternate Customs and phytosanitary (sorted order); Customs lifts its own, the
        # phytosanitary ones stay open, and the GdF stops those units at the gate.
        self.still_held = set(sorted(self.held)[1::2])
        self.unreleased = set(bound[-3:])
        self.iot: dict[str, str] = {}
        self.mrn: dict[str, str] = {}
        self._line = EventLines("demo", "demo").line

    def bindings(self) -> list[str]:
        at = _ms(START) - 60 * MINUTE
        lines = []
        for n, unit in enumerate(u for u in self.units if u not in self.unbound):
            body = f"26IT{self.random.randrange(10**12):012d}R"
            declaration = body + mrn_module.check_digit(body)
            request = f"DEMO-{unit}"
            self.mrn[unit] = declaration
            self.iot[unit] = deterministic_uuid7(at + n, "iot", request)
            path = "CORRIDOR-DRYPORT" if unit in self.corridor else "IMPORT-ROAD"
            lines.append(
                self._line(
                    "BindingRequested",
                    at + n,
                    request_id=request,
                    mrns=[declaration],
                    mission_path_id=path,
                    itus=[{"kind": "CONTAINER", "value": unit}],
                    requested_by="officer.rossi",
                )
            )
        return lines

    def clearance(self) -> list[str]:
        at = _ms(START) + 5 * 60 * MINUTE
        lines = []
        for n, unit in enumerate(sorted(self.held)):
            agency = "PHYTOSANITARY" if n % 2 else "CUSTOMS"
            lines.append(
                self._line(
                    "HoldPlaced",
                    at + n,
                    iot_id=self.iot[unit],
                    hold_id=f"H-{n}",
                    agency=agency,
                    hold_type="PHYSICAL_INSPECTION",
                    reason_code="RISK-7",
                    reason="risk profile match",
                    placed_by=f"{agency.lower()}.duty",
                )
            )
        for n, unit in enumerate(sorted(self.iot)):
            if unit not in self.unreleased and unit not in self.corridor:
                lines.append(
                    self._line(
                        "CustomsRelease",
                        at + 100 + n,
                        iot_id=self.iot[unit],
                        mrn=self.mrn[unit],
                        released_by="officer.rossi",
                    )
                )
        for n, unit in enumerate(sorted(self.held)):
            if unit in self.still_held:
                continue
            lines.append(
                self._line(
                    "HoldLifted",
                    at + 1000 + n,
                    iot_id=self.iot[unit],
                    hold_id=f"H-{n}",
                    agency="CUSTOMS",
                    hold_type="PHYSICAL_INSPECTION",
                    lifted_by="customs.duty",
                    outcome="nothing found",
                )
            )
        return lines

    def trucks(self) -> list[DevicePayload]:
        """Every unit leaves by road through the four gate lanes, held or not."""
        payloads = []
        for n, unit in enumerate(self.units):
            at = START + timedelta(hours=8, seconds=40 * n)
            payloads += self.simulator.truck_at_gate(at, n % 4 + 1, "OUT", "PORT-GATE-1", [unit])
        return payloads

    def exits(self) -> list[str]:
        """The GdF confirms the exit of the bound units that went through the gate, except the
        fast-corridor ones (they travel on under Customs control) and those still held (the GdF
        patrol stops them at the gate)."""
        lines = []
        for n, unit in enumerate(self.units):
            if unit in self.iot and unit not in self.corridor and unit not in self.still_held:
                at = _ms(START + timedelta(hours=8, seconds=40 * n)) + 30_000
                lines.append(
                    self._line(
                        "ExitConfirmed",
                        at,
                        iot_id=self.iot[unit],
                        mode="ROAD",
                        gate_node_id="PORT-GATE-1",
                        confirmed_by="gdf.bianchi",
                    )
                )
        return lines

    def read_points(self) -> list[str]:
        """Every read point whose reader the day uses: the quay cranes' OCR, the gate's four
        lane portals (``trucks``) and the dry port's first lane (``dry_port``)."""
        cranes = sorted({p.read_point for p in self.discharge.payloads})
        return [*cranes, *(f"PORT-GATE-1-L{lane}" for lane in range(1, 5)), "DRY-PORT-1-L1"]

    def dry_port(self) -> list[DevicePayload]:
        payloads = []
        for n, unit in enumerate(sorted(self.corridor)):
            at = START + timedelta(hours=10, minutes=2 * n)
            payloads += self.simulator.truck_at_gate(at, 1, "IN", "DRY-PORT-1", [unit])
        return payloads


def _wait(what: str, ready: Callable[[], bool], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise StreamsError(f"the workers did not finish {what} within {timeout_s:.0f} s")
        time.sleep(0.3)


class Readers:
    """The gate and quay readers of the day, in this process, each with its own spool."""

    def __init__(self, home: Path, connect: Connect, codec: Codec) -> None:
        """``connect``: each reader signs in as its own reader party."""
        self.home, self.connect, self.codec = home, connect, codec
        self.readers: dict[tuple[str, str], tuple[ReaderService, Forwarder]] = {}
        self.accepted = self.rejected = 0

    def feed(self, payloads: Sequence[DevicePayload]) -> None:
        for payload in sorted(payloads, key=lambda p: p.at):
            key = (payload.kind, payload.read_point)
            if key not in self.readers:
                spool = Spool(self.home / f"{payload.kind}-{payload.read_point}.sqlite")
                connection = self.connect(reader_party(payload.read_point))
                forwarder = Forwarder(spool, functools.partial(edge_producer, connection))
                forwarder.start()
                service = ReaderService(
                    payload.kind, ReadPoint(payload.read_point, payload.node), spool, self.codec
                )
                self.readers[key] = (service, forwarder)
                metrics.EDGE.readers.append(service)
            service, _ = self.readers[key]
            [outcome] = service.accept([payload.body])
            if outcome.error is None:
                self.accepted += 1
            else:
                self.rejected += 1
            # A real portal reads a truck every few seconds; here the day runs faster, so each
            # payload is let through before the next arrives to keep sensors in time order.
            while len(service.spool):
                time.sleep(0.001)

    def stop(self) -> None:
        for service, forwarder in self.readers.values():
            forwarder.stop()
            service.spool.close()


def _read_outputs(
    connection: KafkaConnection, codec: Codec, topics: Sequence[catalog.Topic]
) -> dict[str, list[dict[str, Any]]]:
    return {
        topic.name: [
            plain(codec.decode(message.value() or b"", topic=topic.name).value)
            for message in read_committed(connection, topic)
            if message.value() is not None
        ]
        for topic in topics
    }


def _distinct(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per event id (a rerun of the demo on the same home republishes nothing new,
    but the topics still hold the first run's records)."""
    return list({r["event_id"]: r for r in records}.values())


def summarise(
    connect: Connect, codec: Codec, day: PortDay, since_ms: int, letters_since_ms: int
) -> dict[str, Any]:
    """The day's summary, from what the workers published, read as a Customs officer would
    (the gate checks as the API's service does)."""
    customs = connect(CUSTOMS)
    outputs = _read_outputs(
        customs,
        codec,
        [catalog.PASSAGES, catalog.IOT_STATE, catalog.DEVIATIONS, catalog.DEAD_LETTERS],
    )
    ours = set(day.iot.values())
    passages = _distinct(
        [p for p in outputs[catalog.PASSAGES.name] if p["occurred_at"] >= since_ms]
    )
    latest: dict[str, dict[str, Any]] = {}
    for state in outputs[catalog.IOT_STATE.name]:
        if state["iot_id"] in ours:
            latest[state["iot_id"]] = state
    deviations = _distinct(
        [d for d in outputs[catalog.DEVIATIONS.name] if d["occurred_at"] >= since_ms]
    )
    examples: dict[str, str] = {}
    for d in deviations:
        examples.setdefault(d["kind"], f"{d['expected']} / {d['observed']}")
    letters = [
        d for d in outputs[catalog.DEAD_LETTERS.name] if d["occurred_at"] >= letters_since_ms
    ]
    return {
        "passages": len(passages),
        "passages_by_node": dict(sorted(Counter(p["node_id"] for p in passages).items())),
        "iot_ids": dict(sorted(Counter(s["status"] for s in latest.values()).items())),
        "deviations": dict(sorted(Counter(d["kind"] for d in deviations).items())),
        "deviation_examples": dict(sorted(examples.items())),
        "dead_letters": len(letters),
        "dead_letter_reasons": dict(Counter(d["reason"].split(":")[0] for d in letters)),
        "train": demo_rail.summary(customs, codec),
        "gate_checks": _gate_checks(connect(API), codec, day),
        "ocr_repairs": dict(
            sorted(
                Counter(
                    e["repair"]
                    for p in passages
                    for e in p["evidence"]
                    if e["repair"] and e["itu_kind"] == "CONTAINER"
                ).items()
            )
        ),
    }


def _play(
    found: runtime.Endpoints,
    codec: Codec,
    readers: Readers,
    progress: Progress,
    day: PortDay,
    *,
    groups: tuple[str, str],
) -> None:
    """The port day, phase by phase, each waiting for the workers to take the last (their
    groups' progress, ``(core, fusion)``, looked at by the administrator)."""
    connect, watcher = found.kafka, found.kafka_admin()
    core_group, fusion_group = groups
    core_inputs = [
        *catalog.CORE_INPUTS,
        *(
            topic
            for party in demo_rail.PARTIES
            for topic in catalog.topics_of(party)
            if party in topic.writers
        ),
    ]

    def core_done() -> bool:
        return committed_up_to_end(watcher, core_group, core_inputs)

    def fused_and_tracked() -> bool:
        return committed_up_to_end(watcher, fusion_group, [catalog.RAW_READS]) and (core_done())

    with PATHS_FILE.open(encoding="utf-8") as paths:
        publish(connect, codec, paths)
    # The core reads its input topics side by side, with no order between them: bindings
    # published before it has taken the paths would be refused for an unknown mission path.
    _wait("the mission paths", core_done)
    bindings = day.bindings()
    publish(connect, codec, bindings)
    progress.say(f"Customs bound {len(bindings)} of {len(day.units)} containers on the vessel")
    _wait("the bindings", core_done)
    readers.feed(day.discharge.payloads)
    progress.say(f"vessel discharged: {len(day.discharge.payloads)} quay crane OCR payloads")
    _wait("the discharge", fused_and_tracked)
    clearance = day.clearance()
    publish(connect, codec, clearance)
    progress.say(f"holds, releases and lifts: {len(clearance)} agency decisions")
    _wait("the clearance decisions", core_done)
    trucks = day.trucks()
    readers.feed(trucks)
    progress.say(f"trucks out through PORT-GATE-1: {len(trucks)} OCR/RFID payloads")
    _wait("the gate passages", fused_and_tracked)
    exits = day.exits()
    publish(connect, codec, exits)
    progress.say(f"GdF confirmed {len(exits)} exits")
    _wait("the exits", core_done)
    arrivals = day.dry_port()
    readers.feed(arrivals)
    progress.say(f"fast corridor: {len(day.corridor)} units arrive at DRY-PORT-1")
    _wait("the dry-port arrivals", fused_and_tracked)

    def send(lines: list[str], what: str) -> None:
        publish(connect, codec, lines)
        _wait(what, core_done)

    demo_rail.play(demo_rail.RailDay(day.simulator), send, progress.say)


def _gate_checks(connection: KafkaConnection, codec: Codec, day: PortDay) -> dict[str, int]:
    """Every unit of the vessel asked at the gate, "may it leave now?", answered from memory."""
    gate = GateState(connection, codec)
    try:
        gate.start()
        verdicts = Counter(gate.check(f"CONTAINER:{unit}").verdict for unit in day.units)
    finally:
        gate.stop()
    return dict(sorted(verdicts.items()))


def _hold(
    summary: dict[str, Any],
    as_json: bool,
    progress: Progress,
    metrics_port: int,
    console: str | None = None,
) -> None:
    """Print the summary, then keep the workers (and /metrics, the API and its console)
    running until SIGINT or SIGTERM."""
    _print(summary, as_json)
    where = f"/metrics on http://127.0.0.1:{metrics_port}/metrics, " if metrics_port else ""
    if console is not None:
        where += f"the web console on {console}, "
    print(
        f"serving: workers running, {where}until interrupted (Ctrl-C)", file=sys.stderr, flush=True
    )
    if console is not None:
        # On stdout too (after --json's document): the address is what a person looks for.
        print(
            f"console: {console} (sign in with a public development token: {sign_in_hint()})",
            flush=True,
        )
    with stopped_by_signals() as interrupted:
        while not interrupted.wait(0.5):
            pass
    progress.say("interrupted: stopping the workers")


def _serve_api(
    settings: Settings, found: runtime.Endpoints, codec: Codec, port: int, metrics_port: int
) -> tuple[str, Callable[[], None]]:
    """The query API with its web console on 127.0.0.1:``port`` (the demo's own, on its
    database): its address, and what stops it."""
    from dataclasses import replace

    from streams.http.api import Api, console_of, make_server
    from streams.http.queries import Queries
    from streams.http.tokens_file import load_credentials

    if metrics_port:
        settings = replace(settings, core_metrics_url=f"http://127.0.0.1:{metrics_port}/metrics")
    gate = GateState(found.kafka(API), codec)
    gate.start()
    queries = Queries(found.database(Duty.API).reveal())
    stopping = threading.Event()
    try:
        api = Api(load_credentials(DEV_TOKENS_FILE), queries, gate)
        server = make_server(
            api,
            "127.0.0.1",
            port,
            extra=(console_of(settings, api, found.kafka(API), stopping),),
            stopping=stopping,
        )
    except BaseException:  # a port in use, a bad tokens file: say so, having stopped these
        gate.stop()
        queries.close()
        raise
    serving = threading.Thread(target=server.serve_forever, name="demo-api", daemon=True)
    serving.start()
    host, bound = server.server_address[:2]

    def stop() -> None:
        stopping.set()
        server.shutdown()
        serving.join(10)
        server.server_close()
        gate.stop()
        queries.close()

    return f"http://{host}:{bound}/console", stop


def run(  # noqa: PLR0915 - one story, start to stop, reads best in one place
    settings: Settings,
    *,
    as_json: bool,
    keep_running: bool,
    containers: int = 120,
    seed: int = 7,
    serve: bool = False,
    metrics_port: int = 0,
    api_port: int = 8080,
) -> int:
    """The whole demo; stops what it started unless ``keep_running``. With ``serve``, the
    workers (and /metrics on ``metrics_port``, 0: none), and the query API with its web
    console on ``api_port``, keep running after the summary until SIGINT or SIGTERM."""
    progress = Progress(quiet=as_json)
    timings: dict[str, float] = {}
    mark = time.monotonic()
    kafka_was_up = settings.embedded_kafka and runtime.local_kafka(settings).running()
    postgres_was_up = settings.embedded_postgres and runtime.local_postgres(settings).running()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    readers: Readers | None = None
    workers: list[FusionWorker | CoreWorker | Projection] = []
    stop_api: Callable[[], None] | None = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM, like Ctrl-C, stops what the demo started (KeyboardInterrupt: exit 130).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        metrics.serve(metrics_port)
        progress.say("starting the local broker and database (iotrack up)")
        found = runtime.up(settings)
        day = PortDay(seed, containers)
        admit(found, [*demo_rail.PARTIES, *(reader_party(p) for p in day.read_points())])
        timings["up_s"] = round(time.monotonic() - mark, 1)
        codec = codec_for(settings.schema_registry_url)
        day_started = int(time.time() * 1000)  # this run's dead letters carry wall time
        fusion_connection = found.kafka(FUSION)
        fusion = FusionWorker(
            fusion_connection,
            codec,
            idle_flush_s=1.0,
            statistics=metrics.lag_from_statistics(fusion_connection.own(FUSION_GROUP)),
        )
        core = CoreWorker(found.kafka(CORE), codec)
        workers.extend(
            [
                fusion,
                core,
                Projection(
                    found.kafka(PROJECTION), found.database(Duty.PROJECTION).reveal(), codec
                ),
            ]
        )
        metrics.EDGE.fusions.extend(w for w in workers if isinstance(w, FusionWorker))
        threads.extend(threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers)
        for thread in threads:
            thread.start()
        readers = Readers(settings.home / "demo-spools" / uuid.uuid4().hex[:8], found.kafka, codec)
        mark = time.monotonic()
        _play(found, codec, readers, progress, day, groups=(core.group, fusion.group))
        # So that `iotrack api` answers for this day's units once the demo is over.
        projected = [w for w in workers if isinstance(w, Projection)]
        _wait("the projection", lambda: all(p.caught_up(for_s=1.5) for p in projected))
        timings["port_day_s"] = round(time.monotonic() - mark, 1)
        mark = time.monotonic()
        summary = summarise(found.kafka, codec, day, _ms(START) - 120 * MINUTE, day_started)
        timings["summary_s"] = round(time.monotonic() - mark, 1)
        summary["reader_payloads"] = {"accepted": readers.accepted, "rejected": readers.rejected}
        summary["timings"] = timings
        summary["left_running"] = keep_running
        summary["serving"] = serve
        example = sorted(day.still_held)[0]
        summary["try_the_api"] = {"iot_id": day.iot[example], "container": example}
        if serve:
            console, stop_api = _serve_api(settings, found, codec, api_port, metrics_port)
            _hold(summary, as_json, progress, metrics_port, console)
    finally:
        if stop_api is not None:
            stop_api()
        stop.set()
        for thread in threads:
            thread.join(30)
        if readers is not None:
            readers.stop()
        # Drop every client before the broker goes, or librdkafka reports its reconnects.
        metrics.EDGE.clear()
        readers = None
        workers.clear()
        gc.collect()
        if not keep_running:
            if settings.embedded_kafka and not kafka_was_up:
                runtime.local_kafka(settings).stop()
            if settings.embedded_postgres and not postgres_was_up:
                runtime.local_postgres(settings).stop()
    if not serve:  # served: printed before holding
        _print(summary, as_json)
    return 0


def _print(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2), flush=True)
    else:
        _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    print(
        f"passages: {summary['passages']}   "
        + "  ".join(f"{node} {n}" for node, n in summary["passages_by_node"].items())
    )
    print("IOT_IDs by status: " + "  ".join(f"{k} {v}" for k, v in summary["iot_ids"].items()))
    print("deviations:")
    for kind, count in summary["deviations"].items():
        print(f"  {kind:<22} {count:>4}   e.g. {summary['deviation_examples'][kind]}")
    print(f"dead letters: {summary['dead_letters']}   {summary['dead_letter_reasons']}")
    print(f"OCR container reads: {summary['ocr_repairs']}")
    print(demo_rail.describe(summary["train"]))
    print(f"gate checks: {summary['gate_checks']}")
    print(f"timings: {summary['timings']}")
    if summary["left_running"]:
        api = summary["try_the_api"]
        print(
            f"try the API: IOTRACK_API_TOKENS_FILE={DEV_TOKENS_FILE} iotrack api, then GET "
            f"/iot/{api['iot_id']}/timeline or /gate-check?container={api['container']} with "
            f"a public development token: {sign_in_hint()}"
        )
    if summary.get("serving"):
        print(
            "serving until interrupted (Ctrl-C), then "
            + ("the broker and database stay up" if summary["left_running"] else "all stops"),
            flush=True,
        )
        return
    print(
        "left running: iotrack status, iotrack down"
        if summary["left_running"]
        else "everything the demo started is stopped again",
        flush=True,
    )
