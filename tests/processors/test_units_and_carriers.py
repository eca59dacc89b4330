"""Units and carriers: one key per unit however it is spelt, one active IOT_ID per unit however
it is bound, and carriers that carry what was last seen on them."""

from __future__ import annotations

from tests.processors.port import HOUR, MINUTE, T0, C, P, Port, box, deviations, mrn, refusals

X, Y, Z = box("000001"), box("000002"), box("000003")
M1, M2, M3 = mrn(1), mrn(2), mrn(3)


# -- one key per unit ---------------------------------------------------------------------------


def test_a_container_spelt_three_ways_is_one_unit_with_one_active_iot_id():
    port = Port()
    port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    second = port.bind(T0 + 2 * MINUTE, "B", [C(X[:4].lower() + X[4:])], [M2])
    third = port.bind(T0 + 3 * MINUTE, "C", [C(f"{X[:4]} {X[4:]}")], [M3])
    assert second not in port.state.iots
    assert third not in port.state.iots
    assert [k for k, _ in refusals(port.outputs)] == ["BindingConflict", "BindingConflict"]
    assert set(port.verdicts()) == {f"CONTAINER:{X}"}
    assert list(port.state.ledger.intervals) == [f"CONTAINER:{X}"]


def test_a_plate_spelt_with_spaces_and_in_lower_case_is_the_same_truck():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X), P("AB123CD")], [M1])
    b = port.bind(T0 + MINUTE + 1, "B", [C(Y), P("ab 123 cd", "it")], [M2])
    port.release(T0 + 10 * MINUTE, a, M1)
    port.release(T0 + 10 * MINUTE, b, M2)
    port.hold(T0 + 20 * MINUTE, b, "H1", "CUSTOMS")
    truck = port.verdict("PLATE:IT:AB123CD")
    assert truck is not None
    assert truck["verdict"] == "HELD"
    assert not truck["may_leave"]
    assert [c["iot_id"] for c in truck["carried"]] == [a, b]
    assert [k for k in port.verdicts() if k.startswith("PLATE")] == ["PLATE:IT:AB123CD"]


def test_a_plate_without_its_country_cannot_be_bound():
    port = Port()
    iot_id = port.bind(T0 + MINUTE, "A", [C(X), P("AB123CD", None)], [M1])
    assert iot_id not in port.state.iots
    [(kind, reason)] = refusals(port.outputs)
    assert kind == "InvalidBindingRequest"
    assert "PLATE AB123CD: a plate needs the country it is registered in" in reason


def test_a_plate_read_without_its_country_moves_no_unit_off_its_truck():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X), P("AB123CD")], [M1])  # not released
    c = port.bind(T0 + 2 * MINUTE, "C", [C(Z), P("AB123CD")], [M3])
    port.release(T0 + 5 * MINUTE, c, M3)
    outputs = port.passage(T0 + HOUR, "TERMINAL-QUAY-1", "QUAY-1-GATE", [C(X), P("AB123CD", None)])
    truck = port.verdict("PLATE:IT:AB123CD")
    assert truck is not None
    assert truck["verdict"] == "NOT_RELEASED"
    assert [c["iot_id"] for c in truck["carried"]] == [a, c]
    assert "PLATE:AB123CD" not in port.verdicts()
    [unreadable] = deviations(outputs, "UNREADABLE_IDENTIFIER")
    assert "a plate needs the country" in unreadable["observed"]
    assert unreadable["node_id"] == "TERMINAL-QUAY-1"


def test_a_unit_read_in_lower_case_at_the_gate_is_the_bound_unit():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    outputs = port.passage(T0 + HOUR, "TERMINAL-QUAY-1", "Q1", [C(X.lower())])
    assert deviations(outputs, "UNKNOWN_UNIT") == []
    assert port.state.iots[a].position.node_id == "TERMINAL-QUAY-1"


# -- carriers -----------------------------------------------------------------------------------

