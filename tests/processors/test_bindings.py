"""Bindings: a binding change goes through the rules of a new binding, conflicts are judged by
event time, and a conflict always names the IOT_ID it is about."""

from __future__ import annotations

import pytest

from processors.core import Channel, CoreConfig
from tests.processors.port import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    C,
    P,
    Port,
    box,
    deviations,
    iot_of,
    mrn,
    refusals,
)

X, Y, Z = box("000001"), box("000002"), box("000003")
M1, M2 = mrn(1), mrn(2)


def test_a_binding_change_adding_a_unit_bound_elsewhere_is_a_conflict_like_a_new_binding():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])  # not released
    b = port.bind(T0 + 2 * MINUTE, "B", [C(Y)], [M2])
    port.release(T0 + 10 * MINUTE, b, M2)
    outputs = port.change(T0 + 20 * MINUTE, b, itus_added=[C(X)])
    [conflict] = deviations(outputs, "BINDING_CONFLICT")
    assert conflict["iot_id"] == a
    assert f"binding change of IOT_ID {b}" in conflict["observed"]
    [(kind, reason)] = refusals(outputs)
    assert kind == "BindingConflict"
    assert f"CONTAINER:{X} is already bound to IOT_ID {a}" in reason
    assert port.verdict(f"CONTAINER:{X}")["iot_id"] == a
    assert not port.may_leave(f"CONTAINER:{X}")
    assert [i.iot_id for i in port.state.ledger.active(f"CONTAINER:{X}")] == [a]
    assert all(o.channel is not Channel.BINDINGS for o in outputs)


def test_a_binding_change_of_an_ended_binding_is_refused_and_its_units_stay_free():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.end(T0 + HOUR, a)
    outputs = port.change(T0 + 2 * HOUR, a, itus_added=[C(Y)])
    [(kind, reason)] = refusals(outputs)
    assert (kind, reason) == (
        "InvalidBindingChange",
        f"binding change of {a}: its binding is closed and no longer changes",
    )
    b = port.bind(T0 + 3 * HOUR, "B", [C(Y)], [M2])
    assert b in port.state.iots
    # What crashed the core: A retires, and a gate reads Y.
    port.passage(T0 + 8 * DAY, "TERMINAL-QUAY-1", "Q1", [C(Z)])
    assert a not in port.state.iots
    port.passage(T0 + 8 * DAY + MINUTE, "PORT-GATE-1", "G1", [C(Y)], "OUT")
    assert port.state.iots[b].position.node_id == "PORT-GATE-1"


def test_a_binding_change_removing_what_it_does_not_bind_is_refused_and_tombstones_nothing():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    b = port.bind(T0 + 2 * MINUTE, "B", [C(Y)], [M2])
    outputs = port.change(T0 + HOUR, b, itus_removed=[C(X)], mrns_removed=[M1])
    [(kind, reason)] = refusals(outputs)
    assert kind == "InvalidBindingChange"
    assert f"CONTAINER:{X} is not bound to it; MRN {M1} is not bound to it" in reason
    assert port.verdict(f"CONTAINER:{X}")["iot_id"] == a


def test_a_binding_change_adding_an_annulled_declaration_is_a_deviation():
    port = Port()
    port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.declare(T0 + HOUR, M1, "ANNULLED")
    b = port.bind(T0 + 2 * HOUR, "B", [C(Y)], [M2])
    port.release(T0 + 2 * HOUR + 1, b, M2)
    outputs = port.change(T0 + 3 * HOUR, b, mrns_added=[M1])
    [annulled] = deviations(outputs, "DECLARATION_ANNULLED")
    assert annulled["iot_id"] == b
    assert f"declaration {M1} was annulled before this binding change" in annulled["observed"]
    assert port.verdict(f"CONTAINER:{Y}")["reasons"] == [f"MRN {M1} annulled"]


def test_a_binding_change_adding_a_carrier_it_has_already_adds_it_once():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X), P("AB123CD")], [M1])
    port.change(T0 + HOUR, a, itus_added=[P("AB123CD"), P("ab 123 cd")])
    assert port.state.iots[a].itu_keys == [f"CONTAINER:{X}", "PLATE:IT:AB123CD"]


@pytest.mark.parametrize("exit_first", [True, False])
def test_a_request_is_judged_at_its_own_time_whether_the_exit_came_first_or_not(exit_first):
    # A leaves at 2 h; B asks for the container from 1 h: by event time it was A's then. The
    # exit (the GdF's topic) and the request (Customs') reach the core in either order.
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.release(T0 + 2 * MINUTE, a, M1)
    if exit_first:
        port.exit(T0 + 2 * HOUR, a)
    b = port.bind(T0 + HOUR, "B", [C(X)], [M2])
    if not exit_first:
        port.exit(T0 + 2 * HOUR, a)
    assert b not in port.state.iots
    [conflict] = deviations(port.outputs, "BINDING_CONFLICT")
    assert conflict["iot_id"] == a
    assert port.verdict(f"CONTAINER:{X}")["verdict"] == "EXITED"
    intervals = port.state.ledger.intervals[f"CONTAINER:{X}"]
    assert [(i.iot_id, i.valid_to) for i in intervals] == [(a, T0 + 2 * HOUR)]


