"""The HTTP models' enums are generated from the Avro schemas and current."""

from __future__ import annotations

import json

from streams.http import avro_enums, enums
from topics.schemas import AVRO_DIR


def test_the_committed_enums_are_what_the_schemas_generate():
    assert avro_enums.TARGET.read_text(encoding="utf-8") == avro_enums.source(), (
        "streams/http/enums.py is stale: run `make enums`"
    )


def test_every_avro_enum_is_there_with_its_symbols():
    for full_name, enum in avro_enums.enums().items():
        generated = getattr(enums, full_name.rsplit(".", 1)[1])
        assert [member.value for member in generated] == enum["symbols"]


def test_the_core_changelogs_enums_stay_out_of_the_http_models():
    private = {
        f"{s['namespace']}.{s['name']}"
        for s in map(json.loads, (p.read_text() for p in AVRO_DIR.glob("iotrack.state.*.avsc")))
        if s["type"] == "enum"
    }
    assert private, "the changelog's records have enums of their own"
    assert not private & set(avro_enums.enums())
    assert "iotrack.TrainPhase" in avro_enums.enums()  # a public enum the changelog reuses
