"""Who may say what: an input's id is its party's alone, a refused input takes no id, and each
party speaks only for what is its own."""

from __future__ import annotations

from processors.core import CoreConfig
from processors.parties import Sender
from tests.processors.port import HOUR, MINUTE, T0, WAGONS, C, Port, box, iot_of, mrn, refusals

X, Y = box("000001"), box("000002")
M1, M2 = mrn(1), mrn(2)
PHYTO = Sender.agency("phytosanitary")


def _released() -> tuple[Port, str]:
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.release(T0 + 2 * MINUTE, a, M1)
    return port, a


def test_a_record_from_another_party_cannot_take_the_id_of_customs_coming_hold():
    port, a = _released()
    taken = port.lift(T0 + 30 * MINUTE, a, "NOPE", "PHYTOSANITARY", sender=PHYTO)
    assert [k for k, _ in refusals(taken)] == ["ClearanceRefused"]
    hold_id = port.outputs[-1].value["caused_by_event_id"]
    port.hold(T0 + HOUR, a, "H1", "CUSTOMS", event_id=hold_id)
    assert port.verdict(f"CONTAINER:{X}")["verdict"] == "HELD"


def test_the_same_id_from_two_parties_is_two_inputs():
    port, a = _released()
    event_id = "01a2121a-8e60-7000-8000-000000000001"
    port.hold(T0 + 30 * MINUTE, a, "P1", "PHYTOSANITARY", sender=PHYTO, event_id=event_id)
    port.hold(T0 + HOUR, a, "C1", "CUSTOMS", event_id=event_id)
    holds = port.verdict(f"CONTAINER:{X}")["open_holds"]
    assert [h["agency"] for h in holds] == ["PHYTOSANITARY", "CUSTOMS"]


def test_a_refused_input_is_not_remembered_so_the_real_one_with_its_id_is_applied():
    port, a = _released()
    port.hold(T0 + 3 * MINUTE, a, "H1", "CUSTOMS")
    event_id = "01a2121a-8e60-7000-8000-000000000002"
    refused = port.lift(T0 + 30 * MINUTE, a, "H1", "PHYTOSANITARY", sender=PHYTO, event_id=event_id)
    assert "PHYTOSANITARY cannot lift it" in refusals(refused)[0][1]
    port.lift(T0 + HOUR, a, "H1", "CUSTOMS", event_id=event_id)
    assert port.may_leave(f"CONTAINER:{X}")


def test_a_redelivery_from_the_same_party_is_still_applied_once():
    port, a = _released()
    event_id = "01a2121a-8e60-7000-8000-000000000003"
    first = port.hold(T0 + HOUR, a, "H1", "CUSTOMS", event_id=event_id)
    again = port.hold(T0 + HOUR, a, "H1", "CUSTOMS", event_id=event_id)
    assert first
    assert again == []


def test_an_input_waiting_for_its_iot_id_is_not_mistaken_for_another_party_s_with_its_id():
    port = Port()
    later = "01a2121a-8e60-7000-8000-00000000000a"
    a_at = T0 + HOUR
    iot_id = iot_of(a_at, "A")
    port.lift(a_at - 1, iot_id, "NOPE", "PHYTOSANITARY", sender=PHYTO, event_id=later)  # waits
    port.hold(a_at + 1, iot_id, "H1", "CUSTOMS", event_id=later)  # waits too, its own
    port.bind(a_at, "A", [C(X)], [M1])
    port.release(a_at + 2, iot_id, M1)
    assert port.verdict(f"CONTAINER:{X}")["verdict"] == "HELD"


# -- the wait: a budget per party -----------------------------------------------------------------


def _flooded(config: CoreConfig, flood: dict[Sender, int], *, iot_id: str | None = None) -> Port:
    """Each party of ``flood`` sends that many lifts for IOT_IDs that never come (or all for
    ``iot_id``), before Customs' hold on the IOT_ID of a binding that reaches the core after
    it; then that binding and the release."""
    port = Port(config)
    target = iot_of(T0 + HOUR, "A")
    for party, count in flood.items():
        for n in range(count):
            agency = party.agency_name or "CUSTOMS"
            port.lift(T0 + MINUTE, iot_id or iot_of(T0, f"junk-{n}"), f"J{n}", agency, sender=party)
    port.hold(T0 + HOUR + 1, target, "H1", "CUSTOMS")
    port.bind(T0 + HOUR, "A", [C(X)], [M1])
    port.release(T0 + HOUR + 2, target, M1)
    return port


def test_one_party_s_flood_of_the_wait_cannot_crowd_out_customs():
    config = CoreConfig(park_limit_per_party=3, park_limit=10)
    port = _flooded(config, {PHYTO: 5})
    kinds = [k for k, _ in refusals(port.outputs)]
    assert kinds.count("TooManyWaiting") == 2
    assert "3 inputs of agency.phytosanitary wait already" in refusals(port.outputs)[0][1]
    assert port.verdict(f"CONTAINER:{X}")["verdict"] == "HELD"


def test_the_other_parties_together_cannot_crowd_out_customs_either():
    config = CoreConfig(park_limit_per_party=3, park_limit=4)
    port = _flooded(config, {PHYTO: 3, Sender.agency("health"): 3})
    assert [k for k, _ in refusals(port.outputs)].count("TooManyWaiting") == 2
    assert port.verdict(f"CONTAINER:{X}")["verdict"] == "HELD"


