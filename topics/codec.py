"""The wire codec: records to bytes and back, resolved against the schemas in ``avro/``.

Two framings:

* **Avro single-object encoding** (the default, no registry server): ``C3 01``, the writer
  schema's 8-byte little-endian CRC-64-AVRO fingerprint, then the Avro binary body. The
  fingerprint is looked up among every version kept in ``avro/`` and ``avro/history/``, and the
  body is resolved against the current version of the same record.
* **Confluent framing** (when ``SCHEMA_REGISTRY_URL`` is set): a zero byte, the registry's
  4-byte big-endian schema id, then the body. Schemas are registered under the subject
  ``<topic>-<record full name>`` (several record types may share a topic).

Either way the decoded value is a dict as fastavro gives it (timestamps as aware datetimes,
UUIDs as ``uuid.UUID``), together with the record's full name.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form
from fastavro.validation import ValidationError, validate
from fastavro.write import LOGICAL_WRITERS

from topics.errors import (
    CorruptMessageError,
    EncodeError,
    NotAvroError,
    TruncatedMessageError,
    UnknownSchemaError,
)
from topics.schemas import SchemaRepository, SchemaVersion, repository

SINGLE_OBJECT_MARKER = b"\xc3\x01"
SINGLE_OBJECT_HEADER = len(SINGLE_OBJECT_MARKER) + 8
CONFLUENT_MAGIC = b"\x00"
CONFLUENT_HEADER = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _strict_uuid(data: Any, schema: Any) -> Any:
    """fastavro writes any string as a ``uuid`` and fails only when reading it back
    (fastavro/_logical_writers_py.py, prepare_uuid), so a bad id would reach every consumer
    as a poison message. Here it is refused at the producer, where the mistake is made."""
    if isinstance(data, uuid.UUID):
        return str(data)
    if isinstance(data, str):
        if _CANONICAL_UUID.fullmatch(data):
            return data  # the usual case, checked without building a UUID object
        try:
            return str(uuid.UUID(data))
        except ValueError:
            raise ValueError(f"not a UUID: {data!r}") from None
    return data


LOGICAL_WRITERS["string-uuid"] = _strict_uuid


@dataclass(frozen=True)
class Decoded:
    """A decoded record: its full schema name, the value, and the writer's version number."""

    schema: str
    value: dict[str, Any]
    writer_version: int


class Codec(Protocol):
    """What the shells need of a codec; ``topic`` only matters to the registry framing."""

    def encode(self, schema_name: str, value: Mapping[str, Any], *, topic: str) -> bytes:
        """Encode ``value`` with the current version of ``schema_name``."""
        ...

    def decode(self, data: bytes, *, topic: str) -> Decoded:
        """Decode bytes written by any known version of any record."""
        ...


def _encode_body(version: SchemaVersion, value: Mapping[str, Any], out: io.BytesIO) -> None:
    try:
        schemaless_writer(out, version.parsed, value)
    except Exception as exc:  # fastavro raises ValueError, TypeError, KeyError, AttributeError...
        # Validation is slower than writing, so it runs only to explain a failure.
        try:
            validate(value, version.parsed, raise_errors=True)
        except ValidationError as detail:
            raise EncodeError(f"{version.full_name}: {detail}") from exc
        except Exception:  # noqa: S110 - the validator stumbled on what the writer did; say that
            pass
        raise EncodeError(f"{version.full_name}: {type(exc).__name__}: {exc}") from exc


