"""The contracts in avro/: well formed, documented, locked, and compatible with their history."""

from __future__ import annotations

import itertools
import json

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from topics.schemas import AVRO_DIR, lock_contents, read_lock, repository

SCHEMAS = repository()
FILES = sorted(AVRO_DIR.glob("*.avsc"))


def _apache(expanded: object) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(expanded))


def _compatible(reader: object, writer: object) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(_apache(reader), _apache(writer))
    return result.compatibility is SchemaCompatibilityType.compatible


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_file_holds_one_named_type_named_after_its_full_name(path):
    schema = json.loads(path.read_text())
    assert schema["type"] in ("record", "enum")
    assert path.name == f"{schema['namespace']}.{schema['name']}.avsc"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_type_and_field_has_a_doc(path):
    schema = json.loads(path.read_text())
    assert schema.get("doc", "").strip(), f"{path.name} has no doc"
    for field in schema.get("fields", []):
        assert field.get("doc", "").strip(), f"{path.name}: field {field['name']} has no doc"


def test_the_required_event_contracts_exist_and_carry_identity():
    required = {
        "RawRead",
        "Passage",
        "BindingRequested",
        "IotBound",
        "BindingChanged",
        "BindingEnded",
        "MissionPathDefined",
        "DeclarationStatus",
        "HoldPlaced",
        "HoldLifted",
        "CustomsRelease",
        "ExitConfirmed",
        "IotState",
        "ClearanceVerdict",
        "Deviation",
        "TrainLoadingList",
        "TrainManifest",
        "PermissionToLeave",
        "DetectedConsist",
        "DeadLetter",
    }
    events = {name.removeprefix("iotrack.") for name in SCHEMAS.event_names()}
    assert required <= events
    for name in SCHEMAS.event_names():
        event_id = SCHEMAS.get(name).expanded["fields"][0]
        assert event_id["type"] == {"type": "string", "logicalType": "uuid"}, name


def test_hold_reasons_are_marked_restricted_to_customs():
    fields = {f["name"]: f for f in SCHEMAS.definitions["iotrack.HoldPlaced"]["fields"]}
    assert fields["reason"].get("iotrack.visibility") == "customs"
    assert fields["reason_code"].get("iotrack.visibility") == "customs"


@pytest.mark.parametrize("name", sorted(SCHEMAS.current))
def test_our_fingerprints_agree_with_the_apache_crc_64_avro(name):
    # The Apache Python package keeps {"type": "string"} for a logical type in its canonical
    # form (avro/schema.py, PrimitiveSchema.to_canonical_json), against the specification's
    # [PRIMITIVES] rule that fastavro follows, so its CRC is checked on our canonical text.
    version = SCHEMAS.get(name)
    assert avro.schema._crc_64_fingerprint(version.canonical.encode()) == version.fingerprint
    assert '"logicalType"' not in version.canonical
    assert '"doc"' not in version.canonical


def test_canonical_forms_agree_with_the_apache_implementation_without_logical_types():
    version = SCHEMAS.get("iotrack.Candidate")
    assert _apache(version.expanded).fingerprint("CRC-64-AVRO") == version.fingerprint


def test_every_record_is_as_locked_so_an_unarchived_edit_fails_here():
    locked = read_lock()
    current = lock_contents(SCHEMAS)
    changed = sorted(n for n in current if locked.get(n) != current[n])
    assert not changed, (
        f"{changed} changed without being archived and locked: run "
        "'iotrack schemas archive NAME' on the released version, then 'iotrack schemas lock'"
    )


def _chains():
    for name in sorted(SCHEMAS.current):
        versions = [*SCHEMAS.history(name), SCHEMAS.get(name)]
        for older, newer in itertools.pairwise(versions):
            yield pytest.param(older, newer, id=f"{name} v{older.version}->v{newer.version}")


FORWARD_BREAKS = {
    ("iotrack.Deviation", 2, 3): "DeviationKind v2 had no default symbol, so no reader of it can "
    "take a kind added later; v3 adds UNREADABLE_IDENTIFIER and DECLARATION_ANNULLED and the "
    "default OTHER, so that from v3 on a new kind reaches an older reader as OTHER. Every reader "
    "of deviations is iotrack's own and is upgraded with the writer (README, Events on the wire)."
}
"""The one-time forward breaks, each with its reason; every other step is compatible both ways."""


@pytest.mark.parametrize(("older", "newer"), list(_chains()))
def test_each_version_is_backward_and_forward_compatible_with_the_previous(older, newer):
    assert _compatible(reader=newer.expanded, writer=older.expanded), "backward"
    if (older.full_name, older.version, newer.version) not in FORWARD_BREAKS:
        assert _compatible(reader=older.expanded, writer=newer.expanded), "forward"


def test_a_forward_break_is_one_the_checker_finds_and_none_is_left_unexplained():
    for name, old, new in FORWARD_BREAKS:
        versions = {v.version: v for v in (*SCHEMAS.history(name), SCHEMAS.get(name))}
        assert not _compatible(reader=versions[old].expanded, writer=versions[new].expanded)


def test_there_is_history_to_check():
    assert any(SCHEMAS.history(name) for name in SCHEMAS.current)


def test_the_checker_rejects_a_field_added_without_a_default():
    current = SCHEMAS.get("iotrack.Deviation").expanded
    broken = {
        **current,
        "fields": [*current["fields"], {"name": "required_new", "type": "string", "doc": "x"}],
    }
    assert not _compatible(reader=broken, writer=current)


def test_the_checker_rejects_a_removed_enum_symbol_read_by_the_old_reader():
    current = SCHEMAS.get("iotrack.Deviation").expanded
    kinds = next(f for f in current["fields"] if f["name"] == "kind")["type"]
    # Without a default: with one, a symbol the reader lacks reads as the default.
    fewer = {
        **{k: v for k, v in kinds.items() if k != "default"},
        "symbols": [s for s in kinds["symbols"] if s not in ("CONSIST_MISMATCH", "OTHER")],
    }
    narrowed = {
        **current,
        "fields": [{**f, "type": fewer} if f["name"] == "kind" else f for f in current["fields"]],
    }
    assert not _compatible(reader=narrowed, writer=current)
