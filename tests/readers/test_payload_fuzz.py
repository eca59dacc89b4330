"""Fuzzing what comes from outside, bounded (a few hundred inputs each, in ``make test``): a
device payload, a rail file, the bytes of a record. Each starts from a valid input and is
mutated at random (a value anywhere replaced by any JSON value, a key dropped or added, bytes
flipped, cut or inserted); nothing may raise but the module's own error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.adapters import ReadPoint
from readers.errors import PayloadError
from readers.rail_files import RailFileError, loading_list_items, manifest_wagons, portal_wagons
from readers.service import ReaderService
from readers.spool import Spool
from topics.codec import SingleObjectCodec
from topics.errors import DecodeError

CODEC = SingleObjectCodec()
POINT = ReadPoint("GATE-1-L1", "GATE-1")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID: dict[str, dict[str, Any]] = {
    "ocr": {
        "device_id": "ocr-1",
        "passage_ref": "17",
        "lane": "2",
        "direction": "OUT",
        "captured_at": "2026-11-25T10:15:02.120Z",
        "containers": [
            {
                "code": "CSQU3O54383",
                "confidence": 0.71,
                "candidates": [{"code": "CSQU3054383", "confidence": 0.44}],
            }
        ],
        "truck_plate": {"text": "AB123CD", "country": "it", "confidence": 0.95},
        "seals": [{"present": True, "text": "SL0012345"}, {"present": False}],
    },
    "rfid": {
        "device_id": "rfid-1",
        "lane": "2",
        "reads": [
            {
                "at": 1795644902410,
                "antenna": 2,
                "rssi": -51.5,
                "tag": {"type": "iso10891", "container": "CSQU3054383"},
            },
            {"at": 1795644902530, "tag": {"type": "eseal", "id": "ES0004711"}},
        ],
    },
    "barcode": {
        "device_id": "scan-1",
        "scanned_at": 1795644904000,
        "data": "0194a3c2-7d1e-7b2a-9f00-3c5e2d1a8b77",
    },
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, -1e308, 10**23, -1, 0, 2**63, "2026-11-25T10:15:02Z", ""])
    | st.text(max_size=30)
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def _dropped(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1 and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != path[0]}
    if len(path) == 1:
        return [v for i, v in enumerate(value) if i != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _dropped(value[head], path[1:])}
    return [_dropped(v, path[1:]) if i == head else v for i, v in enumerate(value)]


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """``valid`` with one to three random changes."""
    value = valid
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(value)))
        if path and draw(st.booleans()):
            value = _dropped(value, path)
        else:
            value = _replaced(value, path, draw(json_values))
    return value


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ReaderService]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    return {
        kind: ReaderService(kind, POINT, Spool(folder / f"{kind}.sqlite"), CODEC) for kind in VALID
    }


def _refusal(call: Callable[[], object], error: type[Exception]) -> str | None:
    """What ``call`` refused with (``error`` only: anything else escapes), or None."""
    try:
        call()
    except error as exc:
        return str(exc)
    return None


def _payload_error_or_reads(service: ReaderService, payload: bytes) -> None:
    # The parse and the encoding of one payload, as ``accept`` does them.
    assert _refusal(lambda: service._reads(payload), PayloadError) != "", "a refusal says why"


@pytest.mark.parametrize("kind", sorted(VALID))
@FUZZ
@given(data=st.data())
def test_a_mutated_device_payload_is_read_or_refused_with_a_payload_error(
    services: dict[str, ReaderService], kind: str, data: st.DataObject
) -> None:
    document = data.draw(mutated(VALID[kind]))
    _payload_error_or_reads(services[kind], json.dumps(document).encode())


@pytest.mark.parametrize("kind", sorted(VALID))
@FUZZ
@given(data=st.data())
def test_a_payload_with_its_bytes_cut_flipped_or_spliced_is_refused_cleanly(
    services: dict[str, ReaderService], kind: str, data: st.DataObject
) -> None:
    raw = bytearray(json.dumps(VALID[kind]).encode())
    at = data.draw(st.integers(0, len(raw) - 1))
    change = data.draw(st.sampled_from(["cut", "flip", "insert"]))
    if change == "cut":
        raw = raw[:at]
    elif change == "flip":
        raw[at] ^= 1 << data.draw(st.integers(0, 7))
    else:
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    _payload_error_or_reads(services[kind], bytes(raw))


RAIL_VALID = {
    loading_list_items: [
        {"position": 1, "unit": "CSQU3054383", "kind": "CONTAINER", "mrn": "26IT000000000000013"}
    ],
    manifest_wagons: {
        "wagons": [
            {
                "position": 1,
                "wagon": "318042900113",
                "units": [{"unit": "CSQU3054383", "kind": "CONTAINER"}],
                "mrns": ["26IT000000000000013"],
            }
        ]
    },
    portal_wagons: [{"position": 1, "wagon": "318042900113", "units": ["CSQU3054383"]}],
}


@pytest.mark.parametrize("parse", list(RAIL_VALID), ids=lambda f: f.__name__)
@FUZZ
@given(data=st.data())
def test_a_mutated_rail_file_is_read_or_refused_with_a_rail_file_error(
    parse: Any, data: st.DataObject
) -> None:
    text = json.dumps(data.draw(mutated(RAIL_VALID[parse])))
    assert _refusal(lambda: parse(text), RailFileError) != "", "a refusal says what is wrong"


@FUZZ
@given(data=st.data())
def test_a_valid_record_with_its_bytes_damaged_decodes_or_raises_a_decode_error(
    services: dict[str, ReaderService], data: st.DataObject
) -> None:
    reads, _ = services["ocr"]._reads(json.dumps(VALID["ocr"]).encode())
    raw = bytearray(CODEC.encode("iotrack.RawRead", reads[0], topic="iotrack.reads.raw.v1"))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        if data.draw(st.booleans()):
            raw[at] = data.draw(st.integers(0, 255))
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    damaged = bytes(raw)
    assert _refusal(lambda: CODEC.decode(damaged, topic="iotrack.reads.raw.v1"), DecodeError) != ""
