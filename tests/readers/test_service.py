"""A reader answers per payload and spools reads and dead letters together, before answering."""

from __future__ import annotations

import json

from readers.adapters import ReadPoint
from readers.service import ReaderService, split_body
from readers.spool import Spool
from topics.catalog import DEAD_LETTERS, RAW_READS
from topics.codec import SingleObjectCodec

CODEC = SingleObjectCodec()
SCAN = {
    "device_id": "scanner-1",
    "scanned_at": "2026-11-25T10:00:00Z",
    "data": "06DE586600006143E1",
}


def test_good_and_bad_payloads_of_one_batch_are_answered_and_spooled_in_order(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite")
    service = ReaderService("barcode", ReadPoint("GATE-L1", "GATE"), spool, CODEC)
    outcomes = service.accept([json.dumps(SCAN).encode(), b"{broken", json.dumps(SCAN).encode()])
    assert [o.error is None for o in outcomes] == [True, False, True]
    assert outcomes[0].event_ids == outcomes[2].event_ids, "a resent scan keeps its id"
    assert outcomes[1].error.startswith("barcode payload: not JSON")
    records = spool.peek()
    assert [r.topic for r in records] == [RAW_READS.name, DEAD_LETTERS.name, RAW_READS.name]
    letter = CODEC.decode(records[1].value).value
    assert letter["original_value"] == b"{broken"
    assert letter["reader_id"] == "barcode@GATE-L1"
    assert letter["source_topic"] is None
    assert records[0].key == b"GATE-L1"
    assert service.stats.dead_letters == 1


def test_bodies_split_into_payloads():
    assert split_body(b'{"a": 1}', "application/json") == [b'{"a": 1}']
    assert split_body(b'[{"a": 1}, {"b": 2}]', "application/json") == [b'{"a":1}', b'{"b":2}']
    assert split_body(b'{"a": 1}\n\n{"b": 2}\n', "application/x-ndjson") == [
        b'{"a": 1}',
        b'{"b": 2}',
    ]
    assert split_body(b"[not json", "application/json") == [b"[not json"]