TRAILER = "XA123BC"  # an Italian trailer plate


def test_a_trailer_read_with_a_new_tractor_keeps_its_units():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X), P(TRAILER)], [M1])  # not released
    c = port.bind(T0 + 2 * MINUTE, "C", [C(Z), P(TRAILER)], [M3])
    port.release(T0 + 5 * MINUTE, c, M3)
    port.passage(T0 + HOUR, "TERMINAL-QUAY-1", "QUAY-1-GATE", [P("AB123CD"), P(TRAILER), C(X)])
    trailer = port.verdict(f"PLATE:IT:{TRAILER}")
    assert trailer is not None
    assert trailer["verdict"] == "NOT_RELEASED"
    assert {e["iot_id"] for e in trailer["carried"]} == {a, c}
    tractor = port.verdict("PLATE:IT:AB123CD")
    assert tractor is not None
    assert [e["iot_id"] for e in tractor["carried"]] == [a]
    assert port.state.iots[a].itu_keys == [
        f"CONTAINER:{X}",
        f"PLATE:IT:{TRAILER}",
        "PLATE:IT:AB123CD",
    ]


def _two_trucks(late_first: bool) -> tuple[Port, str, str]:
    """X (not released) on truck AB123CD at 1 h, then with Z (released) on ZZ999ZZ at 2 h; the
    reads come from two read points (two partitions), the older one last when ``late_first``."""
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    c = port.bind(T0 + 2 * MINUTE, "C", [C(Z)], [M3])
    port.release(T0 + 5 * MINUTE, c, M3)
    reads = [
        (T0 + HOUR, "QUAY-1-CRANE-1", [C(X), P("AB123CD")]),
        (T0 + 2 * HOUR, "QUAY-1-CRANE-2", [C(X), C(Z), P("ZZ999ZZ")]),
    ]
    for at, point, identifiers in reversed(reads) if late_first else reads:
        port.passage(at, "TERMINAL-QUAY-1", point, identifiers)
    return port, a, c


def test_a_late_older_read_does_not_move_a_unit_back_to_the_truck_it_left():
    in_order, a, c = _two_trucks(late_first=False)
    late, _, _ = _two_trucks(late_first=True)
    for port in (in_order, late):
        truck = port.verdict("PLATE:IT:ZZ999ZZ")
        assert truck is not None
        assert truck["verdict"] == "NOT_RELEASED"
        assert {e["iot_id"] for e in truck["carried"]} == {a, c}
        assert port.verdict("PLATE:IT:AB123CD") is None  # carries nothing now
        assert port.state.ledger.carried("PLATE:IT:AB123CD") == []


def _kept(binding_late: bool) -> tuple[Port, str, str]:
    """X is loaded on truck AB123CD (which carries Z, released) at 1 h; X's binding, valid from
    30 min, reaches the core after the read when ``binding_late``."""
    port = Port()
    c = port.bind(T0 + MINUTE, "C", [C(Z), P("AB123CD")], [M3])
    port.release(T0 + 5 * MINUTE, c, M3)
    read = (T0 + HOUR, "TERMINAL-QUAY-1", "QUAY-1-CRANE-1", [C(X), P("AB123CD")])
    if binding_late:
        port.passage(*read)
    a = port.bind(T0 + 30 * MINUTE, "A", [C(X)], [M1])
    if not binding_late:
        port.passage(*read)
    return port, a, c


def test_a_read_kept_for_a_late_binding_puts_its_unit_on_the_truck_it_was_read_with():
    for binding_late in (False, True):
        port, a, c = _kept(binding_late)
        truck = port.verdict("PLATE:IT:AB123CD")
        assert truck is not None, binding_late
        assert truck["verdict"] == "NOT_RELEASED", binding_late
        assert {e["iot_id"] for e in truck["carried"]} == {a, c}, binding_late
        assert port.state.iots[a].position.node_id == "TERMINAL-QUAY-1"