def test_a_request_from_after_the_exit_binds_the_unit_again():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.exit(T0 + 2 * HOUR, a)
    b = port.bind(T0 + 2 * HOUR, "B", [C(X)], [M2])
    assert b in port.state.iots
    assert deviations(port.outputs, "BINDING_CONFLICT") == []


def test_a_conflict_with_an_iot_id_retired_since_names_it_and_is_keyed_by_it():
    port = Port(CoreConfig(retire_after_ms=DAY))  # retired within the dedupe horizon
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.exit(T0 + 2 * HOUR, a)
    port.passage(T0 + 2 * DAY, "TERMINAL-QUAY-1", "Q1", [C(Z)])  # A retires
    assert a not in port.state.iots
    outputs = port.send(
        "BindingRequested",
        T0 + HOUR,  # a request of long ago, arriving now
        request_id="B",
        mrns=[M2],
        itus=[C(X)],
        mission_path_id="IMPORT-ROAD",
        requested_by="officer",
    )
    [conflict] = [o for o in outputs if o.channel is Channel.DEVIATIONS]
    assert conflict.key == a
    assert conflict.value["iot_id"] == a
    assert conflict.value["mission_path_id"] == "IMPORT-ROAD"
    assert "until 2026-11-25T11:46:40Z" in conflict.value["observed"]
    [(kind, reason)] = refusals(outputs)
    assert kind == "BindingConflict"
    assert "after this input's time" in reason


@pytest.mark.parametrize("late", ["declaration", "release"])
def test_an_ended_iot_id_never_speaks_for_its_unit_bound_again_since(late):
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.end(T0 + HOUR, a)
    b = port.bind(T0 + 2 * HOUR, "B", [C(X)], [M2])  # not released
    if late == "declaration":
        outputs = port.declare(T0 + 3 * HOUR, M1, "RELEASED")
    else:
        outputs = port.release(T0 + 3 * HOUR, a, M1)
    assert all(o.key != f"CONTAINER:{X}" for o in outputs)
    assert port.verdict(f"CONTAINER:{X}")["iot_id"] == b
    assert not port.may_leave(f"CONTAINER:{X}")


def test_a_closed_iot_id_s_unit_gets_no_verdict_back_from_a_late_input():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.end(T0 + HOUR, a)
    port.release(T0 + 30 * MINUTE, a, M1)  # a release of before the end, arriving after it
    assert port.verdict(f"CONTAINER:{X}") is None


def test_ending_an_exited_binding_leaves_the_verdict_of_the_unit_s_new_binding():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.release(T0 + 2 * MINUTE, a, M1)
    port.exit(T0 + HOUR, a)
    b = port.bind(T0 + 2 * HOUR, "B", [C(X)], [M2])
    port.release(T0 + 2 * HOUR + 1, b, M2)
    outputs = port.end(T0 + 3 * HOUR, a)
    assert all(o.key != f"CONTAINER:{X}" for o in outputs)
    assert port.verdict(f"CONTAINER:{X}")["iot_id"] == b
    assert port.may_leave(f"CONTAINER:{X}")


def test_retiring_an_old_exit_leaves_the_verdict_of_the_unit_s_next_exit():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    port.exit(T0 + HOUR, a)
    b = port.bind(T0 + 2 * HOUR, "B", [C(X)], [M2])
    port.exit(T0 + 3 * HOUR, b)
    port.passage(T0 + 7 * DAY + 90 * MINUTE, "TERMINAL-QUAY-1", "Q1", [C(Z)])  # A retires, B not
    assert a not in port.state.iots
    assert b in port.state.iots
    assert port.verdict(f"CONTAINER:{X}")["iot_id"] == b


def _request(port: Port, at: int, request_id: str, mrns: list[str]) -> list:
    return port.send(
        "BindingRequested",
        at,
        request_id=request_id,
        mrns=mrns,
        itus=[C(X)],
        mission_path_id="IMPORT-ROAD",
        requested_by="officer",
    )


def test_a_request_id_used_before_is_refused_naming_the_iot_id_it_made():
    port = Port()
    a = port.bind(T0 + MINUTE, "A", [C(X)], [M1])
    assert _request(port, T0 + 10 * MINUTE, "A", [M1]) == []  # the same request sent again
    port.end(T0 + HOUR, a)
    outputs = _request(port, T0 + 2 * HOUR, "A", [M2])  # another request, with the same id
    [(kind, reason)] = refusals(outputs)
    assert kind == "DuplicateRequestId"
    assert f"that request id made IOT_ID {a} already, for other MRNs, units or path" in reason
    assert iot_of(T0 + 2 * HOUR, "A") not in port.state.iots
