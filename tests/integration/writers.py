"""Producing test records as the party entitled to write them."""

from __future__ import annotations

from confluent_kafka import Producer

from processors.parties import Sender
from streams.local.runtime import Endpoints
from topics import catalog
from topics.clients import producer


class AsWriters:
    """A producer that sends each record signed in as its topic's one writer: the tracking
    core for the public state, Customs for mission paths, fusion for passages. Tests that
    stand in for those parties write through it, so the broker's ACLs hold for them too."""

    def __init__(self, services: Endpoints) -> None:
        self.services = services
        self.producers: dict[Sender, Producer] = {}

    def _for(self, topic: str) -> Producer:
        party = catalog.sender_of(catalog.topic_named(topic))
        if party not in self.producers:
            self.producers[party] = producer(self.services.kafka(party))
        return self.producers[party]

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> None:
        self._for(topic).produce(topic, key=key, value=value)

    def poll(self, timeout: float = 0) -> None:
        for out in self.producers.values():
            out.poll(timeout)

    def flush(self, timeout: float = 30) -> int:
        """What is left unacknowledged after ``timeout``, over every producer."""
        return sum(out.flush(timeout) for out in self.producers.values())
