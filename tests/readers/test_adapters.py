"""Device payloads become raw reads; what cannot be understood says where and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from readers.adapters import ReadPoint, parse_barcode, parse_ocr, parse_rfid
from readers.errors import PayloadError

POINT = ReadPoint("PORT-GATE-1-L2", "PORT-GATE-1")
OCR = {
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
    "images": ["https://ocr.example/1.jpg"],
}


def _bytes(document: object) -> bytes:
    return json.dumps(document).encode()


def test_an_ocr_passage_becomes_one_read_per_unit_plate_and_seal():
    reads = parse_ocr(_bytes(OCR), POINT)
    assert [(r["itu_kind"], r["raw_value"]) for r in reads] == [
        ("CONTAINER", "CSQU3O54383"),
        ("PLATE", "AB123CD"),
        ("SEAL", "SL0012345"),
    ]
    container = reads[0]
    captured = datetime(2026, 11, 25, 10, 15, 2, 120000, tzinfo=UTC)
    assert container["occurred_at"] == int(captured.timestamp()) * 1000 + 120
    assert container["candidates"] == [
        {"value": "CSQU3O54383", "confidence": 0.71},
        {"value": "CSQU3054383", "confidence": 0.44},
    ]
    assert reads[1]["country"] == "IT"
    assert {r["read_point_id"] for r in reads} == {"PORT-GATE-1-L2"}
    assert {r["image_ref"] for r in reads} == {"https://ocr.example/1.jpg"}


def test_the_same_payload_twice_gives_the_same_event_ids():
    first = [r["event_id"] for r in parse_ocr(_bytes(OCR), POINT)]
    again = [r["event_id"] for r in parse_ocr(_bytes(OCR), POINT)]
    assert first == again
    assert len(set(first)) == len(first)
    other = [r["event_id"] for r in parse_ocr(_bytes({**OCR, "passage_ref": "18"}), POINT)]
    assert not set(other) & set(first)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"captured_at": "yesterday"}, "captured_at: expected an ISO 8601 time"),
        ({"captured_at": "2026-11-25T10:15:02"}, "has no time zone"),
        ({"direction": "SIDEWAYS"}, "direction: expected one of IN, OUT, UNKNOWN"),
        ({"containers": [{"code": ""}]}, r"containers\[0\]\.code: expected a non-empty string"),
        ({"containers": [{"code": "X", "confidence": 7}]}, r"containers\[0\]\.confidence"),
        ({"truck_plate": {"text": "AB123CD", "country": "ITA"}}, "truck_plate.country"),
        ({"device_id": None}, "device_id"),
        ({"read_point": "ELSEWHERE"}, "this reader serves 'PORT-GATE-1-L2'"),
    ],
)
def test_a_bad_ocr_field_is_named_with_its_path(change, message):
    with pytest.raises(PayloadError, match=message):
        parse_ocr(_bytes({**OCR, **change}), POINT)


def test_an_ocr_payload_naming_nothing_is_refused():
    empty = {k: v for k, v in OCR.items() if k not in ("containers", "truck_plate", "seals")}
    with pytest.raises(PayloadError, match="names no container"):
        parse_ocr(_bytes(empty), POINT)


@pytest.mark.parametrize("garbage", [b"\x00\xffnope", b"[1, 2", b'"a string"', b"[]"])
def test_garbage_is_refused_as_a_payload_error(garbage):
    with pytest.raises(PayloadError):
        parse_ocr(garbage, POINT)


def test_rfid_tag_reads_keep_antenna_and_signal_strength():
    payload = {
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
    }
    reads = parse_rfid(_bytes(payload), POINT)
    assert [(r["itu_kind"], r["antenna"], r["rssi"]) for r in reads] == [
        ("CONTAINER", 2, -51.5),
        ("SEAL", None, None),
    ]
    assert all(r["sensor"] == "RFID" for r in reads)


def test_an_unknown_rfid_tag_type_is_named():
    read = {"at": 1_795_600_000_000, "tag": {"type": "epc96"}}
    payload = {"device_id": "rfid-1", "reads": [read]}
    with pytest.raises(PayloadError, match=r"reads\[0\]\.tag\.type"):
        parse_rfid(_bytes(payload), POINT)


def test_a_barcode_carries_an_iot_id_or_a_valid_mrn():
    scan = {"device_id": "scan-1", "scanned_at": 1795644904000}
    iot = parse_barcode(_bytes({**scan, "data": "0194a3c2-7d1e-7b2a-9f00-3c5e2d1a8b77"}), POINT)
    assert iot[0]["sensor"] == "BARCODE"
    assert parse_barcode(_bytes({**scan, "data": "06DE586600006143E1"}), POINT)
    with pytest.raises(PayloadError, match="neither an IOT_ID"):
        parse_barcode(_bytes({**scan, "data": "06DE586600006143E2"}), POINT)
