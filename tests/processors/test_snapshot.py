"""The core's state as plain records: every value the core makes comes back equal, and each
state class has exactly the fields of its ``avro/`` record, so a field added to one without the
other fails here."""

from __future__ import annotations

import dataclasses
import itertools
import re
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors import clearance, mission, rail
from processors.binding import Interval
from processors.core import (
    Channel,
    CoreConfig,
    CoreState,
    ManifestVersion,
    Permission,
    Tracked,
    Train,
    UnitAnswer,
    snapshot,
)
from processors.core.snapshot import arrival, tracking, trains
from processors.core.state import Declared, Parked, UnresolvedRead
from processors.events import Itu, LoadingListItem, WagonEntry, parse
from processors.identifiers.itu import is_carrier
from streams.workers.changelog import KeptInputs
from tests.core_runs import MINUTE, Run, runs, scenarios, step
from topics.codec import SingleObjectCodec
from topics.schemas import repository

SCHEMAS = repository()
INPUTS = KeptInputs(SingleObjectCodec())
"""The worker's codec for the inputs the state keeps."""

CLASSES: dict[str, type] = {
    "iotrack.state.TrackedIot": Tracked,
    "iotrack.state.Position": mission.Position,
    "iotrack.state.MissionPath": mission.MissionPath,
    "iotrack.MissionNode": mission.PathNode,
    "iotrack.state.Clearance": clearance.Clearance,
    "iotrack.state.Hold": clearance.Hold,
    "iotrack.state.JournalEntry": clearance.JournalEntry,
    "iotrack.state.BindingInterval": Interval,
    "iotrack.state.Train": Train,
    "iotrack.state.UnitAnswer": UnitAnswer,
    "iotrack.state.ManifestVersion": ManifestVersion,
    "iotrack.state.Permission": Permission,
    "iotrack.state.Reason": rail.Reason,
    "iotrack.ItuIdentifier": Itu,
    "iotrack.LoadingListItem": LoadingListItem,
    "iotrack.WagonEntry": WagonEntry,
    "iotrack.state.Declaration": Declared,
    "iotrack.state.ParkedInput": Parked,
    "iotrack.state.UnresolvedRead": UnresolvedRead,
    "iotrack.state.Meta": snapshot.Meta,
}
"""The class each record of the state holds."""
HOLDERS = {
    "iotrack.state.UnitBindings": "a unit's intervals, under its ITU key",
    "iotrack.state.BindingRequest": "the IOT_ID of a request, under its request id",
    "iotrack.state.InputSeen": "the time of an input, under its event id",
    "iotrack.MissionLeg": "one item of MissionPath.budgets_ms",
    "iotrack.state.ParkedInputs": "the inputs waiting for one IOT_ID or path, under its key",
    "iotrack.state.UnresolvedReads": "a unit's passages kept for a late binding, under its key",
}
"""Records that hold a value of no class of its own."""
RENAMED = {
    ("iotrack.state.MissionPath", "legs"): "budgets_ms",
    ("iotrack.state.ParkedInput", "record"): "record_json",
    ("iotrack.state.UnresolvedRead", "passage"): "passage_json",
}
"""Schema fields that hold a class's field of another name (a kept input's record: the class
keeps its JSON text, the record its bytes through the codec)."""
SCHEMA_ONLY = {("iotrack.MissionNode", "name")}
"""Schema fields of a record reused from the events that the state does not keep (written
null)."""
ENUMS: dict[str, type[StrEnum]] = {
    "iotrack.state.PathPhase": mission.Phase,
    "iotrack.state.HoldState": clearance.HoldState,
    "iotrack.state.ReasonCode": rail.ReasonCode,
    "iotrack.TrainPhase": rail.TrainPhase,
}
"""Enums whose symbols are a Python enum's members."""
TEXT_ENUMS = {
    "iotrack.ItuKind",
    "iotrack.NodeKind",
    "iotrack.NodeRole",
    "iotrack.Agency",
    "iotrack.DeclarationState",
}
"""Enums of the events that the state keeps as text (checked where the events are parsed)."""


