"""The wire codec: every record round-trips, and every kind of bad bytes gets its own error."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import from_schema
from topics.codec import (
    SINGLE_OBJECT_HEADER,
    RegistryCodec,
    SingleObjectCodec,
    plain,
)
from topics.errors import (
    CorruptMessageError,
    DecodeError,
    EncodeError,
    NotAvroError,
    TruncatedMessageError,
    UnknownSchemaError,
)
from topics.examples import example
from topics.schemas import AVRO_DIR, SchemaRepository, repository

SCHEMAS = repository()
CODEC = SingleObjectCodec(SCHEMAS)
RECORD_NAMES = sorted(SCHEMAS.current)


@pytest.mark.parametrize("name", RECORD_NAMES)
@given(data=st.data())
def test_every_record_round_trips_through_single_object_encoding(name: str, data: st.DataObject):
    value = data.draw(from_schema(SCHEMAS.get(name).expanded))
    encoded = CODEC.encode(name, value)
    assert encoded[:2] == b"\xc3\x01"
    assert encoded[2:SINGLE_OBJECT_HEADER] == SCHEMAS.get(name).fingerprint
    decoded = CODEC.decode(encoded)
    assert decoded.schema == name
    assert plain(decoded.value) == plain(value)


def _raw_read() -> bytes:
    return CODEC.encode("iotrack.RawRead", example(SCHEMAS.get("iotrack.RawRead")))


def test_every_truncation_is_reported_as_truncated_or_corrupt_never_decoded():
    data = _raw_read()
    for cut in range(len(data)):
        with pytest.raises((TruncatedMessageError, CorruptMessageError)):
            CODEC.decode(data[:cut], topic="iotrack.reads.raw.v1")


def test_a_short_header_is_named_truncated_with_the_topic():
    with pytest.raises(TruncatedMessageError, match=r"iotrack\.reads\.raw\.v1: 5 bytes"):
        CODEC.decode(_raw_read()[:5], topic="iotrack.reads.raw.v1")


def test_bytes_without_the_marker_are_not_avro():
    with pytest.raises(NotAvroError, match="C3 01"):
        CODEC.decode(b'{"json": "not avro at all"}')


def test_an_unknown_fingerprint_is_reported_with_its_hex():
    data = bytearray(_raw_read())
    data[2:10] = bytes(8)
    with pytest.raises(UnknownSchemaError, match="0000000000000000"):
        CODEC.decode(bytes(data))


def test_trailing_garbage_is_corrupt():
    with pytest.raises(CorruptMessageError, match="left over"):
        CODEC.decode(_raw_read() + b"\x00")


@given(st.binary(max_size=80))
def test_random_bytes_never_escape_as_anything_but_a_decode_error(garbage: bytes):
    with contextlib.suppress(DecodeError):
        CODEC.decode(garbage)


@given(st.binary(min_size=1, max_size=40))
def test_random_bodies_behind_a_valid_header_raise_decode_errors(body: bytes):
    header = _raw_read()[:SINGLE_OBJECT_HEADER]
    with contextlib.suppress(DecodeError):
        CODEC.decode(header + body)


def test_encoding_a_record_with_a_wrong_field_names_the_field():
    value = example(SCHEMAS.get("iotrack.RawRead"))
    value["sensor"] = "LIDAR"
    with pytest.raises(EncodeError, match="sensor"):
        CODEC.encode("iotrack.RawRead", value)


def test_encoding_a_record_with_a_missing_field_names_the_field():
    value = example(SCHEMAS.get("iotrack.RawRead"))
    del value["read_point_id"]
    with pytest.raises(EncodeError, match="read_point_id"):
        CODEC.encode("iotrack.RawRead", value)


def test_a_malformed_uuid_is_refused_when_encoding_not_when_a_consumer_reads_it():
    value = example(SCHEMAS.get("iotrack.IotState"))
    value["iot_id"] = "filler"
    with pytest.raises(EncodeError, match="not a UUID: 'filler'"):
        CODEC.encode("iotrack.IotState", value)


def _evolved_repository(tmp_path: Path) -> tuple[SchemaRepository, SchemaRepository]:
    """The real avro/ as 'old', and a copy where RawRead gained an optional field as 'new'."""
    old = SchemaRepository(AVRO_DIR)
    new_dir = tmp_path / "avro"
    (new_dir / "history").mkdir(parents=True)
    for path in AVRO_DIR.glob("*.avsc"):
        (new_dir / path.name).write_text(path.read_text())
    raw = json.loads((AVRO_DIR / "iotrack.RawRead.avsc").read_text())
    raw["fields"].append(
        {
            "name": "weather",
            "type": ["null", "string"],
            "default": None,
            "doc": "Weather at the portal, for OCR quality studies.",
        }
    )
    (new_dir / "iotrack.RawRead.avsc").write_text(json.dumps(raw))
    previous = old.get("iotrack.RawRead")
    (new_dir / "history" / f"iotrack.RawRead.v{previous.version}.avsc").write_text(
        json.dumps(previous.expanded)
    )
    return old, SchemaRepository(new_dir)


def test_bytes_written_with_a_superseded_version_decode_against_the_current(tmp_path: Path):
    old, new = _evolved_repository(tmp_path)
    value = example(old.get("iotrack.RawRead"))
    written_by_old = SingleObjectCodec(old).encode("iotrack.RawRead", value)
    decoded = SingleObjectCodec(new).decode(written_by_old)
    released = old.get("iotrack.RawRead").version
    assert decoded.writer_version == released
    assert new.get("iotrack.RawRead").version == released + 1
    assert decoded.value["weather"] is None
    assert decoded.value["raw_value"] == value["raw_value"]


def test_the_registry_framing_round_trips_through_the_mock_registry():
    codec = RegistryCodec("mock://iotrack-tests")
    value = example(SCHEMAS.get("iotrack.Passage"))
    data = codec.encode("iotrack.Passage", value, topic="iotrack.passages.v1")
    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    assert schema_id >= 1
    again = codec.encode("iotrack.Passage", value, topic="iotrack.passages.v1")
    assert again[1:5] == data[1:5], "one registration per topic and record"
    reader = RegistryCodec("mock://iotrack-tests", client=codec.client)  # fetches by id
    decoded = reader.decode(data, topic="iotrack.passages.v1")
    assert decoded.schema == "iotrack.Passage"
    assert plain(decoded.value) == plain(value)


def test_the_registry_framing_rejects_single_object_bytes_and_unknown_ids():
    codec = RegistryCodec("mock://iotrack-tests-2")
    with pytest.raises(NotAvroError):
        codec.decode(_raw_read(), topic="t")
    with pytest.raises(UnknownSchemaError, match="schema id 4242"):
        codec.decode(b"\x00" + (4242).to_bytes(4, "big") + b"\x02", topic="t")
    with pytest.raises(TruncatedMessageError):
        codec.decode(b"\x00\x00", topic="t")
