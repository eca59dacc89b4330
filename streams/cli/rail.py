"""``iotrack rail ...``: a train operator's commands, from loading list to the exit portal.

Each command reads the operator's file (formats in ``readers.rail_files`` and the README),
publishes one event on the party's own topic, signed in as that party (``rail-operator.NAME``
for loading lists and manifests, the portal for a consist, the GdF for exits), and waits for the
tracking core's answer on the party's replies: the answered loading list, the permission
decision, or the consist check, matched by the id of the event it answers
(:mod:`streams.kafka.rail`). A refusal (a stale manifest version, a train of another operator)
comes back as a dead letter holding our bytes, and is printed as the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from processors.parties import GDF, PartyKind, Sender
from readers.rail_files import (
    RailFileError,
    check_claims,
    loading_list_items,
    manifest_wagons,
    portal_wagons,
)
from streams.cli.inputs import read_text
from streams.cli.tables import table
from streams.errors import InputFileError
from streams.kafka.rail import (
    Conversation,
    RailCommandError,
    latest_status,
    loading_list_request,
    new_event,
    no_answer,
    submit_manifest,
)
from streams.kafka.sending import produce_sync
from streams.ops.settings import Settings
from topics import catalog
from topics.clients import Connect, producer
from topics.codec import Codec

__all__ = ["Conversation", "RailCommandError", "consist", "loading_list", "manifest", "register"]

T = TypeVar("T")


def _parsed(path: str, parse: Callable[[str], T], sent_for: tuple[str, str] | None = None) -> T:
    """The file (``-``: standard input) read and parsed; its problems named with its path.
    ``sent_for``: the operator and train it is sent for, which it may not contradict."""
    text = read_text(path)
    try:
        parsed = parse(text)
        if sent_for is not None:
            check_claims(text, operator=sent_for[0], train_id=sent_for[1])
        return parsed
    except RailFileError as exc:
        raise RailCommandError(f"{path}: {exc}") from exc


def format_answer(answer: dict[str, Any]) -> str:
    """A loading list answer as a table, one row per unit."""
    rows = [["#", "unit", "mrn", "ready", "iot_id", "reasons"]]
    for n, item in enumerate(answer["items"], start=1):
        rows.append(
            [
                str(n),
                f"{item['itu']['kind']}:{item['itu']['value']}",
                item.get("mrn") or "-",
                "yes" if item["ready"] else "NO",
                item.get("iot_id") or "-",
                "; ".join(item["reasons"]) or "-",
            ]
        )
    ready = sum(1 for item in answer["items"] if item["ready"])
    return (
        f"train {answer['train_id']}: {ready} of {len(answer['items'])} units Customs-ready\n"
        + table(rows)
    )


def _answer_json(answer: dict[str, Any]) -> str:
    return json.dumps(
        {
            "train_id": answer["train_id"],
            "ready": sum(1 for i in answer["items"] if i["ready"]),
            "units": len(answer["items"]),
            "items": [
                {
                    "kind": i["itu"]["kind"],
                    "unit": i["itu"]["value"],
                    "mrn": i.get("mrn"),
                    "ready": i["ready"],
                    "iot_id": i.get("iot_id"),
                    "reasons": i["reasons"],
                }
                for i in answer["items"]
            ],
        }
    )


def loading_list(
    connect: Connect,
    codec: Codec,
    path: str,
    *,
    train_id: str,
    operator: str,
    as_json: bool,
    follow: bool,
    timeout_s: float = 30.0,
) -> int:
    """Submit a loading list and print the answer; 0 when every unit is ready, else 1."""
    items = _parsed(path, loading_list_items, (operator, train_id))
    value = loading_list_request(items, train_id=train_id, operator=operator)
    party = Sender.rail_operator(operator)
    with Conversation(connect(party), codec, party) as talk:
        answer = talk.ask(
            "iotrack.TrainLoadingList",
            value,
            "iotrack.TrainLoadingList",
            lambda v: v["caused_by_event_id"] == value["event_id"],
            timeout_s,
        )
        while True:
            print(_answer_json(answer) if as_json else format_answer(answer), flush=True)
            if not follow:
                break
            # Watch on: a hold lifted or a release turns units ready; each change is answered.
            later = None
            while later is None:
                later = talk.next(
                    "iotrack.TrainLoadingList", lambda v: v["train_id"] == train_id, 3600.0
                )
            answer = later
            if not as_json:
                print(f"-- status changed ({time.strftime('%H:%M:%S')})", flush=True)
    return 0 if all(i["ready"] for i in answer["items"]) else 1


def manifest(
    connect: Connect,
    codec: Codec,
    path: str,
    *,
    train_id: str,
    operator: str,
    version: int | None,
    as_json: bool,
    timeout_s: float = 30.0,
) -> int:
    """Submit a manifest version and print the permission decision; 0 when granted, else 1."""
    wagons = _parsed(path, manifest_wagons, (operator, train_id))
    number, decision = submit_manifest(
        connect(Sender.rail_operator(operator)),
        codec,
        wagons,
        train_id=train_id,
        operator=operator,
        version=version,
        timeout_s=timeout_s,
    )
    units = sum(len(w["itus"]) for w in wagons)
    if as_json:
        print(
            json.dumps(
                {
                    "train_id": train_id,
                    "manifest_version": number,
                    "wagons": len(wagons),
                    "units": units,
                    "granted": decision["granted"],
                    "reasons": decision["reasons"],
                }
            )
        )
    else:
        outcome = "GRANTED" if decision["granted"] else "REFUSED"
        print(
            f"train {train_id} manifest v{number} ({len(wagons)} wagons, {units} units): "
            f"permission to leave {outcome}"
        )
        for reason in decision["reasons"]:
            print(f"  - {reason}")
    return 0 if decision["granted"] else 1


def consist(
    connect: Connect,
    codec: Codec,
    path: str,
    *,
    train_id: str | None,
    gate: str,
    read_point: str,
    portal_name: str | None = None,
    as_json: bool,
    timeout_s: float = 30.0,
) -> int:
    """Publish the portal's reads of a train as its detected consist and print the check."""
    wagons = _parsed(path, portal_wagons)
    portal = Sender(PartyKind.RAIL_PORTAL, portal_name or read_point.lower())
    value = new_event(
        read_point,
        train_id=train_id,
        gate_node_id=gate,
        read_point_id=read_point,
        wagons=wagons,
    )
    with Conversation(connect(portal), codec, portal) as talk:
        check = talk.ask(
            "iotrack.DetectedConsist",
            value,
            "iotrack.ConsistCheck",
            lambda v: v["read_point_id"] == read_point and v["occurred_at"] == value["occurred_at"],
            timeout_s,
        )
    if as_json:
        print(json.dumps({k: check[k] for k in ("train_id", "matched", "problems", "repairs",
                                                 "wagon_numbers", "exit_candidates")}))  # fmt: skip
    else:
        outcome = "MATCHES the manifest" if check["matched"] else "DIFFERS from the manifest"
        print(
            f"train {check['train_id']} at {gate}: {len(wagons)} wagons read; the consist {outcome}"
        )
        for problem in check["problems"]:
            print(f"  - {problem}")
        for repaired in check["repairs"]:
            print(f"  repaired: {repaired}")
        if check["matched"]:
            print(f"  {len(check['exit_candidates'])} IOT_IDs await the GdF exit confirmation")
    return 0 if check["matched"] else 1