def _named_types(schema: Any, found: dict[str, Any]) -> dict[str, Any]:
    """Every named type in an expanded schema, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, found)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind in ("record", "enum"):
            full = f"{schema['namespace']}.{schema['name']}"
            found[full] = schema
            for field in schema.get("fields", ()):
                _named_types(field["type"], found)
        elif kind == "array":
            _named_types(schema["items"], found)
        elif kind == "map":
            _named_types(schema["values"], found)
        else:
            _named_types(kind, found)
    return found


def _state_types() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for record_type in snapshot.RECORD_TYPES:
        _named_types(SCHEMAS.get(record_type).expanded, found)
    return found


def _class_fields(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return list(cls._fields)  # type: ignore[attr-defined] # a NamedTuple


def test_every_named_type_of_the_changelog_is_held_to_a_class_or_declared():
    named = _state_types()
    records = {n for n, s in named.items() if s["type"] == "record"}
    enums = {n for n, s in named.items() if s["type"] == "enum"}
    assert records == set(CLASSES) | set(HOLDERS)
    assert enums == set(ENUMS) | TEXT_ENUMS


@pytest.mark.parametrize("record_type", sorted(CLASSES))
def test_each_state_class_has_the_fields_of_its_record_in_its_order(record_type):
    schema = SCHEMAS.get(record_type).expanded
    fields = [
        RENAMED.get((record_type, f["name"]), f["name"])
        for f in schema["fields"]
        if (record_type, f["name"]) not in SCHEMA_ONLY
    ]
    assert _class_fields(CLASSES[record_type]) == fields, (
        f"{CLASSES[record_type].__name__} and {record_type} differ: a field added to one needs "
        "the other (iotrack schemas archive, a field with a default, iotrack schemas lock) and "
        "a line in each of its functions in processors/core/snapshot/"
    )


@pytest.mark.parametrize("enum_type", sorted(ENUMS))
def test_each_state_enum_has_the_symbols_of_its_python_enum(enum_type):
    schema = _state_types()[enum_type]
    assert schema["symbols"] == [member.value for member in ENUMS[enum_type]]


def test_the_record_types_of_the_kinds_are_the_changelogs():
    assert set(snapshot.KINDS.values()) == set(snapshot.RECORD_TYPES)
    assert all(name in SCHEMAS.current for name in snapshot.RECORD_TYPES)


def _plain(value: Any) -> Any:
    """A copy of a record as the codec gives it back, sharing nothing with it; TypeError on a
    value that is not plain (text, numbers, booleans, null, bytes, lists, maps)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bytes)):
        return value
    raise TypeError(f"not a plain value: {value!r}")


def _round_trip_each_value(state: CoreState) -> None:
    for tracked in state.iots.values():
        record = _plain(tracking.tracked_record(tracked))
        assert tracking.tracked_from(record) == tracked
    for train in state.trains.values():
        record = _plain(trains.train_record(train))
        assert trains.train_from(record) == train
    for declared in state.declarations.values():
        assert arrival.declared_from(_plain(arrival.declared_record(declared))) == declared
    for waiting in state.parked.values():
        for parked in waiting:
            record = _plain(arrival.parked_record(parked, INPUTS))
            assert arrival.parked_from(record, INPUTS) == parked
    for reads in state.unresolved.values():
        for read in reads:
            record = _plain(arrival.unresolved_record(read, INPUTS))
            assert arrival.unresolved_from(record, INPUTS) == read
    for path in state.paths.values():
        assert tracking.path_from(tracking.path_record(path)) == path
    for intervals in state.ledger.intervals.values():
        for interval in intervals:
            assert tracking.interval_from(tracking.interval_record(interval)) == interval
    meta = snapshot.meta_of(state)
    assert snapshot.meta_from(snapshot.meta_record(meta)) == meta


def _write(entries: dict[str, snapshot.Entry], state: CoreState) -> None:
    """One batch's entries onto the latest entry of each key, as the changelog keeps them."""
    for entry in snapshot.changed(state, INPUTS):
        if entry.record is None:
            entries.pop(entry.key, None)
        else:
            entries[entry.key] = entry


def _restored(entries: dict[str, snapshot.Entry], state: CoreState) -> CoreState:
    restorer = snapshot.Restorer(state.config, INPUTS)
    for entry in entries.values():
        assert entry.record is not None
        restorer.take(entry.key, entry.record_type, _plain(entry.record))
    return restorer.finish()