def test_a_party_filling_the_wait_for_one_iot_id_leaves_room_for_customs_there():
    config = CoreConfig(park_limit_per_key=2)
    port = _flooded(config, {PHYTO: 4}, iot_id=iot_of(T0 + HOUR, "A"))
    assert [k for k, _ in refusals(port.outputs)].count("TooManyWaiting") == 2
    assert port.verdict(f"CONTAINER:{X}")["verdict"] == "HELD"


# -- a party's claim never decides a verdict -------------------------------------------------


def test_a_rail_operator_s_manifest_cannot_clear_a_unit_on_someone_else_s_released_mrn():
    port = Port()
    port.declare(T0 + MINUTE, M1, "RELEASED")  # another trader's goods, released by MRN
    port.manifest(T0 + HOUR, "IT-9", 1, [[X]], [M1], operator="rogue-rail")
    key = f"CONTAINER:{X}"
    assert port.verdict(key)["verdict"] == "NOT_RELEASED"
    assert port.verdict(key)["reasons"] == [f"MRN {M1} not released by Customs for this unit"]
    permission = port.state.trains["IT-9"].permission
    assert permission is not None
    assert not permission.granted
    # Customs, seeing the IOT_ID the manifest made, releases that unit itself: now it may leave.
    a = port.state.ledger.requests[f"RAIL:IT-9:{key}"]
    port.release(T0 + 2 * HOUR, a, M1)
    assert port.may_leave(key)
    permission = port.state.trains["IT-9"].permission
    assert permission is not None
    assert permission.granted


def test_a_unit_customs_bound_is_released_by_its_declaration_on_a_manifest_too():
    port = Port()
    port.bind(T0 + MINUTE, "A", [C(X)], [M1], path="RAIL-EXPORT")
    port.declare(T0 + 2 * MINUTE, M1, "RELEASED")
    port.manifest(T0 + HOUR, "IT-9", 1, [[X]], [M1])
    assert port.may_leave(f"CONTAINER:{X}")
    permission = port.state.trains["IT-9"].permission
    assert permission is not None
    assert permission.granted


def _consist(port: Port, at: int, read_point: str, wagon: str, sender: str) -> list:
    return port.send(
        "DetectedConsist",
        at,
        sender=sender,
        train_id="IT-9",
        gate_node_id="RAIL-GATE-1",
        read_point_id=read_point,
        wagons=[{"position": 1, "wagon_number_read": wagon, "itus_read": [X], "confidence": 0.9}],
    )


def test_a_rail_portal_cannot_report_the_consist_of_another_portal_s_read_point():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1], path="RAIL-EXPORT")
    port.release(T0 + 2 * MINUTE, a, M1)
    port.manifest(T0 + HOUR, "IT-9", 1, [[X]], [M1])
    assert port.state.trains["IT-9"].permission.granted
    # A camera in the yard claims the exit portal's read point and reads a swapped wagon.
    outputs = _consist(
        port, T0 + 2 * HOUR, "RAIL-GATE-1-OCR", WAGONS[1], "rail-portal.yard-camera-9"
    )
    [(kind, reason)] = refusals(outputs)
    assert kind == "ClaimMismatch"
    assert "claims read point RAIL-GATE-1-OCR" in reason
    assert port.state.trains["IT-9"].permission.granted  # not revoked
    # The exit portal itself, reading the same: revoked.
    _consist(port, T0 + 3 * HOUR, "RAIL-GATE-1-OCR", WAGONS[1], "rail-portal.rail-gate-1-ocr")
    assert not port.state.trains["IT-9"].permission.granted


def test_customs_binding_a_unit_a_manifest_bound_takes_it_over():
    port = Port()
    port.declare(T0 + MINUTE, M1, "RELEASED")
    port.manifest(T0 + HOUR, "IT-9", 1, [[X]], [M1], operator="rogue-rail")
    key = f"CONTAINER:{X}"
    claimed = port.state.ledger.requests[f"RAIL:IT-9:{key}"]
    outputs = port.send(
        "BindingRequested",
        T0 + 2 * HOUR,
        request_id="C1",
        mrns=[M2],
        itus=[C(X)],
        mission_path_id="RAIL-EXPORT",
        requested_by="officer",
    )
    assert refusals(outputs) == []
    [ended] = [o for o in outputs if o.schema == "iotrack.BindingEnded"]
    assert ended.value["iot_id"] == claimed
    assert ended.value["reason"] == "CORRECTION"
    assert port.state.iots[claimed].position.phase == "CLOSED"
    customs = iot_of(T0 + 2 * HOUR, "C1")
    assert port.verdict(key)["iot_id"] == customs
    assert port.verdict(key)["reasons"] == [f"MRN {M2} not released"]


def test_a_customs_binding_refused_for_another_conflict_ends_no_manifest_binding():
    port = Port()
    port.manifest(T0 + HOUR, "IT-9", 1, [[X]], [M1])
    claimed = port.state.ledger.requests[f"RAIL:IT-9:CONTAINER:{X}"]
    port.bind(T0 + HOUR, "B", [C(Y)], [M2], path="RAIL-EXPORT")
    outputs = port.send(
        "BindingRequested",
        T0 + 2 * HOUR,
        request_id="C1",
        mrns=[M2],
        itus=[C(X), C(Y)],  # Y is Customs' own binding B's
        mission_path_id="RAIL-EXPORT",
        requested_by="officer",
    )
    assert [k for k, _ in refusals(outputs)] == ["BindingConflict"]
    assert port.state.iots[claimed].position.phase == "BOUND"
