"""Shared bits of the Quix Streams spike: broker address, the model of the core's per-key state,
its codecs (Avro single-object or JSON), and topic helpers."""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct

import fastavro
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ.get("SPIKE_BOOTSTRAP", "127.0.0.1:29092")
LAST_N = 5

STATE_SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "SpikeKeyState", "namespace": "iotrack.spike",
    "fields": [
        {"name": "count", "type": "long"},
        {"name": "hash", "type": "string"},
        {"name": "last", "type": {"type": "array", "items": "long"}},
    ],
})
# Avro single-object encoding, as the project writes its records: C3 01 + CRC-64-AVRO (LE) + body.
_FP = fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(STATE_SCHEMA), "CRC-64-AVRO")
_HEADER = b"\xc3\x01" + struct.pack("<Q", int(_FP, 16))


def avro_encode(state: dict) -> bytes:
    buf = io.BytesIO()
    buf.write(_HEADER)
    fastavro.schemaless_writer(buf, STATE_SCHEMA, state)
    return buf.getvalue()


def avro_decode(data: bytes) -> dict:
    if data[:10] != _HEADER:
        raise ValueError("not a SpikeKeyState single-object record")
    return fastavro.schemaless_reader(io.BytesIO(data[10:]), STATE_SCHEMA)


def step(state: dict | None, v: int) -> dict:
    """The pure per-key transition: count, a running hash of every value, the last N values."""
    if state is None:
        state = {"count": 0, "hash": "", "last": []}
    return {
        "count": state["count"] + 1,
        "hash": hashlib.sha256(f"{state['hash']}:{v}".encode()).hexdigest()[:16],
        "last": ([*state["last"], v])[-LAST_N:],
    }


def admin() -> AdminClient:
    return AdminClient({"bootstrap.servers": BOOTSTRAP})


def create_topics(names: list[str], partitions: int = 6, config: dict | None = None) -> None:
    a = admin()
    existing = set(a.list_topics(timeout=10).topics)
    new = [NewTopic(n, partitions, 1, config=config or {}) for n in names if n not in existing]
    if new:
        for _, f in a.create_topics(new).items():
            f.result()


def delete_topics(prefixes: list[str]) -> None:
    a = admin()
    names = [t for t in a.list_topics(timeout=10).topics if any(t.startswith(p) for p in prefixes)]
    if names:
        for _, f in a.delete_topics(names).items():
            try:
                f.result()
            except Exception as e:  # noqa: BLE001
                print("delete", e)


def jdump(x) -> bytes:
    return json.dumps(x, separators=(",", ":")).encode()
