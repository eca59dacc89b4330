"""``iotrack bind``: Customs binds MRNs to units on a mission path and learns each IOT_ID.

Each request goes on Customs' binding requests topic; the command waits for the core's answer,
matched by the request: the ``IotBound`` on the binding ledger (its IOT_ID), or the refusal of
exactly the bytes sent, on the dead letters Customs reads. The IOT_ID is derived from the request
alone, so the same request always gives the same IOT_ID: a UUIDv7 whose time is the request's
``occurred_at`` and whose other bits come from SHA-256 of ``iot`` and the ``request_id``
(``processors.ids.deterministic_uuid7``).

From flags (one request)::

    $ iotrack bind --container CSQU3054383 --plate AB123CD --country IT \\
          --mrn 26IT000000000001R4 --path IMPORT-ROAD
    REQ-01a2... -> IOT_ID 01a2... (CONTAINER:CSQU3054383, PLATE:IT:AB123CD on IMPORT-ROAD)

From a file, one request per line as JSON: ``{"request_id", "path", "mrns": [...], "units":
[{"unit", "kind", "country"}]}`` (``request_id`` optional). Exit 0 when every request is bound,
1 when any is refused, 2 for a bad file or no answer in time.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import uuid6
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from processors.identifiers import itu as itu_keys
from processors.ids import deterministic_uuid7
from processors.parties import CUSTOMS
from streams.cli.inputs import read_text
from streams.cli.options import Commands, add_command
from streams.errors import InputFileError, StreamsError
from streams.kafka.sending import produce_sync
from streams.local import runtime
from streams.ops.settings import Settings
from topics import catalog
from topics.clients import KafkaConnection, consumer, producer
from topics.codec import Codec, codec_for, plain


class BindCommandError(StreamsError):
    """A binding request that could not be sent or got no answer in time."""


def _unit(entry: object, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(entry.get("unit"), str):
        raise InputFileError(f'{where}: expected {{"unit": CODE, "kind": ..., "country": ...}}')
    kind = str(entry.get("kind") or "CONTAINER").upper()
    country = entry.get("country")
    value = itu_keys.checked(kind, entry["unit"], str(country) if country else None)
    return {"kind": kind, "value": value, "country": country, "seal_class": None, "issuer": None}


def requests_from_file(text: str) -> list[dict[str, Any]]:
    """The binding requests of a file, one JSON object per line (blank lines and ``#`` skipped);
    InputFileError naming the line, or IdentifierError naming the unit."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            document = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise InputFileError(f"line {number}: not JSON ({exc})") from exc
        if not isinstance(document, dict) or not isinstance(document.get("path"), str):
            raise InputFileError(f'line {number}: expected {{"path", "mrns", "units"}}')
        units = document.get("units")
        if not isinstance(units, list) or not units:
            raise InputFileError(f"line {number}: units: expected a non-empty list")
        mrns = document.get("mrns") or []
        if not isinstance(mrns, list) or not all(isinstance(m, str) for m in mrns):
            raise InputFileError(f"line {number}: mrns: expected a list of MRNs")
        found.append(
            {
                "request_id": document.get("request_id"),
                "path": document["path"],
                "mrns": mrns,
                "itus": [_unit(u, f"line {number}: units[{n}]") for n, u in enumerate(units)],
            }
        )
    if not found:
        raise InputFileError("the file holds no binding request")
    return found


def _request_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    units = [{"unit": c, "kind": "CONTAINER"} for c in args.container]
    units += [{"unit": p, "kind": "PLATE", "country": args.country} for p in args.plate]
    if not units:
        raise InputFileError("give a FILE, or at least one --container or --plate")
    if args.path is None:
        raise InputFileError("--path is required without a FILE")
    return {
        "request_id": args.request_id,
        "path": args.path,
        "mrns": args.mrn,
        "itus": [_unit(u, "--container/--plate") for u in units],
    }


def _answers(connection: KafkaConnection) -> Consumer:
    """A consumer of the binding ledger and the dead letters, from their ends as they are
    (signed in as Customs: both are topics Customs reads)."""
    answers = consumer(connection, f"bind.{uuid6.uuid7()}", **{"log_level": 0})
    start = []
    for topic in (catalog.BINDINGS, catalog.DEAD_LETTERS):
        for partition in range(topic.partitions):
            try:
                _low, high = answers.get_watermark_offsets(
                    TopicPartition(topic.name, partition), timeout=10
                )
            except KafkaException as exc:
                answers.close()
                raise BindCommandError(
                    f"cannot read {topic.name} as {connection.username} ({exc}): is the broker "
                    "up ('iotrack up') and are the ACLs applied ('iotrack topics apply')?"
                ) from exc
            start.append(TopicPartition(topic.name, partition, high))
    answers.assign(start)
    return answers


def bind(
    connection: KafkaConnection,
    codec: Codec,
    requests: list[dict[str, Any]],
    *,
    officer: str,
    timeout_s: float,
    as_json: bool,
) -> int:
    """Send the requests as Customs (``connection``: Customs' own) and print each answer; 0 when
    all are bound, 1 when any is refused."""
    reader = _answers(connection)
    out = producer(connection)
    topic = catalog.input_topic("iotrack.BindingRequested", CUSTOMS)
    sent: dict[str, bytes] = {}
    try:
        for request in requests:
            at = int(time.time() * 1000)
            request_id = request["request_id"] or f"REQ-{uuid6.uuid7()}"
            value = {
                "event_id": str(uuid6.uuid7()),
                "source": "customs",
                "occurred_at": at,
                "request_id": request_id,
                "mrns": request["mrns"],
                "itus": request["itus"],
                "mission_path_id": request["path"],
                "requested_by": officer,
            }
            encoded = codec.encode("iotrack.BindingRequested", value, topic=topic.name)
            produce_sync(out, topic, topic.key_of(value), encoded)
            sent[request_id] = encoded
            request["request_id"], request["iot_id"] = (
                request_id,
                deterministic_uuid7(at, "iot", request_id),
            )
        answers = _collect(reader, codec, sent, timeout_s)
    finally:
        reader.close()
    refused = 0
    for request in requests:
        request_id = request["request_id"]
        answer = answers.get(request_id)
        keys = ", ".join(itu_keys.key(i["kind"], i["value"], i["country"]) for i in request["itus"])
        if answer is None:
            line = {"request_id": request_id, "status": "NO_ANSWER", "units": keys}
            text = f"{request_id}: no answer within {timeout_s:.0f} s (it may wait for its path)"
        elif answer[0] == "bound":
            line = {"request_id": request_id, "status": "BOUND", "iot_id": answer[1], "units": keys}
            text = f"{request_id} -> IOT_ID {answer[1]} ({keys} on {request['path']})"
        else:
            refused += 1
            line = {"request_id": request_id, "status": "REFUSED", "reason": answer[1]}
            text = f"{request_id} refused: {answer[1]}"
        print(json.dumps(line) if as_json else text, flush=True)
    if len(answers) < len(requests):
        raise BindCommandError(
            f"{len(requests) - len(answers)} of {len(requests)} requests got no answer: is the "
            "tracking core running (`iotrack run`)?"
        )
    return 1 if refused else 0


def _collect(
    consumer: Consumer, codec: Codec, sent: dict[str, bytes], timeout_s: float
) -> dict[str, tuple[str, str]]:
    answers: dict[str, tuple[str, str]] = {}
    by_bytes = {v: k for k, v in sent.items()}
    deadline = time.monotonic() + timeout_s
    while len(answers) < len(sent) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.value() is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise BindCommandError(f"reading the answers: {error.str()}")
            continue
        decoded = codec.decode(message.value() or b"", topic=str(message.topic()))
        value = plain(decoded.value)
        if decoded.schema == "iotrack.IotBound" and value["request_id"] in sent:
            answers[value["request_id"]] = ("bound", str(value["iot_id"]))
        elif decoded.schema == "iotrack.DeadLetter" and value["original_value"] in by_bytes:
            answers[by_bytes[value["original_value"]]] = ("refused", str(value["reason"]))
    return answers


def _run(settings: Settings, args: argparse.Namespace) -> int:
    requests = (
        requests_from_file(read_text(args.file)) if args.file else [_request_from_flags(args)]
    )
    return bind(
        runtime.endpoints(settings).kafka(CUSTOMS),
        codec_for(settings.schema_registry_url),
        requests,
        officer=args.officer,
        timeout_s=args.timeout,
        as_json=args.json,
    )


def register(commands: Commands) -> None:
    """Add ``bind`` to ``commands``."""
    command = add_command(
        commands,
        "bind",
        "Customs binds MRNs to units on a mission path; prints each IOT_ID (exit 0 all bound, "
        "1 any refused, 2 bad input or no answer)",
    )
    command.add_argument("file", nargs="?", help="requests, one JSON object per line")
    command.add_argument("--container", action="append", default=[], help="a container code")
    command.add_argument("--plate", action="append", default=[], help="a vehicle plate")
    command.add_argument("--country", default="IT", help="the plates' country (default IT)")
    command.add_argument("--mrn", action="append", default=[], help="an MRN the unit carries")
    command.add_argument("--path", help="the mission path id")
    command.add_argument("--request-id", help="the request's id (default: a new one)")
    command.add_argument("--officer", default="customs.cli", help="who asks (requested_by)")
    command.add_argument("--json", action="store_true", help="one JSON object per request")
    command.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")
    command.set_defaults(handler=_run)
