"""The HTTP models' enums are generated from the Avro schemas and current."""

from __future__ import annotations

from streams.http import avro_enums, enums


def test_the_committed_enums_are_what_the_schemas_generate():
    assert avro_enums.TARGET.read_text(encoding="utf-8") == avro_enums.source(), (
        "streams/http/enums.py is stale: run `make enums`"
    )


def test_every_avro_enum_is_there_with_its_symbols():
    for full_name, enum in avro_enums.enums().items():
        generated = getattr(enums, full_name.rsplit(".", 1)[1])
        assert [member.value for member in generated] == enum["symbols"]
