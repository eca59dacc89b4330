"""Golden scenarios: replay reproduces each expected output exactly; each shows its point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streams.replay.lines import ReplayInputError
from streams.replay.run import replay

HERE = Path(__file__).resolve().parent
NAMES = sorted(p.name.removesuffix(".in.jsonl") for p in HERE.glob("*.in.jsonl"))


REPLIES = "iotrack.replies."


def _outputs(name: str, *, replies: bool = False) -> list[dict]:
    """The expected outputs; the copies on the parties' replies topics only when asked."""
    found = [json.loads(line) for line in (HERE / f"{name}.out.jsonl").read_text().splitlines()]
    return [o for o in found if o["topic"].startswith(REPLIES) == replies]


def _kinds(name: str) -> list[str]:
    return [o["value"]["kind"] for o in _outputs(name) if o["type"] == "iotrack.Deviation"]


@pytest.mark.parametrize("name", NAMES)
def test_replay_reproduces_the_expected_output_exactly(name):
    lines = (HERE / f"{name}.in.jsonl").read_text().splitlines()
    expected = (HERE / f"{name}.out.jsonl").read_text().splitlines()
    assert list(replay(lines)) == expected


def test_the_command_line_prints_the_same():
    name = "exit-attempt-while-phytosanitary-hold"
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(HERE / f"{name}.in.jsonl")],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent.parent,
    )
    assert result.stdout == (HERE / f"{name}.out.jsonl").read_text()


def test_there_are_the_five_scenarios():
    assert len(NAMES) >= 5


def test_a_vessel_discharge_goes_out_clean():
    outputs = _outputs("vessel-discharge-and-gate-out")
    assert _kinds("vessel-discharge-and-gate-out") == []
    final = {}
    for o in outputs:
        if o["type"] == "iotrack.ClearanceVerdict" and o["value"]["itu"] is None:
            final[o["key"]] = o["value"]["verdict"]
    assert len(final) == 4
    assert set(final.values()) == {"EXITED"}


def test_a_fast_corridor_becomes_definitive_at_the_dry_port_before_release():
    states = [
        o["value"] for o in _outputs("fast-corridor-to-dry-port") if o["type"] == "iotrack.IotState"
    ]
    assert [s["status"] for s in states] == ["BOUND", "AT_NODE", "AT_NODE", "DEFINITIVE"]
    assert states[-1]["current_node_id"] == {"string": "DRY-PORT-GUASTICCE"}
    assert _kinds("fast-corridor-to-dry-port") == []


def test_an_exit_attempt_while_a_phytosanitary_hold_is_open_is_caught():
    name = "exit-attempt-while-phytosanitary-hold"
    assert _kinds(name) == ["EXIT_WHILE_HELD"]
    [deviation] = [o["value"] for o in _outputs(name) if o["type"] == "iotrack.Deviation"]
    assert deviation["severity"] == "CRITICAL"
    assert "PHYTOSANITARY" in deviation["observed"]
    [refusal] = [o["value"] for o in _outputs(name) if o["type"] == "iotrack.DeadLetter"]
    assert refusal["reason"] == "hold PHY-77 was placed by PHYTOSANITARY; CUSTOMS cannot lift it"
    verdicts = [
        o["value"]["verdict"]
        for o in _outputs(name)
        if o["type"] == "iotrack.ClearanceVerdict" and o["value"]["itu"] is None
    ]
    assert verdicts == ["NOT_RELEASED", "CLEARED", "HELD", "CLEARED", "EXITED"]


def test_an_unknown_unit_at_the_gate_is_reported_with_its_identifier():
    name = "unknown-unit-at-gate"
    deviations = [o["value"] for o in _outputs(name) if o["type"] == "iotrack.Deviation"]
    unknown = [d for d in deviations if d["kind"] == "UNKNOWN_UNIT"]
    assert len(unknown) == 1
    assert unknown[0]["iot_id"] is None
    assert unknown[0]["itu"]["iotrack.ItuIdentifier"]["value"] == "TEXU3070079"
    assert "EXIT_WITHOUT_RELEASE" in _kinds(name), "the bound one left unreleased"


