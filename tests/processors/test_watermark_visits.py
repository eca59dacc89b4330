"""The watermark visits only the IOT_IDs with a deadline or retirement due and the waits that
ended, and a declaration only the IOT_IDs bound to its MRN; that changes nothing the core
publishes: random traffic (bindings and MRNs added to them, reads at the quay and the gate,
declarations, releases, holds, lifts and exits, some for IOT_IDs that never come, days going
by) gives the same outputs, in the same order, and the same state as a core that visits every
IOT_ID and every waiting input at each step of the watermark and at each declaration, as the
core did before."""

from __future__ import annotations

import types
from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st

from processors.core import waiting
from tests.processors.port import DAY, HOUR, MINUTE, T0, C, Port, box, iot_of, mrn

UNITS = [box(f"{n:06d}") for n in range(3)]
STEPS = [0, 1, MINUTE, HOUR, DAY, 2 * DAY, 3 * DAY + HOUR, 7 * DAY, 8 * DAY]
ACTIONS = ("bind", "quay", "gate", "release", "hold", "lift", "exit", "declare", "add-mrn")
DECLARED = ("RELEASED", "UNDER_CONTROL", "ANNULLED")


def _visiting_every_iot(port: Port) -> Port:
    state = port.state
    state.iots_due = types.MethodType(lambda self, mark: sorted(self.iots), state)
    state.bound_to = types.MethodType(
        lambda self, m: [self.iots[i] for i in sorted(self.iots) if m in self.iots[i].mrns], state
    )
    return port


def _run(port: Port, script: list[tuple[str, int, int]]) -> Port:
    at, bound = T0 + MINUTE, {}
    for action, unit, step in script:
        at += step
        code, number = UNITS[unit], mrn(unit + 1)
        # an input for a unit not bound yet names an IOT_ID still to come: it waits
        iot_id = bound.get(unit, iot_of(T0, f"R-{unit}"))
        if action == "bind":
            bound.setdefault(unit, iot_of(at, f"R-{unit}"))
            port.send(
                "BindingRequested",
                at,
                event_id=None,
                request_id=f"R-{unit}",
                mrns=[number],
                itus=[C(code)],
                mission_path_id="IMPORT-ROAD",
                requested_by="officer",
            )
        elif action == "quay":
            port.passage(at, "TERMINAL-QUAY-1", "QUAY-1", [C(code)])
        elif action == "gate":
            port.passage(at, "PORT-GATE-1", "GATE-1", [C(code)], direction="OUT")
        elif action == "release":
            port.release(at, iot_id, number)
        elif action == "hold":
            port.hold(at, iot_id, f"H-{unit}", "CUSTOMS")
        elif action == "lift":
            port.lift(at, iot_id, f"H-{unit}", "CUSTOMS")
        elif action == "declare":
            port.declare(at, number, DECLARED[step % 3])
        elif action == "add-mrn":
            port.change(at, iot_id, mrns_added=[mrn((unit + 1) % 3 + 1)])
        else:
            port.exit(at, iot_id)
    return port


@settings(max_examples=150)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(ACTIONS),
            st.integers(0, len(UNITS) - 1),
            st.sampled_from(STEPS),
        ),
        min_size=5,
        max_size=60,
    )
)
# two IOT_IDs overdue at the same step, then one retired a week after its exit
@example(
    [
        *[("bind", 0, 0), ("bind", 1, 1), ("quay", 0, 1), ("quay", 1, 1), ("gate", 2, 3 * DAY)],
        *[("release", 0, HOUR), ("gate", 0, 1), ("exit", 0, 1), ("quay", 2, 8 * DAY)],
    ]
)
# a hold for an IOT_ID that never comes, and a passage of a unit never bound, expire a day on
@example([("hold", 1, 0), ("quay", 2, 1), ("bind", 0, DAY), ("bind", 0, DAY + 1)])
# a declaration for the MRNs of two IOT_IDs, one bound to it later, then retired
@example(
    [
        *[("bind", 0, 0), ("bind", 1, 1), ("add-mrn", 0, 1), ("declare", 0, 1), ("quay", 0, 1)],
        *[("release", 0, 1), ("gate", 0, 1), ("exit", 0, 1), ("declare", 1, 8 * DAY)],
        ("declare", 0, 1),
    ]
)
# a deadline exactly at the watermark is not passed yet; a retirement exactly at it is due
@example([("bind", 0, 0), ("quay", 0, 1), ("bind", 1, 3 * DAY), ("bind", 2, 1)])
@example(
    [
        *[("bind", 0, 0), ("quay", 0, 1), ("release", 0, 1), ("gate", 0, 1), ("exit", 0, 1)],
        *[("bind", 1, 7 * DAY), ("bind", 2, 1)],
    ]
)
def test_visiting_only_what_is_due_publishes_what_visiting_everything_did(script):
    mine = _run(Port(), script)
    with mock.patch.object(waiting, "_expired", lambda heap, entries, mark: sorted(entries)):
        every = _run(_visiting_every_iot(Port()), script)
    assert mine.outputs == every.outputs
    assert mine.state == every.state


def test_the_heap_of_dues_stays_within_four_entries_per_iot_id_on_a_long_run():
    # unit 1 overdue first: the heap is made then; unit 0 is then stored at each hold and lift
    script = [("bind", 1, 0), ("quay", 1, 1), ("gate", 2, 3 * DAY), ("bind", 0, 1), ("quay", 0, 1)]
    for _ in range(150):
        script += [("hold", 0, MINUTE), ("lift", 0, MINUTE)]
    script += [("gate", 2, 3 * DAY), ("release", 1, 1), ("gate", 1, 1), ("exit", 1, 1)]
    mine, sizes = Port(), []
    original = mine.state.store

    def store(iot):
        original(iot)
        sizes.append(len(mine.state.iots_by_due or ()))

    mine.state.store = store
    _run(mine, [*script, ("bind", 2, 8 * DAY)])
    with mock.patch.object(waiting, "_expired", lambda heap, entries, mark: sorted(entries)):
        every = _run(_visiting_every_iot(Port()), [*script, ("bind", 2, 8 * DAY)])
    assert mine.outputs == every.outputs
    assert max(sizes) <= 4 * 3 + 64 + 2
    assert max(sizes) > 4 * 2  # it was made, and grew
    assert len(sizes) > 300  # the run stored the IOT_ID far more often than the bound
