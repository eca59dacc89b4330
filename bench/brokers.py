"""The brokers the benchmarks run against: a throwaway local one set up as ``iotrack up`` and
``iotrack parties add`` make it (SASL/SCRAM, ACLs), a given one (``KAFKA_BOOTSTRAP_SERVERS``
with the administrator's credential, which then plays every party), or, for the side-by-side
figures only (``--security both``), the same local node without authentication or ACLs, as it
was configured before them. That last one exists here alone: nothing outside ``bench/`` can
make a broker or a client without SASL.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.parties import Sender
from streams.local.kafka import LocalKafka
from streams.local.processes import free_port
from streams.local.runtime import Brokers, Databases, Endpoints, brokers
from streams.ops.admission import admit
from streams.ops.settings import Secret, load
from topics import admin
from topics.catalog import Topic
from topics.clients import KafkaConnection
from topics.parties import STANDING

MODES = ("sasl", "none", "both")
"""``--security``: SASL/SCRAM with ACLs (what iotrack runs), none (the comparison), or both."""


@dataclass(frozen=True)
class Broker:
    """What a benchmark needs of a broker: each party's connection and the administrator's."""

    label: str
    connect: Callable[[Sender], KafkaConnection]
    administrator: KafkaConnection
    endpoints: Endpoints | None = None

    def cli_env(self) -> dict[str, str]:
        """The environment of an ``iotrack`` subprocess on this broker: the local broker's
        embedded default (its home and port: each party's own credential), or as given."""
        env = dict(os.environ)
        local = self.endpoints.brokers.local if self.endpoints is not None else None
        if local is not None:
            env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
            env.update(
                IOTRACK_HOME=str(local.root.parent),
                IOTRACK_KAFKA_PORT=str(local.nodes[0].broker_port),
            )
        return env


@dataclass(frozen=True)
class _Plaintext(KafkaConnection):
    """A connection without SASL, to the unsecured comparison broker only."""

    def config(self, **extra: Any) -> dict[str, Any]:
        config = {
            k: v
            for k, v in super().config(**extra).items()
            if not k.startswith(("sasl.", "ssl.", "security."))
        }
        config["security.protocol"] = "PLAINTEXT"
        return config


_UNSECURED = ("listener.name.", "sasl.", "authorizer.", "allow.everyone", "super.users")


class _UnsecuredKafka(LocalKafka):
    """The local node with PLAINTEXT listeners and no authorizer: the configuration before
    authentication, for the side-by-side figures."""

    def _write_properties(self, node: Any) -> None:
        super()._write_properties(node)
        lines = node.properties.read_text().splitlines()
        kept = [line for line in lines if not line.startswith(_UNSECURED)]
        text = "\n".join(kept).replace(":SASL_PLAINTEXT", ":PLAINTEXT")
        node.properties.write_text(text + "\n")

    def connection(self, username: str) -> KafkaConnection:
        return _Plaintext(self.bootstrap, username, Secret(""))

    def ensure_credentials(self, principals: Iterable[str]) -> list[str]:
        return []


@contextlib.contextmanager
def local(
    mode: str, parties: Iterable[Sender] = (), topics: Iterable[Topic] | None = None
) -> Iterator[Broker]:
    """A throwaway local broker of ``mode`` ("sasl" or "none"), with the catalogue's topics
    (or ``topics``) and, secured, every standing party and ``parties`` admitted."""
    with tempfile.TemporaryDirectory(prefix="iotrack-bench-") as name:
        home = Path(name) / "home"
        kind = LocalKafka if mode == "sasl" else _UnsecuredKafka
        kafka = kind(home, base_port=free_port())
        try:
            kafka.start()
            if mode == "sasl":
                kafka.ensure_credentials(p.principal for p in STANDING)
                found = Endpoints(Brokers(kafka.bootstrap, kafka), Databases(None), False)
                admit(found, parties)
                yield Broker("SASL/SCRAM + ACLs", found.kafka, found.kafka_admin(), found)
            else:
                client = admin.admin_client(kafka.admin_connection())
                admin.apply(client, *(() if topics is None else (list(topics),)))
                yield Broker("no authentication", kafka.connection, kafka.admin_connection())
        finally:
            kafka.stop()


@contextlib.contextmanager
def given() -> Iterator[Broker]:
    """The cluster ``KAFKA_BOOTSTRAP_SERVERS`` names, every party played by the one credential
    given (an administrator's)."""
    found = brokers(load())
    admin.apply(admin.admin_client(found.admin()))
    yield Broker("given cluster", found.kafka, found.admin())


def modes(requested: str) -> list[str]:
    """The broker modes to run for ``--security``; a given cluster is measured as it is."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return ["given"]
    return ["sasl", "none"] if requested == "both" else [requested]


def broker(
    mode: str, parties: Iterable[Sender] = (), topics: Iterable[Topic] | None = None
) -> contextlib.AbstractContextManager[Broker]:
    """The broker of a mode from :func:`modes`."""
    return given() if mode == "given" else local(mode, parties, topics)


def print_side_by_side(results: dict[str, dict[str, str]]) -> None:
    """One row per figure, one column per broker."""
    labels = list(results)
    names = list(results[labels[0]])
    width = max(len(n) for n in names)
    print(f"{'':<{width}}  " + "  ".join(f"{label:>20}" for label in labels))
    for name in names:
        print(f"{name:<{width}}  " + "  ".join(f"{results[lb][name]:>20}" for lb in labels))