def test_an_overdue_leg_is_raised_once_by_event_time():
    assert _kinds("overdue-leg").count("OVERDUE") == 1


def test_a_bad_line_names_its_number():
    lines = ['{"type": "iotrack.Passage", "value": {"event_id": "x"}}']
    with pytest.raises(ReplayInputError, match=r"line 1: iotrack\.Passage value"):
        list(replay(lines))
    with pytest.raises(ReplayInputError, match="line 2: unknown record type"):
        list(replay(["", '{"type": "iotrack.Nope", "value": {}}']))


def _values(name: str, record: str) -> list[dict]:
    return [o["value"] for o in _outputs(name) if o["type"] == f"iotrack.{record}"]


def test_a_train_with_a_held_unit_is_refused_amended_permitted_and_departs():
    name = "rail-held-unit-amended-then-departs"
    [answer] = _values(name, "TrainLoadingList")
    assert [i["ready"] for i in answer["items"]] == [{"boolean": b} for b in (1, 1, 1, 0)]
    decisions = [(p["manifest_version"], p["granted"]) for p in _values(name, "PermissionToLeave")]
    assert decisions == [(1, False), (2, True)]
    [check] = _values(name, "ConsistCheck")
    assert check["matched"] is True
    assert len(check["repairs"]) == 2, "a wagon digit and a container letter repaired"
    phases = [s["phase"] for s in _values(name, "TrainStatus")]
    assert phases[-1] == "DEPARTED"
    assert _kinds(name) == []


def test_a_swapped_wagon_is_caught_at_the_exit_and_revokes_permission():
    name = "rail-swapped-wagon-caught-at-exit"
    assert _kinds(name) == ["CONSIST_MISMATCH", "CONSIST_MISMATCH"]
    assert [p["granted"] for p in _values(name, "PermissionToLeave")] == [True, False]
    assert _values(name, "TrainStatus")[-1]["phase"] == "REVOKED"
    assert not any(s["status"] == "AT_NODE" for s in _values(name, "IotState"))


def test_a_rail_operator_is_told_every_answer_about_its_train_and_the_portal_its_check():
    name = "rail-swapped-wagon-caught-at-exit"
    replies = _outputs(name, replies=True)
    operator = [o for o in replies if o["topic"] == f"{REPLIES}rail-operator.tuscan-rail.v1"]
    rail = {"TrainLoadingList", "PermissionToLeave", "TrainStatus", "ConsistCheck"}
    public = [o for o in _outputs(name) if o["type"].removeprefix("iotrack.") in rail]
    assert [o["value"] for o in operator] == [o["value"] for o in public]
    portal = [o for o in replies if o not in operator]
    assert {o["topic"] for o in portal} == {f"{REPLIES}rail-portal.rail-gate-1-ocr.v1"}
    assert [o["type"] for o in portal] == ["iotrack.ConsistCheck"] * len(portal)


def test_a_refusal_is_told_to_the_agency_that_sent_it_and_customs_reads_every_dead_letter():
    lines = (HERE / "exit-attempt-while-phytosanitary-hold.in.jsonl").read_text().splitlines()
    lift = next(line for line in lines if "HoldLifted" in line and "CUSTOMS" in line)
    forged = json.loads(lift)
    forged["from"] = "agency.health"
    outputs = [json.loads(o) for o in replay([*lines[: lines.index(lift)], json.dumps(forged)])]
    told = [o for o in outputs if o["topic"] == f"{REPLIES}agency.health.v1"]
    [letter] = [o for o in outputs if o["topic"] == "iotrack.dead-letters.v1"]
    assert [o["value"] for o in told] == [letter["value"]]
    assert letter["value"]["error_kind"] == "ClaimMismatch"
    assert (
        "claims agency CUSTOMS but came from the channel of agency.health"
        in (letter["value"]["reason"])
    )


def _final_verdicts(name: str) -> dict[str, dict]:
    """The last verdict published per ITU key (a tombstone removes it)."""
    found: dict[str, dict] = {}
    for o in _outputs(name):
        if o["topic"] == "iotrack.clearance.verdicts.by-itu.v1":
            if o["value"] is None:
                found.pop(o["key"], None)
            else:
                found[o["key"]] = o["value"]
    return found


