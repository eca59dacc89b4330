"""Typed events: each class has its Avro record's shape, and a record without it is refused by
name, by the parser and by the tracking core."""

from __future__ import annotations

import dataclasses
import pickle
import typing
from pathlib import Path
from typing import Any

import pytest

from processors import events
from processors.core import Channel, CoreState
from processors.errors import MalformedRecord, ProcessorError, UnexpectedRecordType
from processors.events import RECORD_TYPES, Itu, Passage, parse
from streams.replay.lines import read_events
from tests.offline import apply_claimed
from topics.schemas import repository

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
_PRIMITIVES = {"string": str, "int": int, "long": int, "double": float, "boolean": bool}
_CLASS_OF_RECORD = {"ItuIdentifier": Itu}


def _resolve(avro: Any) -> Any:
    """A named type's definition (an enum is only named here); anything else as it is."""
    if isinstance(avro, str) and avro not in (*_PRIMITIVES, "null"):
        records = repository().current
        return records[avro].expanded if avro in records else {"type": "enum"}
    return avro


def _expected(avro: Any) -> Any:
    """The annotation a field of this Avro type has in ``processors.events``."""
    avro = _resolve(avro)
    if isinstance(avro, list):
        [inner] = [t for t in avro if t != "null"]
        return _expected(inner) | None
    if isinstance(avro, str):
        return _PRIMITIVES[avro]
    kind = avro["type"]
    if kind == "enum":
        return str
    if kind == "array":
        return tuple[_expected(avro["items"]), ...]
    if kind == "map":
        return dict[str, _expected(avro["values"])]
    if kind == "record":
        return _CLASS_OF_RECORD.get(avro["name"]) or getattr(events, avro["name"])
    return _PRIMITIVES[kind]  # a logical type over a primitive


def _same_shape(cls: type, schema: Any, seen: set[type]) -> None:
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    avro_fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == list(avro_fields), f"{cls.__name__}: fields in the schema's order"
    for name, avro_field in avro_fields.items():
        expected = _expected(avro_field["type"])
        assert hints[name] == expected, f"{cls.__name__}.{name}"
        has_default = (
            fields[name].default is not dataclasses.MISSING
            or fields[name].default_factory is not dataclasses.MISSING
        )
        assert has_default == ("default" in avro_field), f"{cls.__name__}.{name} default"
        record = _record_of(avro_field["type"])
        if isinstance(record, dict) and record["type"] == "record":
            nested = _expected(record)
            if nested not in seen:
                _same_shape(nested, record, seen)


def _record_of(avro: Any) -> Any:
    avro = _resolve(avro)
    if isinstance(avro, list):
        return _record_of(next(t for t in avro if t != "null"))
    if isinstance(avro, dict) and avro["type"] in ("array", "map"):
        return _record_of(avro["items" if avro["type"] == "array" else "values"])
    return avro


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_each_event_class_has_its_avro_records_shape(record_type):
    _same_shape(RECORD_TYPES[record_type], repository().get(record_type).expanded, set())


def test_every_input_of_a_golden_scenario_parses_and_reads_back_from_its_record():
    for path in sorted(GOLDEN.glob("*.in.jsonl")):
        for event in read_events(path.read_text().splitlines()):
            typed = parse(event.schema, event.value)
            assert parse(event.schema, events.as_record(typed)) == typed


def _passage(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "event_id": "01a2121a-8e60-7de2-862e-86fce5ec2590",
        "source": "iotrack-fusion",
        "occurred_at": 1_795_600_000_000,
        "read_point_id": "GATE-L1",
        "node_id": "GATE",
        "direction": "OUT",
        "started_at": 1_795_600_000_000,
        "ended_at": 1_795_600_000_500,
        "identifiers": [{"kind": "CONTAINER", "value": "CSQU3054383"}],
        "evidence": [],
        "sensors_agree": True,
    }
    value.update(changes)
    return value


def test_fields_with_a_default_may_be_left_out_and_nested_values_are_typed():
    passage = parse("iotrack.Passage", _passage())
    assert isinstance(passage, Passage)
    assert (passage.lane, passage.iot_ids, passage.mrns) == (None, (), ())
    assert passage.identifiers == (Itu("CONTAINER", "CSQU3054383"),)
    assert passage.identifiers[0].key == "CONTAINER:CSQU3054383"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"node_id": None}, "iotrack.Passage: node_id is not text (NoneType None)"),
        (
            {"identifiers": [{"kind": "CONTAINER"}]},
            "iotrack.Passage: identifiers[0].value is missing",
        ),
        ({"started_at": "9"}, "iotrack.Passage: started_at is not an integer (str '9')"),
        ({"sensors_agree": 1}, "iotrack.Passage: sensors_agree is not true or false (int 1)"),
        ({"iot_ids": "abc"}, "iotrack.Passage: iot_ids is not an array (str 'abc')"),
    ],
)
def test_a_record_without_the_shape_is_refused_naming_the_field(changes, message):
    with pytest.raises(MalformedRecord) as caught:
        parse("iotrack.Passage", _passage(**changes))
    assert str(caught.value) == message
    assert isinstance(caught.value, ProcessorError)
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own value
    assert (copy.record_type, copy.field, copy.problem) == (
        "iotrack.Passage",
        caught.value.field,
        caught.value.problem,
    )


def test_a_type_no_processor_takes_is_its_own_error():
    with pytest.raises(UnexpectedRecordType, match=r"iotrack\.IotState"):
        parse("iotrack.IotState", {})


def test_the_core_refuses_a_malformed_record_and_an_unexpected_type_without_applying_them():
    state = CoreState()
    bad = _passage(node_id=None)
    state, outputs = apply_claimed(state, "iotrack.Passage", bad)
    [refusal] = outputs
    assert refusal.channel is Channel.REFUSALS
    assert refusal.value == {
        "reason": "iotrack.Passage: node_id is not text (NoneType None)",
        "error_kind": "MalformedRecord",
        "caused_by_event_id": bad["event_id"],
    }
    assert state.applied == {}
    state, outputs = apply_claimed(state, "iotrack.RawRead", _passage())
    assert [o.value["error_kind"] for o in outputs if o.value] == ["UnexpectedRecordType"]
    assert outputs[0].value["reason"] == "the tracking core does not take iotrack.RawRead events"
