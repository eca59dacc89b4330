"""The core's state as plain records: every value the core makes comes back equal, and each
state class has exactly the fields of its ``avro/`` record, so a field added to one without the
other fails here."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors import clearance, mission, rail
from processors.binding import Interval
from processors.core import (
    CoreConfig,
    CoreState,
    ManifestVersion,
    Permission,
    Tracked,
    Train,
    UnitAnswer,
    snapshot,
)
from processors.core.snapshot import tracking, trains
from processors.events import Itu, LoadingListItem, WagonEntry
from tests.core_runs import MINUTE, Run, runs, scenarios, step
from topics.schemas import repository

SCHEMAS = repository()

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
    "iotrack.state.Meta": snapshot.Meta,
}
"""The class each record of the state holds."""
HOLDERS = {
    "iotrack.state.UnitBindings": "a unit's intervals, under its ITU key",
    "iotrack.state.BindingRequest": "the IOT_ID of a request, under its request id",
    "iotrack.state.InputSeen": "the time of an input, under its event id",
    "iotrack.MissionLeg": "one item of MissionPath.budgets_ms",
}
"""Records that hold a value of no class of its own."""
RENAMED = {("iotrack.state.MissionPath", "legs"): "budgets_ms"}
"""A schema field that holds a class's field of another name."""
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


def _round_trip_each_value(state: CoreState) -> None:
    for tracked in state.iots.values():
        record = tracking.tracked_record(tracked)
        json.dumps(record)  # plain values only
        assert tracking.tracked_from(record) == tracked
    for train in state.trains.values():
        record = trains.train_record(train)
        json.dumps(record)
        assert trains.train_from(record) == train
    for path in state.paths.values():
        assert tracking.path_from(tracking.path_record(path)) == path
    for intervals in state.ledger.intervals.values():
        for interval in intervals:
            assert tracking.interval_from(tracking.interval_record(interval)) == interval
    meta = snapshot.meta_of(state)
    assert snapshot.meta_from(snapshot.meta_record(meta)) == meta


def _write(entries: dict[str, snapshot.Entry], state: CoreState) -> None:
    """One batch's entries onto the latest entry of each key, as the changelog keeps them."""
    for entry in snapshot.changed(state):
        if entry.record is None:
            entries.pop(entry.key, None)
        else:
            entries[entry.key] = entry


def _restored(entries: dict[str, snapshot.Entry], state: CoreState) -> CoreState:
    restorer = snapshot.Restorer(state.config)
    for entry in entries.values():
        assert entry.record is not None
        restorer.take(entry.key, entry.record_type, json.loads(json.dumps(entry.record)))
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
    }
    return found | {fact for fact, holds in facts.items() if holds}


def test_the_runs_reach_what_the_state_can_hold():
    """The property above is only as good as the states it goes through: the golden scenarios,
    each alone and all one after the other, with the default horizons and short ones (as the
    runs draw them), reach every phase of an IOT_ID but CLOSED (no scenario ends a binding) and
    every phase of a train, holds open and lifted, releases, exits, refused commands, amended
    manifests, refused permissions, retirements and forgotten input ids."""
    seen: set[str] = set()
    for config in (CoreConfig(), CoreConfig(retire_after_ms=MINUTE, dedupe_horizon_ms=MINUTE)):
        for events in (*scenarios().values(), tuple(itertools.chain(*scenarios().values()))):
            state = CoreState(config=config)
            for event in events:
                before_iots, before_seen = set(state.iots), set(state.applied)
                state, _ = step(state, event)
                seen |= _features(state)
                seen |= {"IOT_ID retired"} if before_iots - set(state.iots) else set()
                seen |= {"input forgotten"} if before_seen - set(state.applied) else set()
    expected = {f"IOT_ID {p}" for p in mission.Phase if p is not mission.Phase.CLOSED}
    expected |= {f"train {p}" for p in rail.TrainPhase}
    expected |= {"hold OPEN", "hold LIFTED", "released", "exited", "refused command"}
    expected |= {"manifest amended", "permission refused", "binding ended"}
    expected |= {"IOT_ID retired", "input forgotten"}
    assert expected <= seen, sorted(expected - seen)


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
        snapshot.Restorer(CoreState().config).take(key, record_type, record)


def test_a_record_under_the_key_of_another_is_refused():
    path = mission.MissionPath("A", 1, (), {})
    with pytest.raises(snapshot.SnapshotError, match=r"path:B: .* the record is of A"):
        snapshot.Restorer(CoreState().config).take(
            "path:B", "iotrack.state.MissionPath", tracking.path_record(path)
        )


def test_entries_without_the_meta_entry_are_refused():
    restorer = snapshot.Restorer(CoreState().config)
    restorer.take("seen:e1", "iotrack.state.InputSeen", {"at": 1})
    with pytest.raises(snapshot.SnapshotError, match="1 entries and no meta entry"):
        restorer.finish()
