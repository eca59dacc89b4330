"""Every deviation kind, raised once, has its fields as ``avro/iotrack.Deviation.avsc`` documents
them: an IOT_ID unless no IOT_ID is known, a node when it is tied to one, a read point when a
read exposed it, the event that exposed it (none for an expired deadline), and the time of that
event (the deadline for an ``OVERDUE``)."""

from __future__ import annotations

import json

from processors.core import SEVERITY
from streams.replay.run import replay
from tests.golden.domain import DECLARATION, MORE_UNITS, TRUCK_UNITS
from tests.golden.scenarios import HOUR, IMPORT_ROAD, MINUTE, T0, Scenario, iot_of
from topics.schemas import repository

KINDS = next(
    f["type"]["symbols"]
    for f in repository().get("iotrack.Deviation").expanded["fields"]
    if f["name"] == "kind"
)
WITHOUT_IOT = {"UNKNOWN_UNIT", "UNREADABLE_IDENTIFIER"}
NOT_AT_A_NODE = {"BINDING_CONFLICT", "DECLARATION_ANNULLED"}
READS = {"iotrack.Passage", "iotrack.DetectedConsist"}


def _every_kind() -> tuple[Scenario, dict[str, int]]:
    """One scenario that raises each kind once; the time of the event meant to cause each."""
    s = Scenario("every-deviation-kind")
    s.path(T0, "IMPORT-ROAD", IMPORT_ROAD, [2 * HOUR])
    s.path(
        T0 + 1,
        "VIA-SCANNER",
        [
            ("TERMINAL-QUAY-1", "TERMINAL", "DEPARTURE"),
            ("SCANNER-1", "CUSTOMS_AREA", "INTERMEDIATE"),
            ("PORT-GATE-1", "PORT_GATE", "DESTINATION"),
        ],
        [24 * HOUR, 24 * HOUR],
    )
    held, late, skipper, stray = TRUCK_UNITS[0], TRUCK_UNITS[1], MORE_UNITS[0], MORE_UNITS[1]
    s.bind(T0 + MINUTE, "HELD", held, [DECLARATION], "IMPORT-ROAD")
    s.bind(T0 + 2 * MINUTE, "LATE", late, ["26IT000000000003R2"], "IMPORT-ROAD")
    s.bind(T0 + 3 * MINUTE, "SKIP", skipper, ["26IT000000000002R3"], "VIA-SCANNER")
    causes = {"BINDING_CONFLICT": T0 + 4 * MINUTE}
    s.bind(T0 + 4 * MINUTE, "AGAIN", held, ["26IT000000000001R4"], "IMPORT-ROAD")
    causes["UNEXPECTED_NODE"] = T0 + 5 * MINUTE
    s.passage(T0 + 5 * MINUTE, "DRY-PORT-X", "DRY-X-1", [skipper])
    s.passage(T0 + 6 * MINUTE, "TERMINAL-QUAY-1", "QUAY-1-CRANE-1", [held, late, skipper])
    s.add(
        "HoldPlaced",
        T0 + 7 * MINUTE,
        "customs",
        iot_id=iot_of(s, "HELD"),
        hold_id="H-1",
        agency="CUSTOMS",
        hold_type="SCANNER",
        reason_code="R-1",
        reason="scan",
        placed_by="officer.rossi",
    )
    causes["UNKNOWN_UNIT"] = causes["UNREADABLE_IDENTIFIER"] = T0 + 8 * MINUTE
    s.passage(T0 + 8 * MINUTE, "PORT-GATE-1", "PORT-GATE-1-L2", [stray, "ABCU1234567"], "OUT")
    causes["EXIT_WHILE_HELD"] = T0 + 9 * MINUTE
    s.passage(T0 + 9 * MINUTE, "PORT-GATE-1", "PORT-GATE-1-L1", [held], "OUT")
    causes["SKIPPED_NODE"] = T0 + 10 * MINUTE
    s.passage(T0 + 10 * MINUTE, "PORT-GATE-1", "PORT-GATE-1-L1", [skipper], "OUT")
    causes["EXIT_WITHOUT_RELEASE"] = T0 + 11 * MINUTE
    for n, request in enumerate(("SKIP", "SKIP")):
        s.add(
            "ExitConfirmed",
            T0 + (11 + n) * MINUTE,
            "gdf",
            iot_id=iot_of(s, request),
            mode="ROAD",
            gate_node_id="PORT-GATE-1",
            confirmed_by="gdf.bianchi",
        )
    causes["DUPLICATE_EXIT"] = T0 + 12 * MINUTE
    causes["READ_AFTER_DEFINITIVE"] = T0 + 13 * MINUTE
    s.passage(T0 + 13 * MINUTE, "PORT-GATE-1", "PORT-GATE-1-L3", [skipper], "OUT")
    causes["DECLARATION_ANNULLED"] = T0 + 14 * MINUTE
    s.add("DeclarationStatus", T0 + 14 * MINUTE, "aida", mrn=DECLARATION, state="ANNULLED")
    causes["OVERDUE"] = T0 + 6 * MINUTE + 2 * HOUR  # LATE's leg from the quay to the gate
    s.passage(T0 + 3 * HOUR, "TERMINAL-QUAY-1", "QUAY-1-CRANE-1", [MORE_UNITS[0]])
    return s, causes


def _deviations() -> tuple[list[dict], dict[str, int], dict[str, tuple[int, str]]]:
    s, causes = _every_kind()
    lines = [json.dumps(e) for e in s.events]
    ids = {e["value"]["event_id"]: (e["value"]["occurred_at"], e["type"]) for e in s.events}
    found = [
        json.loads(o)["value"]
        for o in replay(lines)
        if json.loads(o)["type"] == "iotrack.Deviation"
    ]
    return found, causes, ids


def _plain(union: object) -> object:
    return next(iter(union.values())) if isinstance(union, dict) and len(union) == 1 else union


def test_every_kind_but_the_train_s_and_the_catch_all_is_raised_here():
    found, causes, _ = _deviations()
    kinds = sorted({d["kind"] for d in found})
    assert kinds == sorted(set(KINDS) - {"CONSIST_MISMATCH", "OTHER"})
    assert set(causes) == set(kinds)


def test_each_kind_happens_when_its_cause_did():
    found, causes, _ = _deviations()
    for kind, at in causes.items():
        assert at in {d["occurred_at"] for d in found if d["kind"] == kind}, kind


def test_each_deviation_s_fields_are_as_the_schema_documents_them():
    found, _causes, ids = _deviations()
    for deviation in found:
        kind = deviation["kind"]
        iot, node = _plain(deviation["iot_id"]), _plain(deviation["node_id"])
        read_point, cause = _plain(deviation["read_point_id"]), deviation["caused_by_event_id"]
        assert (iot is None) == (kind in WITHOUT_IOT), kind
        assert (_plain(deviation["mission_path_id"]) is None) == (iot is None), kind
        assert (node is None) == (kind in NOT_AT_A_NODE), kind
        read = cause is not None and ids[_plain(cause)][1] in READS
        assert (read_point is None) == (not read), kind
        assert deviation["severity"] in (SEVERITY[kind], "CRITICAL"), kind
        if kind == "OVERDUE":
            assert cause is None, "an expired deadline has no causing event"
            assert node == "PORT-GATE-1", "the leg's next node"
        else:
            assert _plain(cause) in ids, kind
            assert ids[_plain(cause)][0] == deviation["occurred_at"], kind
        if kind in {"UNKNOWN_UNIT", "UNREADABLE_IDENTIFIER", "BINDING_CONFLICT"}:
            assert deviation["itu"] is not None, kind
