"""Passage fusion: every read lands in exactly one passage, replays give the same passages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.events import RawRead, parse
from processors.fusion import FusionConfig, FusionState, advance, flush
from processors.ids import deterministic_uuid7

T0 = 1_795_644_902_000
CONFIG = FusionConfig(gap_ms=4000)


def _read(
    n: int,
    at: int,
    sensor: str,
    value: str,
    *,
    lane: str = "2",
    kind: str | None = "CONTAINER",
    candidates: list[dict[str, object]] | None = None,
    point: str = "GATE-L2",
) -> RawRead:
    value = {
        "event_id": deterministic_uuid7(at, "test", str(n)),
        "source": "test",
        "occurred_at": at,
        "reader_id": f"{sensor.lower()}-1",
        "read_point_id": point,
        "node_id": "PORT-GATE-1",
        "sensor": sensor,
        "lane": lane,
        "raw_value": value,
        "candidates": candidates or [],
        "direction": "OUT",
        "image_ref": None,
        "payload_ref": None,
        "itu_kind": kind,
        "antenna": None,
        "rssi": None,
        "country": None,
    }
    read = parse("iotrack.RawRead", value)
    assert isinstance(read, RawRead)
    return read


def _run(reads: list[RawRead]) -> list[dict[str, object]]:
    state, out = FusionState(), []
    for read in reads:
        state, passages = advance(state, read, CONFIG)
        out.extend(passages)
    state, passages = flush(state)
    out.extend(passages)
    assert not state.open
    return out


def test_ocr_and_rfid_of_one_truck_fuse_into_one_agreeing_passage():
    reads = [_read(0, T0, "OCR", "CSQU3054383")] + [
        _read(n, T0 + 100 * n, "RFID", "CSQU3054383") for n in range(1, 8)
    ]
    [passage] = _run(reads)
    assert passage["sensors_agree"] is True
    assert passage["identifiers"] == [
        {
            "kind": "CONTAINER",
            "value": "CSQU3054383",
            "country": None,
            "seal_class": None,
            "issuer": None,
        }
    ]
    rfid = next(e for e in passage["evidence"] if e["sensor"] == "RFID")
    assert rfid["read_count"] == 7
    assert (passage["started_at"], passage["ended_at"]) == (T0, T0 + 700)


def test_disagreeing_sensors_are_flagged_and_both_values_kept():
    reads = [_read(0, T0, "OCR", "TCNU7200794"), _read(1, T0 + 200, "RFID", "CSQU3054383")]
    [passage] = _run(reads)
    assert passage["sensors_agree"] is False
    assert {i["value"] for i in passage["identifiers"]} == {"TCNU7200794", "CSQU3054383"}


def test_an_ocr_misread_is_repaired_with_the_rfid_tag_as_the_expected_unit():
    reads = [_read(0, T0, "OCR", "CSQU3O54383"), _read(1, T0 + 200, "RFID", "CSQU3054383")]
    [passage] = _run(reads)
    ocr = next(e for e in passage["evidence"] if e["sensor"] == "OCR")
    assert (ocr["repair"], ocr["value"]) == ("REPAIRED", "CSQU3054383")
    assert passage["sensors_agree"] is True


def test_reads_further_apart_than_the_gap_are_two_passages():
    passages = _run(
        [_read(0, T0, "OCR", "CSQU3054383"), _read(1, T0 + 60_000, "OCR", "TCNU7200794")]
    )
    assert [p["identifiers"][0]["value"] for p in passages] == ["CSQU3054383", "TCNU7200794"]


def test_a_read_later_than_the_allowed_lateness_is_counted_not_made_a_passage():
    state, _ = advance(FusionState(), _read(0, T0, "OCR", "CSQU3054383"), CONFIG)
    state, closed = advance(state, _read(1, T0 + 60_000, "OCR", "TCNU7200794"), CONFIG)
    assert len(closed) == 1
    state, late = advance(state, _read(2, T0 + 500, "RFID", "CSQU3054383"), CONFIG)
    assert late == []
    assert state.late_reads == 1
    assert len(state.open_passages()) == 1


def test_another_sensor_may_lag_within_the_lateness_and_still_joins():
    state, _ = advance(FusionState(), _read(0, T0, "OCR", "CSQU3O54383"), CONFIG)
    state, closed = advance(state, _read(1, T0 + 9_000, "OCR", "TCNU7200794"), CONFIG)
    assert closed == []
    state, _ = advance(state, _read(2, T0 + 300, "RFID", "CSQU3054383"), CONFIG)
    state, passages = flush(state)
    first = passages[0]
    assert {e["sensor"] for e in first["evidence"]} == {"OCR", "RFID"}
    assert first["identifiers"][0]["value"] == "CSQU3054383"


def test_barcodes_fill_iot_ids_and_mrns():
    iot_id = "0194a3c2-7d1e-7b2a-9f00-3c5e2d1a8b77"
    reads = [
        _read(0, T0, "BARCODE", iot_id, kind=None),
        _read(1, T0 + 10, "BARCODE", "06DE586600006143E1", kind=None),
    ]
    [passage] = _run(reads)
    assert passage["iot_ids"] == [iot_id]
    assert passage["mrns"] == ["06DE586600006143E1"]
    assert passage["identifiers"] == []


lanes = st.sampled_from(["1", "2", "3"])
sensors = st.sampled_from(["OCR", "RFID"])
values = st.sampled_from(["CSQU3054383", "TCNU7200794", "CSQU3O54383", "MSKU6011672"])


@st.composite
def read_streams(draw: st.DrawFn) -> list[RawRead]:
    steps = draw(st.lists(st.tuples(st.integers(0, 9000), lanes, sensors, values), max_size=40))
    at, reads = T0, []
    for n, (step, lane, sensor, value) in enumerate(steps):
        at += step
        reads.append(_read(n, at, sensor, value, lane=lane))
    return reads


@given(read_streams())
def test_every_read_is_in_exactly_one_passage_and_replays_are_identical(reads):
    passages = _run(reads)
    counted = sum(e["read_count"] for p in passages for e in p["evidence"])
    assert counted == len(reads)
    assert _run(reads) == passages
    ids = [p["event_id"] for p in passages]
    assert len(ids) == len(set(ids))


@given(read_streams())
def test_a_redelivered_read_changes_nothing(reads):
    doubled = [r for read in reads for r in (read, read)]
    assert _run(doubled) == _run(reads)
