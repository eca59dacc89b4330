"""The spool keeps records in order across reopening, and forgets only what it is told to."""

from __future__ import annotations

from readers.spool import Pending, Spool


def test_records_survive_reopening_in_order(tmp_path):
    path = tmp_path / "spool.sqlite"
    spool = Spool(path)
    seqs = spool.append([Pending("t", b"k1", b"v1"), Pending("t", None, b"v2")])
    spool.append([Pending("u", b"k3", None)])
    spool.close()
    again = Spool(path)
    records = again.peek()
    assert [(r.topic, r.key, r.value) for r in records] == [
        ("t", b"k1", b"v1"),
        ("t", None, b"v2"),
        ("u", b"k3", None),
    ]
    assert [r.seq for r in records[:2]] == seqs
    assert len(again) == 3


def test_removed_records_are_gone_and_sequence_numbers_keep_growing(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite")
    first = spool.append([Pending("t", None, b"a"), Pending("t", None, b"b")])
    spool.remove(first)
    assert len(spool) == 0
    later = spool.append([Pending("t", None, b"c")])
    assert later[0] > max(first)
    assert [r.value for r in spool.peek(after=0)] == [b"c"]


def test_peek_pages_by_sequence(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite")
    spool.append([Pending("t", None, bytes([n])) for n in range(10)])
    page = spool.peek(limit=4)
    rest = spool.peek(after=page[-1].seq, limit=100)
    assert [r.value for r in page + rest] == [bytes([n]) for n in range(10)]


def test_a_quarantined_record_leaves_the_spool_with_its_reason_in_one_step(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite")
    seqs = spool.append([Pending("t", b"k", b"a"), Pending("t", None, b"b")])
    assert spool.quarantine(seqs[0], "too large")
    assert not spool.quarantine(seqs[0], "again"), "gone from the spool already"
    assert [r.value for r in spool.peek()] == [b"b"]
    [held] = spool.quarantined()
    assert (held.seq, held.key, held.value, held.reason) == (seqs[0], b"k", b"a", "too large")
    assert spool.quarantined(seqs[1]) == []
    assert spool.quarantined_count() == 1


def test_the_oldest_records_age_is_kept_and_an_older_spool_file_is_upgraded(tmp_path):
    import sqlite3
    import time

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
            " key BLOB, value BLOB)"
        )
        db.execute("INSERT INTO spool (topic, key, value) VALUES ('t', NULL, x'01')")
    db.close()
    spool = Spool(path)
    assert [r.value for r in spool.peek()] == [b"\x01"], "kept through the upgrade"
    assert 0 <= spool.oldest_age_s() < 5
    time.sleep(0.2)
    assert spool.oldest_age_s() >= 0.2
    spool.remove([r.seq for r in spool.peek()])
    assert spool.oldest_age_s() == 0.0
