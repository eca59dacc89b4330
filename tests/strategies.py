"""Hypothesis strategies that generate any value of an (expanded) Avro schema."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Json = Any
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Timestamps as Avro longs (ms): years 1970..2200, so datetime conversion on read succeeds.
TIMESTAMP_MS = (0, 7_258_118_400_000)


def from_schema(schema: Json, named: dict[str, Json] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for values of ``schema`` as fastavro accepts them for writing."""
    named = {} if named is None else named
    if isinstance(schema, list):
        return st.one_of([from_schema(branch, named) for branch in schema])
    if isinstance(schema, str):
        if schema in named:
            return st.deferred(lambda: from_schema(named[schema], named))
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(*INT32),
            "long": st.integers(*INT64),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "bytes": st.binary(max_size=64),
            "string": st.text(max_size=24),
        }[schema]
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "uuid":
        return st.uuids().map(str)
    if logical == "timestamp-millis":
        return st.integers(*TIMESTAMP_MS)
    if kind in ("record", "enum", "fixed"):
        full = (
            schema["name"]
            if "." in schema["name"]
            else (f"{schema.get('namespace', 'iotrack')}.{schema['name']}")
        )
        named[full] = schema
    if kind == "record":
        return st.fixed_dictionaries(
            {field["name"]: from_schema(field["type"], named) for field in schema["fields"]}
        )
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(from_schema(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(
            st.text(max_size=8), from_schema(schema["values"], named), max_size=3
        )
    return from_schema(kind, named)