def confirm_exits(
    connect: Connect,
    codec: Codec,
    *,
    train_id: str,
    officer: str,
    gate: str,
    as_json: bool,
    timeout_s: float = 30.0,
) -> int:
    """The GdF confirms the exit of every unit of a train whose consist matched."""
    connection = connect(GDF)
    status = latest_status(connection, codec, train_id)
    if status is None:
        raise RailCommandError(f"train {train_id} is not known")
    if status["phase"] != "CONFIRMING":
        raise RailCommandError(
            f"train {train_id} is {status['phase'].lower()}: exits are confirmed once its consist "
            "matched the manifest at the exit gate"
        )
    out = producer(connection)
    at = int(time.time() * 1000)
    for iot_id in status["iot_ids"]:
        value = new_event(
            officer,
            at,
            iot_id=iot_id,
            mode="RAIL",
            gate_node_id=gate,
            confirmed_by=officer,
        )
        topic = catalog.GDF_EXITS
        encoded = codec.encode("iotrack.ExitConfirmed", value, topic=topic.name)
        produce_sync(out, topic, topic.key_of(value), encoded)
    deadline = time.monotonic() + timeout_s
    while (status := latest_status(connection, codec, train_id)) and status["phase"] != "DEPARTED":
        if time.monotonic() > deadline:
            raise no_answer(timeout_s)
        time.sleep(0.5)
    assert status is not None  # noqa: S101 - the loop only ends on a status
    if as_json:
        print(
            json.dumps({"train_id": train_id, "phase": status["phase"], "exited": status["exited"]})
        )
    else:
        print(f"train {train_id}: {status['exited']} exits confirmed by {officer}; departed")
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.local import runtime
    from topics.codec import codec_for

    connect = runtime.endpoints(settings).kafka
    codec = codec_for(settings.schema_registry_url)
    try:
        action = args.action
        if action == "loading-list":
            return loading_list(
                connect,
                codec,
                args.file,
                train_id=args.train,
                operator=args.operator,
                as_json=args.json,
                follow=args.follow,
                timeout_s=args.timeout,
            )
        if action == "confirm-exits":
            return confirm_exits(
                connect,
                codec,
                train_id=args.train,
                officer=args.officer,
                gate=args.gate,
                as_json=args.json,
                timeout_s=args.timeout,
            )
        if action == "manifest":
            return manifest(
                connect,
                codec,
                args.file,
                train_id=args.train,
                operator=args.operator,
                version=args.version,
                as_json=args.json,
                timeout_s=args.timeout,
            )
        return consist(
            connect,
            codec,
            args.file,
            train_id=args.train,
            gate=args.gate,
            read_point=args.read_point,
            portal_name=args.portal,
            as_json=args.json,
            timeout_s=args.timeout,
        )
    except (RailCommandError, InputFileError) as exc:
        print(f"iotrack rail {args.action}: {exc}", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rail loading-list``, ``rail manifest`` and ``rail consist`` to ``subparsers``."""
    help_text = "a train operator's loading lists and manifests, and the exit portal's reads"
    rail = subparsers.add_parser("rail", help=help_text, description=help_text)
    actions = rail.add_subparsers(dest="action", required=True, metavar="ACTION")
    helps = {
        "loading-list": "submit a loading list (CSV or JSON) and print each unit's readiness; "
        "exit 0 when all are ready, 1 when not, 2 on a bad file or no answer",
        "manifest": "submit a manifest version (CSV or JSON) and print the permission to "
        "leave; exit 0 when granted, 1 when refused, 2 on a bad file or no answer",
        "consist": "publish a rail OCR portal's wagon reads (JSON lines) as the train's "
        "detected consist and print the check against the manifest; exit 0 when it matches",
        "confirm-exits": "the GdF officer at the rail gate confirms the exit of every unit of "
        "a train whose consist matched; exit 0 once the train has departed",
    }
    for action, text in helps.items():
        command = actions.add_parser(action, help=text, description=text)
        if action != "confirm-exits":
            command.add_argument("file", metavar="FILE", help="the file ('-' for standard input)")
        command.add_argument(
            "--train",
            required=action != "consist",
            metavar="ID",
            help="the train's id"
            + (
                " (default: the train whose manifest holds the wagons read)"
                if action == "consist"
                else ""
            ),
        )
        command.add_argument("--json", action="store_true", help="print JSON, not a table")
        command.add_argument(
            "--timeout",
            type=float,
            default=30.0,
            metavar="S",
            help="seconds to wait for the answer (default 30)",
        )
        if action in ("loading-list", "manifest"):
            command.add_argument(
                "--operator",
                required=True,
                metavar="ID",
                help="the rail operator composing the train (only it may amend it)",
            )
        command.set_defaults(handler=_run)
    actions.choices["loading-list"].add_argument(
        "--follow",
        action="store_true",
        help="keep watching and print the answer again whenever a unit's status changes",
    )
    actions.choices["manifest"].add_argument(
        "--version",
        type=int,
        metavar="N",
        help="the manifest version (default: the latest known plus one)",
    )
    for action in ("consist", "confirm-exits"):
        actions.choices[action].add_argument(
            "--gate", default="RAIL-GATE-1", help="exit gate node (default RAIL-GATE-1)"
        )
    actions.choices["confirm-exits"].add_argument(
        "--officer", required=True, metavar="ID", help="the confirming GdF officer"
    )
    actions.choices["consist"].add_argument(
        "--read-point", default="RAIL-GATE-1-OCR", help="portal id (default RAIL-GATE-1-OCR)"
    )
    actions.choices["consist"].add_argument(
        "--portal",
        metavar="NAME",
        help="the rail portal party sending the reads (default: the read point, lower case; "
        "the core refuses a consist whose read point is not its portal's)",
    )