@settings(max_examples=150)
@given(runs(), st.data())
def test_every_state_a_golden_like_run_makes_comes_back_equal(run: Run, data):
    state = run.start()
    entries: dict[str, snapshot.Entry] = {}
    for event in run.events:
        state, _ = step(state, event)
        if data.draw(st.booleans(), label="batch ends"):
            _round_trip_each_value(state)
            _write(entries, state)
            assert _restored(entries, state) == state
    _write(entries, state)
    assert _restored(entries, state) == state


def _features(state: CoreState) -> set[str]:
    """What a state holds, in words."""
    iots, trains_ = list(state.iots.values()), list(state.trains.values())
    found = {f"IOT_ID {t.position.phase}" for t in iots} | {f"train {t.phase}" for t in trains_}
    found |= {f"hold {h.state}" for t in iots for h in t.clearance.holds.values()}
    facts = {
        "released": any(t.clearance.released for t in iots),
        "exited": any(t.clearance.exited_at for t in iots),
        "refused command": any(not e.accepted for t in iots for e in t.clearance.journal),
        "manifest amended": any(len(t.manifests) > 1 for t in trains_),
        "permission refused": any(t.permission and not t.permission.granted for t in trains_),
        "binding ended": any(i.valid_to for v in state.ledger.intervals.values() for i in v),
        "carrier carrying": any(
            is_carrier(k) and any(i.valid_to is None for i in v)
            for k, v in state.ledger.intervals.items()
        ),
        "carrier seen since bound": any(
            i.seen_at is not None for v in state.ledger.intervals.values() for i in v
        ),
        "MRN declared on an IOT_ID": any(t.clearance.declared for t in iots),
        "MRNs a party's claim": any(t.clearance.claimed for t in iots),
        "input waiting for an IOT_ID": any(k.startswith("iot:") for k in state.parked),
        "input waiting for a path": any(k.startswith("path:") for k in state.parked),
        "passage kept": bool(state.unresolved),
    }
    found |= {f"declaration {d.state}" for d in state.declarations.values()}
    return found | {fact for fact, holds in facts.items() if holds}


def test_the_runs_reach_what_the_state_can_hold():
    """The property above is only as good as the states it goes through: the golden scenarios,
    each alone, all one after the other and all in reverse order (so that inputs come before
    what they refer to), with the default horizons and short ones (as the runs draw them), reach
    every phase of an IOT_ID and of a train, holds open and lifted, releases, exits, refused
    commands, amended manifests, refused permissions, ended bindings, carriers (and units read
    on them since), declarations in their states and on IOT_IDs, inputs waiting for an IOT_ID or
    a path and passages kept for a late binding, retirements, forgotten input ids, and waits
    that ended."""
    seen: set[str] = set()
    every = tuple(itertools.chain(*scenarios().values()))
    short = CoreConfig(retire_after_ms=MINUTE, dedupe_horizon_ms=MINUTE, park_wait_ms=MINUTE)
    full = CoreConfig(park_limit_per_key=1, park_limit=2)
    for config in (CoreConfig(), short, full):
        for events in (*scenarios().values(), every, every[::-1]):
            state = CoreState(config=config)
            for event in events:
                before_iots, before_seen = set(state.iots), set(state.applied)
                before_waits = _waits(state)
                state, outputs = step(state, event)
                seen |= _features(state)
                seen |= {
                    f"refused: {o.value['error_kind']}"
                    for o in outputs
                    if o.channel is Channel.REFUSALS and o.value
                }
                seen |= {"IOT_ID retired"} if before_iots - set(state.iots) else set()
                seen |= {"input forgotten"} if before_seen - set(state.applied) else set()
                seen |= {"wait ended"} if before_waits - _waits(state) else set()
    expected = {f"IOT_ID {p}" for p in mission.Phase}
    expected |= {f"train {p}" for p in rail.TrainPhase}
    expected |= {"hold OPEN", "hold LIFTED", "released", "exited", "refused command"}
    expected |= {"manifest amended", "permission refused", "binding ended", "carrier carrying"}
    expected |= {"carrier seen since bound", "MRNs a party's claim"}
    expected |= {f"declaration {s}" for s in ("RELEASED", "UNDER_CONTROL", "ANNULLED")}
    expected |= {"MRN declared on an IOT_ID", "passage kept"}
    expected |= {"input waiting for an IOT_ID", "input waiting for a path"}
    expected |= {"IOT_ID retired", "input forgotten", "wait ended"}
    expected |= {"refused: NeverAppeared", "refused: TooManyWaiting"}
    assert expected <= seen, sorted(expected - seen)


