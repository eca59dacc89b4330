"""The core worker's changelog: every state comes back from its bytes, a restart at any point
between batches resumes exactly, and a record the core cannot take stops the restore by name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import CoreState, Output, apply, snapshot
from streams.errors import StreamsError
from streams.replay.lines import InputEvent, read_events
from streams.workers.changelog import ChangelogError, Stored, changelog_records, restore
from tests.core_runs import Run, runs, step
from tests.streams.workers import changelog_fixture
from topics.catalog import CORE_CHANGELOG
from topics.codec import RegistryCodec, SingleObjectCodec

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
CODEC = SingleObjectCodec()


class Changelog:
    """The changelog topic as the worker leaves it: records appended at increasing offsets, and
    the latest record of each key as the worker reads it back at start."""

    def __init__(self) -> None:
        self.offset = 0
        self.latest: dict[bytes, Stored] = {}

    def write(self, records: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in records:
            if value is None:
                self.latest.pop(key, None)
            else:
                self.latest[key] = Stored(key, value, 0, self.offset)
            self.offset += 1

    def records(self) -> list[Stored]:
        return list(self.latest.values())


def _events(name: str) -> list[InputEvent]:
    return list(read_events((GOLDEN / f"{name}.in.jsonl").read_text().splitlines()))


def _run(state: CoreState, events: list) -> list[Output]:
    outputs: list[Output] = []
    for event in events:
        state, produced = apply(state, event.schema, event.value, event.sender)
        outputs += produced
    return outputs


@pytest.mark.parametrize(
    "name",
    [
        "rail-held-unit-amended-then-departs",
        "exit-attempt-while-phytosanitary-hold",
        "release-arrives-before-its-binding",
        "one-declaration-released-by-mrn-over-three-containers",
        "declaration-annulled",
        "unknown-unit-at-gate",
        "truck-with-two-containers-released-one-at-a-time",
    ],
)
def test_a_restart_from_the_changelog_after_any_event_gives_the_same_outputs(name):
    events = list(read_events((GOLDEN / f"{name}.in.jsonl").read_text().splitlines()))
    for cut in range(len(events) + 1):
        state = CoreState()
        changelog = Changelog()
        for event in events[:cut]:
            state, _ = apply(state, event.schema, event.value, event.sender)
            changelog.write(changelog_records(state, CODEC))  # one batch per event
        restarted = restore(changelog.records(), CODEC)
        assert restarted.trains == state.trains, f"trains after {cut} events"
        assert restarted.iots == state.iots, f"IOT_IDs after {cut} events"
        assert restarted == state, f"the whole state after {cut} events"
        rest = events[cut:]
        assert _run(restarted, rest) == _run(_replayed(events[:cut]), rest)


def _replayed(events: list) -> CoreState:
    state = CoreState()
    for event in events:
        state, _ = apply(state, event.schema, event.value, event.sender)
    return state


# -- the bytes: every state the core makes, through the codec ---------------------------------


@settings(max_examples=60)
@given(runs(), st.data())
def test_every_state_a_golden_like_run_makes_restores_equal_from_its_bytes(run: Run, data):
    state, changelog = run.start(), Changelog()
    for event in run.events:
        state, _ = step(state, event)
        if data.draw(st.booleans(), label="batch ends"):
            changelog.write(changelog_records(state, CODEC))
            assert restore(changelog.records(), CODEC, run.config) == state
    changelog.write(changelog_records(state, CODEC))
    assert restore(changelog.records(), CODEC, run.config) == state


@pytest.mark.parametrize(
    ("name", "cut", "kinds"),
    [
        (
            "rail-held-unit-amended-then-departs",
            None,
            {"iot", "itu", "req", "path", "seen", "train", "meta"},
        ),
        ("one-declaration-released-by-mrn-over-three-containers", None, {"decl"}),
        ("release-arrives-before-its-binding", 2, {"park"}),
        ("unknown-unit-at-gate", None, {"unres"}),
    ],
)
def test_each_record_names_its_writer_schema_and_the_key_its_kind(name, cut, kinds):
    state = CoreState()
    for event in _events(name)[:cut]:
        state, _ = apply(state, event.schema, event.value, event.sender)
    records = [(k, v) for k, v in changelog_records(state, CODEC) if v is not None]
    assert kinds <= {key.decode().partition(":")[0] for key, _ in records}
    for key, value in records:
        decoded = CODEC.decode(value)
        assert decoded.schema == snapshot.KINDS[key.decode().partition(":")[0]]
        assert value[2:10] == CODEC.schemas.get(decoded.schema).fingerprint
        for kept in (*decoded.value.get("inputs", ()), *decoded.value.get("reads", ())):
            inner = kept.get("record") or kept["passage"]  # an input event, through the codec
            assert inner[2:10] == CODEC.schemas.get(CODEC.decode(inner).schema).fingerprint


# -- what the core refuses to restore from -----------------------------------------------------


def _a_changelog(cut: int = 12) -> Changelog:
    state, changelog = CoreState(), Changelog()
    for event in _events("rail-held-unit-amended-then-departs")[:cut]:
        state, _ = apply(state, event.schema, event.value, event.sender)
        changelog.write(changelog_records(state, CODEC))
    return changelog


def _pickle_running(command: str) -> bytes:
    """What the issue's attacker wrote: a pickle (protocol 0, spelled out) that runs a shell
    command when it is loaded."""
    return b"cposix\nsystem\n(S'" + command.encode() + b"'\ntR."


HOLD = {
    "event_id": "01a2121a-8e60-7de2-862e-86fce5ec2590",
    "source": "customs",
    "occurred_at": 1_795_600_000_000,
    "iot_id": "01a2121a-8e60-768b-8a86-0d95e63c54d4",
    "hold_id": "H1",
    "agency": "CUSTOMS",
    "hold_type": "DOC",
    "reason_code": None,
    "reason": None,
    "placed_by": "officer",
}


def _waiting(record: bytes) -> bytes:
    """A ParkedInputs record whose one input is ``record``, as a HoldPlaced waiting for its
    IOT_ID."""
    parked = {
        "record_type": "iotrack.HoldPlaced",
        "record": record,
        "sender": "customs",
        "event_id": HOLD["event_id"],
        "occurred_at": HOLD["occurred_at"],
        "expires_at": HOLD["occurred_at"] + 1,
        "waits_for": f"IOT_ID {HOLD['iot_id']}",
    }
    return CODEC.encode("iotrack.state.ParkedInputs", {"inputs": [parked]})


def _bad_records(tmp_path: Path) -> list[tuple[str, bytes, bytes, str]]:
    """(case, key, value, what the error says) for every kind of record the core refuses."""
    marker = tmp_path / "ran"
    meta = CODEC.encode(
        "iotrack.state.Meta", {"watermark": 1, "next_due": None, "applied_oldest": None}
    )
    return [
        ("pickle", b"iot:x", _pickle_running(f"touch {marker}"), "does not start with C3 01"),
        ("garbage", b"iot:x", b"\x00\x01garbage", "does not start with C3 01"),
        (
            "unknown fingerprint",
            b"iot:x",
            b"\xc3\x01" + bytes(8) + meta[10:],
            "writer fingerprint 0000000000000000 is not in avro/",
        ),
        ("truncated", b"meta", meta[:-1], "body ends early for iotrack.state.Meta v"),
        ("trailing bytes", b"meta", meta + b"\x00", "1 bytes left over after iotrack.state.Meta"),
        (
            "an input on the changelog",
            b"iot:x",
            CODEC.encode("iotrack.HoldPlaced", HOLD),
            "iot:x: the record is iotrack.HoldPlaced; the key's kind (iot) holds "
            "iotrack.state.TrackedIot",
        ),
        (
            "a state record under another kind",
            b"train:T1",
            meta,
            "train:T1: the record is iotrack.state.Meta; the key's kind (train) holds "
            "iotrack.state.Train",
        ),
        ("no kind", b"hack", meta, "hack: not a key of the core's state"),
        (
            "a pickle for a waiting input",
            b"park:iot:" + HOLD["iot_id"].encode(),
            _waiting(_pickle_running(f"touch {marker}")),
            "the input it keeps: does not start with C3 01",
        ),
        (
            "an unknown writer for a waiting input",
            b"park:iot:" + HOLD["iot_id"].encode(),
            _waiting(b"\xc3\x01" + bytes(8) + CODEC.encode("iotrack.HoldPlaced", HOLD)[10:]),
            "the input it keeps: writer fingerprint 0000000000000000 is not in avro/",
        ),
        ("a key forging a log line", b"hack\nINFO ok", meta, "'hack\\nINFO ok': not a key"),
        ("not UTF-8", b"iot:\xff", meta, "key b'iot:\\xff' is not UTF-8"),
    ]


@pytest.mark.parametrize(
    "case", [c[0] for c in _bad_records(Path("/nonexistent"))], ids=lambda c: c
)
def test_a_record_the_core_cannot_take_stops_the_restore_naming_topic_partition_and_offset(
    case, tmp_path
):
    _, key, value, says = next(c for c in _bad_records(tmp_path) if c[0] == case)
    changelog = _a_changelog()
    offset = changelog.offset
    changelog.write([(key, value)])
    with pytest.raises(ChangelogError) as caught:
        restore(changelog.records(), CODEC)
    error = caught.value
    assert (error.topic, error.partition, error.offset) == (CORE_CHANGELOG.name, 0, offset)
    assert str(error).startswith(f"{CORE_CHANGELOG.name}[0]@{offset}: ")
    assert says in str(error)
    assert "\n" not in str(error)
    assert "the core does not start on a changelog it cannot read in full" in str(error)
    assert isinstance(error, StreamsError)
    assert not (tmp_path / "ran").exists()


def test_a_changelog_without_its_meta_record_stops_the_restore():
    changelog = _a_changelog()
    meta = changelog.latest.pop(b"meta")
    last = max(s.offset for s in changelog.records())
    with pytest.raises(ChangelogError, match=rf"\[0\]@{last}: .* entries and no meta entry"):
        restore(changelog.records(), CODEC)
    assert meta.offset > last


def test_a_changelog_missing_an_entry_or_holding_one_more_stops_the_restore():
    changelog = _a_changelog()
    meta = changelog.latest[b"meta"]
    entries = len(changelog.records()) - 1
    assert CODEC.decode(meta.value).value["entries"] == entries
    lost = next(r for r in changelog.records() if r.key.startswith(b"iot:"))
    missing = [r for r in changelog.records() if r is not lost]
    at = rf"{CORE_CHANGELOG.name}\[0\]@{meta.offset}: meta: the state had {entries} entries"
    with pytest.raises(ChangelogError, match=at + rf", the changelog holds {entries - 1}"):
        restore(missing, CODEC)
    seen = CODEC.encode("iotrack.state.InputSeen", {"at": 1})
    changelog.write([(b"seen:forged", seen)])
    with pytest.raises(ChangelogError, match=at + rf", the changelog holds {entries + 1}"):
        restore(changelog.records(), CODEC)


def test_a_bad_record_superseded_by_a_good_one_is_no_longer_state():
    changelog = _a_changelog()
    good = changelog.latest[b"meta"]
    changelog.write([(b"meta", b"garbage")])
    changelog.write([(b"meta", good.value)])
    assert restore(changelog.records(), CODEC) == restore(_a_changelog().records(), CODEC)


def test_an_empty_changelog_is_an_empty_state():
    assert restore([], CODEC) == CoreState()


# -- a changelog of an earlier release ---------------------------------------------------------


def test_a_changelog_written_with_version_1_restores_the_state_and_outputs_of_a_core_that_ran():
    records = changelog_fixture.read()
    assert {CODEC.decode(r.value).writer_version for r in records} == {1}
    # v1 bytes, read by later versions: Meta with its count of entries, TrackedIot with its
    # clearance's declarations (none in a v1 changelog) and whether its MRNs are a party's claim
    # (none were), UnitBindings with when a gate last read a unit on a carrier (not known)
    assert CODEC.schemas.get("iotrack.state.Meta").version == 2
    assert CODEC.schemas.get("iotrack.state.TrackedIot").version == 3
    assert CODEC.schemas.get("iotrack.state.UnitBindings").version == 2
    events = changelog_fixture.events()
    cut = changelog_fixture.CUT
    ran = _replayed(events[:cut])  # a core that ran all along
    ran.take_changes()
    restored = restore(records, CODEC)
    # A v1 changelog remembers an input by its id alone (seen:<event_id>, before redeliveries
    # were told apart per party): restored so, and recognised from any party until the horizon.
    assert restored.applied == {k.partition(":")[2]: at for k, at in ran.applied.items()}
    assert replace(restored, applied=ran.applied) == ran
    [train] = restored.trains.values()
    assert train.permission is not None
    assert not train.permission.granted
    assert any(t.clearance.open_holds() for t in restored.iots.values())
    after = _run(restored, events[cut:])
    assert after == _run(ran, events[cut:])
    assert [t.phase for t in restored.trains.values()] == ["DEPARTED"]
    # The releases, hold, loading list and manifest applied before the changelog was taken,
    # delivered again to the restored core: redeliveries, not applied again.
    again = restore(records, CODEC)
    for event in events[5:cut]:
        assert apply(again, event.schema, event.value, event.sender)[1] == [], event.schema


def test_with_a_schema_registry_the_inputs_a_state_keeps_go_through_it_too():
    codec = RegistryCodec("mock://iotrack-changelog")
    state = CoreState()
    for event in _events("release-arrives-before-its-binding")[:2]:
        state, _ = apply(state, event.schema, event.value, event.sender)
    assert state.parked  # the release waits for its IOT_ID
    changelog = Changelog()
    changelog.write(changelog_records(state, codec))
    [park] = [r for r in changelog.records() if r.key.startswith(b"park:")]
    [kept] = codec.decode(park.value, topic=CORE_CHANGELOG.name).value["inputs"]
    assert kept["record"][:1] == b"\x00"  # the registry's framing, not single-object
    reader = RegistryCodec("mock://iotrack-changelog", client=codec.client)  # fetches by id
    assert restore(changelog.records(), reader) == state