def _decode_body(
    body: bytes, writer: SchemaVersion, reader: SchemaVersion, where: str
) -> dict[str, Any]:
    stream = io.BytesIO(body)
    try:
        value = schemaless_reader(
            stream, writer.parsed, reader.parsed if reader is not writer else None
        )
    except EOFError as exc:
        raise TruncatedMessageError(
            f"{where}: body ends early for {writer.full_name} v{writer.version}"
        ) from exc
    except Exception as exc:  # any fastavro failure on a body means the bytes are bad
        raise CorruptMessageError(
            f"{where}: body does not decode as {writer.full_name} v{writer.version}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if stream.tell() != len(body):
        raise CorruptMessageError(
            f"{where}: {len(body) - stream.tell()} bytes left over after "
            f"{writer.full_name} v{writer.version}"
        )
    if not isinstance(value, dict):
        raise CorruptMessageError(f"{where}: {writer.full_name} did not decode to a record")
    return value


class SingleObjectCodec:
    """Avro single-object encoding against the schemas in ``avro/`` (no registry)."""

    def __init__(self, schemas: SchemaRepository | None = None) -> None:
        self.schemas = schemas or repository()

    def encode(self, schema_name: str, value: Mapping[str, Any], *, topic: str = "") -> bytes:
        """Encode ``value`` as ``C3 01`` + fingerprint + body."""
        version = self.schemas.get(schema_name)
        out = io.BytesIO()
        out.write(SINGLE_OBJECT_MARKER)
        out.write(version.fingerprint)
        _encode_body(version, value, out)
        return out.getvalue()

    def decode(self, data: bytes, *, topic: str = "") -> Decoded:
        """Decode single-object bytes; each failure is a specific DecodeError."""
        where = topic or "message"
        if len(data) < SINGLE_OBJECT_HEADER:
            if data[: len(SINGLE_OBJECT_MARKER)] != SINGLE_OBJECT_MARKER[: len(data)]:
                raise NotAvroError(f"{where}: does not start with C3 01 (got {data[:2].hex()})")
            raise TruncatedMessageError(
                f"{where}: {len(data)} bytes, shorter than the {SINGLE_OBJECT_HEADER}-byte header"
            )
        if data[:2] != SINGLE_OBJECT_MARKER:
            raise NotAvroError(f"{where}: does not start with C3 01 (got {data[:2].hex()})")
        fingerprint = data[2:SINGLE_OBJECT_HEADER]
        writer = self.schemas.by_fingerprint(fingerprint)
        if writer is None:
            raise UnknownSchemaError(
                f"{where}: writer fingerprint {fingerprint.hex()} is not in avro/ or avro/history/"
            )
        reader = self.schemas.get(writer.full_name)
        value = _decode_body(data[SINGLE_OBJECT_HEADER:], writer, reader, where)
        return Decoded(writer.full_name, value, writer.version)


class RegistryCodec:
    """Confluent framing through a schema registry client (``mock://`` in tests)."""

    def __init__(
        self, url: str, schemas: SchemaRepository | None = None, client: Any | None = None
    ) -> None:
        # Imported here: only deployments with a registry need its extra dependencies.
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

        self.schemas = schemas or repository()
        self._schema_type = Schema
        # new_client() gives the in-memory MockSchemaRegistryClient for mock:// URLs; each
        # mock client keeps its own store, so processes sharing one must share the client.
        self.client = client or SchemaRegistryClient.new_client({"url": url})
        self._ids: dict[tuple[str, str], int] = {}
        self._writers: dict[int, SchemaVersion] = {}

    def _schema_id(self, topic: str, version: SchemaVersion) -> int:
        key = (topic, version.full_name)
        if key not in self._ids:
            subject = f"{topic}-{version.full_name}"
            schema = self._schema_type(json.dumps(version.expanded), "AVRO")
            try:
                self._ids[key] = self.client.register_schema(subject, schema)
            except Exception as exc:  # network or registry refusal
                raise EncodeError(f"registry refused {subject}: {exc}") from exc
            self._writers[self._ids[key]] = version
        return self._ids[key]

    def _writer(self, schema_id: int, where: str) -> SchemaVersion:
        if schema_id not in self._writers:
            try:
                registered = self.client.get_schema(schema_id)
            except Exception as exc:
                raise UnknownSchemaError(f"{where}: registry has no schema id {schema_id}") from exc
            expanded = json.loads(registered.schema_str or "null")
            full = (
                expanded["name"]
                if "." in expanded["name"]
                else (f"{expanded.get('namespace', '')}.{expanded['name']}".lstrip("."))
            )
            known = self.schemas.current.get(full)
            if known is None:
                raise UnknownSchemaError(f"{where}: schema id {schema_id} is {full}, not ours")
            parsed = parse_schema(expanded)
            canonical = to_parsing_canonical_form(parsed)
            # The same schema as ours decodes without resolution; another one is resolved.
            self._writers[schema_id] = (
                known
                if canonical == known.canonical
                else SchemaVersion(
                    full,
                    0,
                    expanded,
                    parsed,
                    canonical,
                    bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
                )
            )
        return self._writers[schema_id]

    def encode(self, schema_name: str, value: Mapping[str, Any], *, topic: str) -> bytes:
        """Encode ``value`` as ``00`` + schema id + body."""
        version = self.schemas.get(schema_name)
        out = io.BytesIO()
        out.write(CONFLUENT_MAGIC)
        out.write(self._schema_id(topic, version).to_bytes(4, "big"))
        _encode_body(version, value, out)
        return out.getvalue()

    def decode(self, data: bytes, *, topic: str) -> Decoded:
        """Decode Confluent-framed bytes, fetching the writer schema by id once."""
        if not data or data[:1] != CONFLUENT_MAGIC:
            raise NotAvroError(f"{topic}: does not start with the registry magic byte 00")
        if len(data) < CONFLUENT_HEADER:
            raise TruncatedMessageError(f"{topic}: {len(data)} bytes, shorter than the header")
        writer = self._writer(int.from_bytes(data[1:CONFLUENT_HEADER], "big"), topic)
        reader = self.schemas.get(writer.full_name)
        value = _decode_body(data[CONFLUENT_HEADER:], writer, reader, topic)
        return Decoded(writer.full_name, value, writer.version)


def codec_for(schema_registry_url: str | None) -> Codec:
    """The registry codec when a registry URL is configured, single-object encoding otherwise."""
    if schema_registry_url:
        return RegistryCodec(schema_registry_url)
    return SingleObjectCodec()


def plain(value: Any) -> Any:
    """A decoded value with logical types turned back into their Avro base values.

    UUIDs become their text, timestamps milliseconds since the epoch; for comparisons and JSON.

    >>> import uuid
    >>> from datetime import datetime, UTC
    >>> plain({"at": datetime(2026, 1, 1, tzinfo=UTC), "id": uuid.UUID(int=1), "n": [1]})
    {'at': 1767225600000, 'id': '00000000-0000-0000-0000-000000000001', 'n': [1]}
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    return value