def _waits(state: CoreState) -> set[str]:
    """The event ids of the inputs waiting and the passages kept."""
    found = {p.event_id for v in state.parked.values() for p in v}
    return found | {r.passage().event_id for v in state.unresolved.values() for r in v}


@pytest.mark.parametrize(
    ("key", "record_type", "record", "message"),
    [
        ("nope:x", "iotrack.state.Meta", {}, "nope:x: not a key of the core's state"),
        ("iot", "iotrack.state.TrackedIot", {}, "iot: not a key"),
        ("meta:x", "iotrack.state.Meta", {}, "meta:x: not a key"),
        ("iot:", "iotrack.state.TrackedIot", {}, "iot:: not a key"),
        ("iot:x", "iotrack.HoldPlaced", {}, "iot:x: the record is iotrack.HoldPlaced"),
        ("seen:e1", "iotrack.state.InputSeen", {}, "does not fit its type (KeyError: 'at')"),
        ("path:A", "iotrack.state.MissionPath", None, "does not fit its type"),
    ],
)
def test_an_entry_that_is_not_the_states_is_refused_naming_its_key(
    key, record_type, record, message
):
    with pytest.raises(snapshot.SnapshotError, match=re.escape(message)):
        snapshot.Restorer(CoreState().config, INPUTS).take(key, record_type, record)


def test_a_record_under_the_key_of_another_is_refused():
    path = mission.MissionPath("A", 1, (), {})
    with pytest.raises(snapshot.SnapshotError, match=r"path:B: .* the record is of A"):
        snapshot.Restorer(CoreState().config, INPUTS).take(
            "path:B", "iotrack.state.MissionPath", tracking.path_record(path)
        )


def test_entries_without_the_meta_entry_are_refused():
    restorer = snapshot.Restorer(CoreState().config, INPUTS)
    restorer.take("seen:e1", "iotrack.state.InputSeen", {"at": 1})
    with pytest.raises(snapshot.SnapshotError, match="1 entries and no meta entry"):
        restorer.finish()


# -- the inputs the state keeps ----------------------------------------------------------------


def _waiting_release() -> tuple[str, Any]:
    """The key and record of the entry of a release waiting for its IOT_ID (golden scenario
    ``release-arrives-before-its-binding``, its first two inputs)."""
    state = CoreState()
    for event in scenarios()["release-arrives-before-its-binding"][:2]:
        state, _ = step(state, event)
    [entry] = [e for e in snapshot.changed(state, INPUTS) if e.key.startswith("park:")]
    assert entry.record is not None
    return entry.key, entry.record


def _kept_passage() -> tuple[str, Any]:
    """The key and record of a unit's passage kept for a late binding (``unknown-unit-at-gate``)."""
    state = CoreState()
    for event in scenarios()["unknown-unit-at-gate"]:
        state, _ = step(state, event)
    [entry] = [e for e in snapshot.changed(state, INPUTS) if e.key.startswith("unres:")]
    assert entry.record is not None
    return entry.key, entry.record


def _other(entry: Any, **changed: Any) -> Any:
    """A waiting input's entry with its one input changed."""
    return {"inputs": [{**entry["inputs"][0], **changed}]}


HOLD_BYTES = SingleObjectCodec().encode(
    "iotrack.HoldLifted",
    {
        "event_id": "01a2121a-8e60-7de2-862e-86fce5ec2590",
        "source": "customs",
        "occurred_at": 1_795_600_000_000,
        "iot_id": "01a2121a-8e60-768b-8a86-0d95e63c54d4",
        "hold_id": "H1",
        "agency": "CUSTOMS",
        "hold_type": "DOC",
        "lifted_by": "officer",
    },
)
PICKLE = b"cposix\nsystem\n(S'touch /tmp/ran'\ntR."
"""A pickle (protocol 0) that would run a shell command if anything loaded it."""


