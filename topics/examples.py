"""A plausible example value for any record schema, for the demo's round trip and smoke tests.

Values are built from the schema alone: the non-null branch of every optional field, one item
per array, the first symbol of every enum, and strings that say which field they fill.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import uuid6

from topics.schemas import SchemaVersion

Json = Any

# Realistic values for fields whose name says what they hold (checked vectors of design sect. 7).
_BY_FIELD_NAME = {
    "mrn": "06DE586600006143E1",
    "mrns": "06DE586600006143E1",
    "wagon_number": "218124712173",
    "wagon_number_read": "218124712173",
    "country": "IT",
    "seal_class": "H",
    "hold_type": "PHYSICAL_INSPECTION",
    "iso_size_type": "45G1",
    "value": "CSQU3054383",
    "raw_value": "CSQU3054383",
    "itus_read": "CSQU3054383",
}


def _example(schema: Json, field: str, now: datetime, named: dict[str, Json]) -> Json:
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return _example(branches[0], field, now, named) if branches else None
    if isinstance(schema, str) and schema in named:
        return _example(named[schema], field, now, named)
    if isinstance(schema, str):
        return {
            "null": None,
            "boolean": True,
            "int": 1,
            "long": 1,
            "float": 0.5,
            "double": 0.97,
            "bytes": f"<{field}>".encode(),
            "string": _BY_FIELD_NAME.get(field, f"{field}-1"),
        }[schema]
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "uuid":
        return str(uuid6.uuid7())
    if logical in ("timestamp-millis", "timestamp-micros"):
        return now
    if kind in ("record", "enum"):
        named[f"{schema.get('namespace', 'iotrack')}.{schema['name']}"] = schema
    if kind == "record":
        return {f["name"]: _example(f["type"], f["name"], now, named) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "array":
        return [_example(schema["items"], field, now, named)]
    if kind == "map":
        return {"key": _example(schema["values"], field, now, named)}
    return _example(kind, field, now, named)


def example(version: SchemaVersion, now: datetime | None = None) -> dict[str, Any]:
    """An example record of ``version``'s schema, with a fresh ``event_id`` when it has one."""
    value = _example(version.expanded, version.full_name, now or datetime.now(UTC), {})
    if not isinstance(value, dict):
        raise TypeError(f"{version.full_name} is not a record schema")
    return value