def test_a_truck_with_two_containers_leaves_when_both_are_released():
    name = "truck-with-two-containers-released-one-at-a-time"
    plate = [
        o["value"]
        for o in _outputs(name)
        if o["key"] == "PLATE:IT:AB123CD" and o["value"] is not None
    ]
    assert [v["verdict"] for v in plate] == [
        "NOT_RELEASED",
        "NOT_RELEASED",
        "NOT_RELEASED",
        "CLEARED",
    ]
    assert [len(v["carried"]) for v in plate] == [1, 2, 2, 2]
    half = plate[2]
    assert [c["verdict"] for c in half["carried"]] == ["CLEARED", "NOT_RELEASED"]
    assert half["reasons"] == ["CONTAINER:HLXU3141597: MRN 26IT000000000012R8 not released"]
    final = _final_verdicts(name)
    assert {k: v["may_leave"] for k, v in final.items()} == {
        "CONTAINER:MSCU1234566": True,
        "CONTAINER:HLXU3141597": True,
        "PLATE:IT:AB123CD": True,
    }
    assert _kinds(name) == [], "two containers on one plate are no conflict"


def test_a_container_active_on_one_path_is_refused_on_another_until_its_binding_ended():
    name = "container-rebound-while-active-then-after-its-binding-ended"
    bound = [o["value"]["request_id"] for o in _outputs(name) if o["type"] == "iotrack.IotBound"]
    assert bound == ["FIRST", "THIRD"]
    [conflict] = [o["value"] for o in _outputs(name) if o["type"] == "iotrack.Deviation"]
    assert conflict["kind"] == "BINDING_CONFLICT"
    assert "request SECOND" in conflict["observed"]
    assert "request FIRST" in conflict["observed"]
    [letter] = _values(name, "DeadLetter")
    assert letter["error_kind"] == "BindingConflict"
    assert "IMPORT-ROAD" in letter["reason"]


def test_one_declaration_released_by_its_mrn_releases_every_container_bound_to_it():
    name = "one-declaration-released-by-mrn-over-three-containers"
    final = _final_verdicts(name)
    assert len(final) == 4
    assert all(v["verdict"] == "CLEARED" for v in final.values()), final
    states = [v["state"] for v in _values(name, "DeclarationStatus")]
    assert states == ["ACCEPTED", "RELEASED"]
    assert not _values(name, "CustomsRelease"), "no release per IOT_ID was needed"


def test_a_declaration_under_control_keeps_its_unit_in_even_with_a_release():
    name = "declaration-under-control"
    verdicts = [v["verdict"] for v in _values(name, "ClearanceVerdict") if v["itu"] is None]
    assert verdicts == ["NOT_RELEASED", "CLEARED"], "the release alone changed nothing"
    public = [v for v in _values(name, "ClearanceVerdict") if v["verdict"] != "CLEARED"]
    assert all("control" not in " ".join(v["reasons"]) for v in public)
    [control, done] = _values(name, "DeclarationStatus")
    assert control["state"] == "UNDER_CONTROL"
    assert "risk profile" in control["note"]["string"]
    assert done["state"] == "RELEASED"


def test_an_annulled_declaration_is_a_deviation_on_each_unit_and_cannot_be_released():
    name = "declaration-annulled"
    assert _kinds(name) == ["DECLARATION_ANNULLED", "DECLARATION_ANNULLED"]
    [letter] = _values(name, "DeadLetter")
    assert "annulled" in letter["reason"]
    assert {v["verdict"] for v in _final_verdicts(name).values()} == {"NOT_RELEASED"}


def test_a_release_that_arrives_before_its_binding_waits_for_it():
    name = "release-arrives-before-its-binding"
    lines = (HERE / f"{name}.in.jsonl").read_text().splitlines()
    assert [json.loads(x)["type"] for x in lines[1:]] == [
        "iotrack.CustomsRelease",
        "iotrack.BindingRequested",
    ]
    assert not _values(name, "DeadLetter")
    assert [v["verdict"] for v in _final_verdicts(name).values()] == ["CLEARED"]