def _kept_cases() -> list[Any]:
    park_key, waiting = _waiting_release()
    unres_key, kept = _kept_passage()
    meta = SingleObjectCodec().encode(
        "iotrack.state.Meta", {"watermark": 1, "next_due": None, "applied_oldest": None}
    )
    cases = [
        (
            "a pickle for an input",
            park_key,
            _other(waiting, record=PICKLE),
            "does not start with C3 01",
        ),
        (
            "bytes of another type than its entry names",
            park_key,
            _other(waiting, record=HOLD_BYTES),
            "the input kept is an iotrack.HoldLifted record, its entry says iotrack.CustomsRelease",
        ),
        (
            "a state record for an input",
            park_key,
            _other(waiting, record_type="iotrack.state.Meta", record=meta),
            "the processors do not take iotrack.state.Meta records",
        ),
        (
            "another input's id",
            park_key,
            _other(waiting, event_id="01a2121a-8e60-7de2-862e-86fce5ec2590"),
            "its entry says 01a2121a-8e60-7de2-862e-86fce5ec2590",
        ),
        ("no party", park_key, _other(waiting, sender="nobody"), "no party kind 'nobody'"),
        ("a wait for a train", "park:train:T1", waiting, "a wait is for iot or path:<id>"),
        ("a wait for nothing", "park:iot:", waiting, "a wait is for iot or path:<id>"),
        ("no input waiting", park_key, {"inputs": []}, "an empty list"),
        (
            "a hold kept as a passage",
            unres_key,
            {"reads": [{**kept["reads"][0], "passage": HOLD_BYTES}]},
            "the input kept is an iotrack.HoldLifted record, its entry says iotrack.Passage",
        ),
        ("no passage kept", unres_key, {"reads": []}, "an empty list"),
        ("a state not declared", "decl:X", {"state": "MAYBE", "at": 1}, "KeyError: 'event_id'"),
    ]
    return [pytest.param(key, record, says, id=case) for case, key, record, says in cases]


@pytest.mark.parametrize(("key", "record", "says"), _kept_cases())
def test_a_kept_input_that_is_not_the_one_its_entry_names_is_refused_naming_its_key(
    key, record, says
):
    kind = key.partition(":")[0]
    with pytest.raises(snapshot.SnapshotError) as caught:
        snapshot.Restorer(CoreConfig(), INPUTS).take(key, snapshot.KINDS[kind], record)
    assert str(caught.value).startswith(f"{key}: the {snapshot.KINDS[kind]} record does not fit")
    assert says in str(caught.value)


def test_a_waiting_input_comes_back_as_the_input_that_came_from_its_party():
    key, record = _waiting_release()
    [kept] = record["inputs"]
    assert kept["record"][:2] == b"\xc3\x01"  # the codec's bytes, as on its topic
    restorer = snapshot.Restorer(CoreConfig(), INPUTS)
    restorer.take(key, "iotrack.state.ParkedInputs", record)
    restorer.take("meta", "iotrack.state.Meta", snapshot.meta_record(snapshot.Meta(0, None, None)))
    release = scenarios()["release-arrives-before-its-binding"][1]
    assert key == f"park:iot:{release.value['iot_id']}"
    [parked] = restorer.finish().parked[f"iot:{release.value['iot_id']}"]
    assert parked.event() == parse(release.schema, release.value)
    assert parked.sender == release.sender.principal == "customs"


def test_a_restore_shares_one_mission_path_among_the_positions_on_equal_paths():
    nodes = (
        mission.PathNode("QUAY", "TERMINAL", "DEPARTURE", True),
        mission.PathNode("GATE", "PORT_GATE", "DESTINATION", True),
    )
    path = mission.MissionPath("P", 1, nodes, {("QUAY", "GATE"): 60_000})
    other = dataclasses.replace(path, budgets_ms={("QUAY", "GATE"): 120_000})
    shared = tracking.Shared()

    def restored(iot_id: str, on: mission.MissionPath) -> mission.Position:
        record = tracking.position_record(mission.Position(iot_id, on))
        return tracking.position_from(record, shared)

    first, second, changed, third = (
        restored("a", path),
        restored("b", path),
        restored("c", other),
        restored("d", path),
    )
    assert first.path == path
    assert changed.path == other
    assert first.path is second.path is third.path
    assert changed.path is not first.path
    assert [p.iot_id for p in (first, second, changed, third)] == ["a", "b", "c", "d"]
