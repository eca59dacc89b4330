"""A rail operator's upload in the web console: the file checked, sent on the operator's own
requests topic, the tracking core's answer awaited, and said in one sentence.

The query API sends it as the declared gateway of every rail operator's requests topic
(``topics.parties.GATEWAYS``), signed in to Kafka as ``service.api``, through the code
``iotrack rail`` uses (:mod:`streams.kafka.rail`). It sends for the operator of the session
alone: the operator comes from the bearer token the operator signed in with, never from the
form or the file, and a file that names another operator or train is refused
(``readers.rail_files.check_claims``). The core takes the operator from the topic, as for the
operator's own CLI, and refuses a record that claims another.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException

from processors.errors import ProcessorError
from processors.parties import Sender
from readers.rail_files import RailFileError, check_claims, loading_list_items, manifest_wagons
from streams.errors import DeliveryError
from streams.http.errors import NotFound
from streams.kafka.rail import RailCommandError, submit_loading_list, submit_manifest
from topics.clients import KafkaConnection
from topics.codec import Codec

KINDS = ("loading-list", "manifest")
"""What an upload may be."""


def loading_list_said(name: str, answer: dict[str, Any]) -> str:
    """What the page says of a loading list the core answered.

    >>> items = [{"ready": True}, {"ready": False}, {"ready": True}]
    >>> loading_list_said("list.csv", {"train_id": "IT-1", "items": items})
    'Loading list list.csv sent for train IT-1: 2 of 3 units Customs-ready.'
    """
    ready = sum(1 for item in answer["items"] if item["ready"])
    return (
        f"Loading list {name} sent for train {answer['train_id']}: {ready} of "
        f"{len(answer['items'])} units Customs-ready."
    )


def manifest_said(name: str, number: int, decision: dict[str, Any]) -> str:
    """What the page says of a manifest version and the core's decision on it.

    >>> manifest_said("m.json", 2, {"train_id": "IT-1", "granted": True, "reasons": []})
    'Manifest v2 (m.json) sent for train IT-1: permission to leave GRANTED.'
    >>> refused = {"train_id": "IT-1", "granted": False, "reasons": ["HELD: position 2", "X"]}
    >>> manifest_said("m.json", 1, refused)
    'Manifest v1 (m.json) sent for train IT-1: permission to leave REFUSED: HELD: position 2; X'
    """
    outcome = "GRANTED" if decision["granted"] else "REFUSED"
    reasons = "; ".join(decision["reasons"])
    return (
        f"Manifest v{number} ({name}) sent for train {decision['train_id']}: permission to "
        f"leave {outcome}" + (f": {reasons}" if reasons else ".")
    )


@dataclass(frozen=True)
class Upload:
    """One file a signed-in rail operator sends for one of its trains."""

    operator: str
    """The session's operator (its token's), never the form's or the file's."""
    train_id: str
    what: str
    """``loading-list`` or ``manifest``."""
    name: str
    """The file's name, as the browser gave it."""
    text: str


@dataclass(frozen=True)
class Outcome:
    """What came of an upload: the sentence the page shows, and whether it was sent."""

    said: str
    sent: bool


class Uploads:
    """Sends uploads as the query API, the gateway of each rail operator's requests topic, and
    waits for the core's answer and for the projection to record it (each bounded)."""

    def __init__(
        self,
        kafka: KafkaConnection,
        codec: Codec,
        train: Callable[[str], dict[str, Any]],
        *,
        answer_timeout_s: float = 30.0,
        recorded_timeout_s: float = 10.0,
        pause_s: float = 0.2,
    ) -> None:
        """``kafka``: the query API's own connection (``service.api``); ``train``: the
        projection's train (NotFound when it has none)."""
        self.kafka = kafka
        self.codec = codec
        self.train = train
        self.answer_timeout_s = answer_timeout_s
        self.recorded_timeout_s = recorded_timeout_s
        self.pause_s = pause_s

    def send(self, upload: Upload) -> Outcome:
        """Send the upload and say what came of it: the core's answer, or why it was not sent
        or not answered (never an exception: the page shows the sentence)."""
        name = upload.name
        try:
            Sender.rail_operator(upload.operator)
        except ProcessorError as exc:
            return Outcome(
                f"{name} was not sent: the operator id of this session's token is not a rail "
                f"operator's party name ({exc}): its tokens file names it",
                sent=False,
            )
        try:
            if upload.what == "loading-list":
                items = loading_list_items(upload.text)
            else:
                wagons = manifest_wagons(upload.text)
            check_claims(upload.text, operator=upload.operator, train_id=upload.train_id)
        except RailFileError as exc:
            return Outcome(f"{name} was not sent: {exc}", sent=False)
        try:
            if upload.what == "loading-list":
                return Outcome(self._loading_list(name, upload, items), sent=True)
            return Outcome(self._manifest(name, upload, wagons), sent=True)
        except (DeliveryError, KafkaException) as exc:
            said = exc.args[0].str() if isinstance(exc, KafkaException) else str(exc)
            return Outcome(f"{name} was not sent: {said}", sent=False)
        except RailCommandError as exc:  # sent: refused, or no answer in time
            return Outcome(f"{name}: {exc}", sent=True)

    def _answered_lists(self, train_id: str) -> int:
        with contextlib.suppress(NotFound):
            return sum(1 for ll in self.train(train_id)["loading_lists"] if ll.get("answered"))
        return 0

    def _loading_list(self, name: str, upload: Upload, items: list[dict[str, Any]]) -> str:
        before = self._answered_lists(upload.train_id)
        answer = submit_loading_list(
            self.kafka,
            self.codec,
            items,
            train_id=upload.train_id,
            operator=upload.operator,
            timeout_s=self.answer_timeout_s,
        )
        self._wait_recorded(
            upload.train_id,
            lambda t: sum(1 for ll in t["loading_lists"] if ll.get("answered")) > before,
        )
        return loading_list_said(name, answer)

    def _manifest(self, name: str, upload: Upload, wagons: list[dict[str, Any]]) -> str:
        number, decision = submit_manifest(
            self.kafka,
            self.codec,
            wagons,
            train_id=upload.train_id,
            operator=upload.operator,
            timeout_s=self.answer_timeout_s,
        )
        self._wait_recorded(
            upload.train_id,
            lambda t: any(p["manifest_version"] == number for p in t["permissions"]),
        )
        return manifest_said(name, number, decision)

    def _wait_recorded(self, train_id: str, recorded: Callable[[dict[str, Any]], bool]) -> None:
        """Until the projection shows what the core answered (at most the timeout), so that
        the train's page the browser goes to next shows it; a slow projection only delays it,
        and the page follows the train live anyway."""
        deadline = time.monotonic() + self.recorded_timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(NotFound):
                if recorded(self.train(train_id)):
                    return
            time.sleep(self.pause_s)
