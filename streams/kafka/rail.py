"""A rail operator's requests on its own topic and the tracking core's answers on its replies
topic: what ``iotrack rail`` sends, and the web console's uploads through the same code.

Each request is one event on the party's own requests topic (authority comes from the topic);
the answer is the record of the expected type that names the request's event id, or the
refusal (a dead letter holding exactly the bytes sent). ``iotrack rail`` signs in as the party
whose request it is (``rail-operator.NAME``); the web console signs in as the query API
(``service.api``), the declared gateway of every rail operator's requests and replies topics
(``topics.parties.GATEWAYS``), and sends for the operator signed in to it alone. Either way the
request is on the operator's own topic, and the core takes the operator from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import uuid6
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from processors.parties import Sender
from streams.errors import StreamsError
from streams.kafka.reading import read_committed
from streams.kafka.sending import produce_sync
from topics import catalog
from topics.clients import KafkaConnection, consumer, producer
from topics.codec import Codec, plain


class RailCommandError(StreamsError):
    """A rail command that could not be carried out (bad file, no answer, refused)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_event(source: str, at: int | None = None, **fields: Any) -> dict[str, Any]:
    """A new event from ``source``: a fresh UUIDv7 id, the time now (or ``at``), the fields."""
    return {
        "event_id": str(uuid6.uuid7()),
        "source": source,
        "occurred_at": _now_ms() if at is None else at,
        **fields,
    }


class Conversation:
    """One request a party sends on its own topic, and the core's answers to it on the party's
    replies topic (the answer, or the refusal of exactly the bytes sent)."""

    def __init__(self, connection: KafkaConnection, codec: Codec, party: Sender) -> None:
        """``connection``: the party's own, or its gateway's (``topics.parties.GATEWAYS``)."""
        self.connection = connection
        self.codec = codec
        self.party = party
        self.replies = catalog.REPLIES.for_party(party)
        self.consumer = consumer(
            connection,
            str(uuid6.uuid7()),
            **{"isolation.level": "read_committed", "log_level": 0},
        )
        # From the ends as they are now: only what answers this request is read.
        start = []
        for p in range(self.replies.partitions):
            try:
                _low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(self.replies.name, p), timeout=10
                )
            except KafkaException as exc:
                raise RailCommandError(
                    f"cannot read {self.replies.name} ({exc}): is {party} admitted "
                    f"('iotrack parties add {party.kind} {party.name}') and the broker up?"
                ) from exc
            start.append(TopicPartition(self.replies.name, p, high))
        self.consumer.assign(start)
        self.sent: bytes = b""

    def send(self, schema: str, value: dict[str, Any]) -> None:
        topic = catalog.input_topic(schema, self.party)
        self.sent = self.codec.encode(schema, value, topic=topic.name)
        produce_sync(producer(self.connection), topic, topic.key_of(value), self.sent)

    def next(
        self, answer_type: str, accept: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> dict[str, Any] | None:
        """The next answer of ``answer_type`` that ``accept`` takes, within the timeout (None
        when none came); RailCommandError when the core refused what was sent."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.5)
            if message is None or message.value() is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise RailCommandError(f"reading the answers: {error.str()}")
                continue
            decoded = self.codec.decode(message.value() or b"", topic=str(message.topic()))
            value: dict[str, Any] = plain(decoded.value)
            if decoded.schema == "iotrack.DeadLetter":
                if value.get("original_value") == self.sent:
                    raise RailCommandError(f"the tracking core refused it: {value['reason']}")
                continue
            if decoded.schema == answer_type and accept(value):
                return value
        return None

    def ask(
        self,
        schema: str,
        value: dict[str, Any],
        answer_type: str,
        answers: Callable[[dict[str, Any]], bool],
        timeout_s: float,
    ) -> dict[str, Any]:
        """Send ``value`` and return the first record of ``answer_type`` that ``answers`` takes
        as its answer."""
        self.send(schema, value)
        answer = self.next(answer_type, answers, timeout_s)
        if answer is None:
            raise no_answer(timeout_s)
        return answer

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def no_answer(timeout_s: float) -> RailCommandError:
    return RailCommandError(
        f"no answer from the tracking core within {timeout_s:.0f} s: is it running "
        "(`iotrack run`, or `iotrack demo --keep-running --serve`)?"
    )


def latest_status(
    connection: KafkaConnection,
    codec: Codec,
    train_id: str,
    topic: catalog.Topic = catalog.TRAINS,
) -> dict[str, Any] | None:
    """The train's latest status on ``topic`` (the public trains topic, or its operator's
    replies); None when there is none."""
    latest = None
    for message in read_committed(connection, topic):
        if (message.key() or b"").decode() != train_id or message.value() is None:
            continue
        decoded = codec.decode(message.value() or b"", topic=topic.name)
        if decoded.schema == "iotrack.TrainStatus":
            latest = plain(decoded.value)
    return latest


def loading_list_request(
    items: list[dict[str, Any]], *, train_id: str, operator: str
) -> dict[str, Any]:
    """The ``iotrack.TrainLoadingList`` a rail operator sends: its units, not yet answered."""
    return new_event(
        operator,
        train_id=train_id,
        operator=operator,
        planned_departure=None,
        items=[{**item, "ready": None, "reasons": [], "iot_id": None} for item in items],
        answered=False,
        caused_by_event_id=None,
    )


def submit_loading_list(
    connection: KafkaConnection,
    codec: Codec,
    items: list[dict[str, Any]],
    *,
    train_id: str,
    operator: str,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Send a loading list on the operator's own topic; the core's answer (readiness per
    unit). ``connection``: the operator's own, or its gateway's. RailCommandError when it is
    refused or no answer comes in time."""
    value = loading_list_request(items, train_id=train_id, operator=operator)
    with Conversation(connection, codec, Sender.rail_operator(operator)) as talk:
        return talk.ask(
            "iotrack.TrainLoadingList",
            value,
            "iotrack.TrainLoadingList",
            lambda v: v["caused_by_event_id"] == value["event_id"],
            timeout_s,
        )


def submit_manifest(
    connection: KafkaConnection,
    codec: Codec,
    wagons: list[dict[str, Any]],
    *,
    train_id: str,
    operator: str,
    version: int | None = None,
    timeout_s: float = 30.0,
) -> tuple[int, dict[str, Any]]:
    """Send a manifest version (default: the latest the operator was told of, plus one) on the
    operator's own topic; the version sent and the core's decision on the permission to leave.
    ``connection``: the operator's own, or its gateway's. RailCommandError when it is refused or
    no answer comes in time."""
    party = Sender.rail_operator(operator)
    replies = catalog.REPLIES.for_party(party)
    latest = latest_status(connection, codec, train_id, replies) or {}
    previous = int(latest.get("manifest_version") or 0)
    number = version if version is not None else previous + 1
    value = new_event(
        operator,
        train_id=train_id,
        version=number,
        operator=operator,
        wagons=wagons,
        supersedes_version=previous or None,
    )
    with Conversation(connection, codec, party) as talk:
        decision = talk.ask(
            "iotrack.TrainManifest",
            value,
            "iotrack.PermissionToLeave",
            lambda v: v["caused_by_event_id"] == value["event_id"],
            timeout_s,
        )
    return number, decision
