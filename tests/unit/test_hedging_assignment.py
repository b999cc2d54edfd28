"""policies/hedging/assignment.yaml: assignment-risk levels, remediation choice, the kill switch
while an assignment is unresolved, both halts and the resume rule (seed 000; contract
stateful.md readings 15-16). Time is injected: every observation carries its own `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.machine import MachineState, StepResult

ROOT = Path(__file__).resolve().parents[2]
MACHINE = policy_engine.load(ROOT / "policies/hedging/assignment.yaml")
T0 = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)   # Tuesday 09:00 EST


def at(minutes: float = 0, seconds: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes, seconds=seconds)).isoformat().replace("+00:00", "Z")


def short_leg(delta: float, position_id: str = "P1", exercisable: bool = True) -> dict[str, Any]:
    return {"position_id": position_id, "short_leg_delta": delta, "long_leg_exercisable": exercisable}


def assignment(assignment_id: str, assigned_at: str, resolved_at: str | None = None, procedure: str | None = None,
               exercisable: bool = True) -> dict[str, Any]:
    return {"assignment_id": assignment_id, "position_id": f"POS-{assignment_id}", "assigned_at": assigned_at,
            "resolved_at": resolved_at, "procedure": procedure, "long_leg_exercisable": exercisable}


def obs(now: str, short_legs: list[dict[str, Any]] | None = None, assignments: list[dict[str, Any]] | None = None,
        resume: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"now": now, "short_legs": short_legs or [], "assignments": assignments or []}
    if resume is not None:
        data["resume"] = resume
    return data


class Desk:
    """One machine instance stepped over observations."""

    def __init__(self) -> None:
        self.state: MachineState = MACHINE.initial_state(at(-60))
        self.last: StepResult | None = None

    def step(self, observation: dict[str, Any]) -> StepResult:
        self.last = MACHINE.step(self.state, observation, trace=False)
        self.state = self.last.new_state
        return self.last

    @property
    def mode(self) -> str:
        return self.state.mode


def items(result: StepResult, action: str | None = None) -> list[dict[str, Any]]:
    found = [item for record in result.actions for item in record.items]
    return [i for i in found if action is None or i["action"] == action]


# --- assignment-risk levels (reading 16: strict) ----------------------------------------------
@pytest.mark.parametrize(("delta", "level"), [
    (0.60, "none"), (0.6000001, "warning"), (-0.60, "none"), (-0.6000001, "warning"),
    (0.80, "warning"), (0.8000001, "high"), (-0.85, "high"),
    (0.90, "high"), (0.9000001, "critical"), (-1.0, "critical"),
])
def test_levels_are_strict(delta: float, level: str) -> None:
    result = Desk().step(obs(at(), [short_leg(delta)]))
    levels = [r["level"] for r in result.outputs["risk_levels"]]
    assert levels == ([] if level == "none" else [level])
    recorded = items(result)
    if level == "none":
        assert recorded == []
    else:
        (record,) = recorded
        assert record["action"] == ("ASSIGNMENT_RISK_WARNING" if level == "warning" else "ASSIGNMENT_DETECTED")
        assert record["halt_candidate"] is (level == "critical")


def test_seed_manual_test_1_short_leg_delta_085_is_detected_and_counted() -> None:
    result = Desk().step(obs(at(), [short_leg(-0.85, "SPREAD-QQQ")]))
    (record,) = items(result, "ASSIGNMENT_DETECTED")
    assert record == {"action": "ASSIGNMENT_DETECTED", "position_id": "SPREAD-QQQ", "short_leg_delta": 0.85,
                      "level": "high", "halt_candidate": False, "procedure": "C"}
    assert result.outputs["risk_counts"] == {"warning": 0, "high": 1, "critical": 0}


def test_critical_is_a_halt_candidate_not_a_halt_by_default() -> None:
    desk = Desk()
    desk.step(obs(at(), [short_leg(0.95)]))
    assert desk.mode == "NORMAL"
    halting = policy_engine.load(ROOT / "policies/hedging/assignment.yaml", {"halt_on_critical_delta": True})
    result = halting.step(halting.initial_state(at(-1)), obs(at(), [short_leg(0.95)]), trace=False)
    assert result.new_state.mode == "HALTED" and result.transitions[0].trigger == "critical_assignment_risk"


# --- remediation choice among procedures A/B/C -------------------------------------------------
def test_remediation_procedures() -> None:
    result = Desk().step(obs(at(30), [short_leg(0.85, "RISKY"), short_leg(0.65, "WATCH")], [
        assignment("1", at(0), exercisable=True), assignment("2", at(10), exercisable=False)]))
    assert result.outputs["remediation"] == [
        {"assignment_id": "1", "position_id": "POS-1", "procedure": "A"},    # exercise the paired long leg
        {"assignment_id": "2", "position_id": "POS-2", "procedure": "B"},    # close both legs at market
        {"assignment_id": None, "position_id": "RISKY", "procedure": "C"},   # roll before it is assigned
    ]
    received = items(result, "ASSIGNMENT_RECEIVED")
    assert [(r["assignment_id"], r["procedure"]) for r in received] == [("1", "A"), ("2", "B")]


@pytest.mark.parametrize(("procedure", "action"), [
    ("A", "ASSIGNMENT_EXERCISED"), ("B", "ASSIGNMENT_CLOSED"), ("C", "ROLL_TRIGGERED"),
])
def test_resolutions_are_recorded_once(procedure: str, action: str) -> None:
    desk = Desk()
    desk.step(obs(at(10), assignments=[assignment("1", at(0))]))
    resolved = [assignment("1", at(0), at(20), procedure)]
    assert [i["action"] for i in items(desk.step(obs(at(30), assignments=resolved)))] == ["KILL_SWITCH_OFF", action]
    assert items(desk.step(obs(at(40), assignments=resolved))) == []


# --- the kill switch while an assignment is unresolved ----------------------------------------
def test_kill_switch_stays_on_while_unresolved_and_goes_off_when_resolved() -> None:
    desk = Desk()
    first = desk.step(obs(at(10), assignments=[assignment("1", at(0))]))
    assert desk.mode == "ASSIGNMENT_OPEN" and first.outputs["kill_switch"] is True
    assert items(first, "KILL_SWITCH_ON") == [{"action": "KILL_SWITCH_ON", "state": "ASSIGNMENT_OPEN",
                                                "unresolved": ["1"]}]
    for minutes in (60, 120, 239):
        held = desk.step(obs(at(minutes), assignments=[assignment("1", at(0))]))
        assert held.outputs["kill_switch"] is True and held.outputs["new_hedging_allowed"] is False
        assert items(held, "KILL_SWITCH_ON") == []
    done = desk.step(obs(at(240), assignments=[assignment("1", at(0), at(235), "A")]))
    assert desk.mode == "NORMAL" and done.outputs["kill_switch"] is False
    assert items(done, "KILL_SWITCH_OFF") == [{"action": "KILL_SWITCH_OFF", "after": "ASSIGNMENT_OPEN"}]


# --- halt 1: two or more assignments on one US-Eastern day ------------------------------------
def test_two_assignments_in_a_day_halt_and_escalate() -> None:
    desk = Desk()
    desk.step(obs(at(10), assignments=[assignment("1", at(0), at(5), "A")]))
    assert desk.mode == "NORMAL"
    result = desk.step(obs(at(60), assignments=[assignment("1", at(0), at(5), "A"), assignment("2", at(50))]))
    assert desk.mode == "HALTED"
    assert [(t.from_mode, t.to_mode, t.trigger) for t in result.transitions] == [
        ("NORMAL", "HALTED", "multiple_assignments")]
    assert "HEDGING_HALTED" in [e.type for e in result.events]
    (escalation,) = items(result, "ESCALATION_REQUESTED")
    assert escalation["cause"] == "multiple_assignments" and escalation["assignments_today"] == ["1", "2"]
    assert result.outputs["kill_switch"] is True


def test_assignments_on_different_new_york_days_do_not_halt() -> None:
    # 22:00 EST on 3 March is 03:00 UTC on 4 March: the same UTC date, another New York date
    evening = "2025-03-04T03:00:00Z"
    desk = Desk()
    desk.state = MACHINE.initial_state("2025-03-04T02:00:00Z")
    result = desk.step(obs(at(60), assignments=[assignment("1", evening, "2025-03-04T03:30:00Z", "A"),
                                               assignment("2", at(50), at(55), "A")]))
    assert result.outputs["assignment_count_today"] == 1 and desk.mode == "NORMAL"


def test_same_new_york_day_across_utc_midnight_halts() -> None:
    # 10:00 EST and 20:00 EST on 4 March: the second is already 5 March in UTC
    desk = Desk()
    late = "2025-03-05T01:00:00Z"
    result = desk.step(obs("2025-03-05T01:30:00Z", assignments=[
        assignment("1", "2025-03-04T15:00:00Z", "2025-03-04T16:00:00Z", "B"), assignment("2", late, late, "B")]))
    assert result.outputs["assignment_count_today"] == 2 and desk.mode == "HALTED"


# --- halt 2: an assignment unresolved for more than 4 hours (exactly 4h00m00s is not yet) ------
@pytest.mark.parametrize(("minutes", "seconds", "mode"), [
    (3 * 60 + 59, 0, "ASSIGNMENT_OPEN"),     # 3h59m
    (4 * 60, 0, "ASSIGNMENT_OPEN"),          # exactly 4h00m00s
    (4 * 60, 1, "HALTED"),                   # 4h00m01s
    (4 * 60 + 1, 0, "HALTED"),               # 4h01m
])
def test_unresolved_for_more_than_four_hours_halts(minutes: int, seconds: int, mode: str) -> None:
    desk = Desk()
    desk.step(obs(at(1), assignments=[assignment("1", at(0))]))
    result = desk.step(obs(at(minutes, seconds), assignments=[assignment("1", at(0))]))
    assert desk.mode == mode
    if mode == "HALTED":
        assert result.transitions[0].trigger == "assignment_unresolved"
        assert [i["assignment_id"] for i in items(result, "ASSIGNMENT_UNRESOLVED")] == ["1"]
        assert items(result, "ESCALATION_REQUESTED")[0]["cause"] == "assignment_unresolved"


def test_first_observation_of_an_old_unresolved_assignment_halts_at_once() -> None:
    desk = Desk()
    result = desk.step(obs(at(300), assignments=[assignment("1", at(0))]))
    assert desk.mode == "HALTED"
    assert [i["action"] for i in items(result)] == ["KILL_SWITCH_ON", "ESCALATION_REQUESTED",
                                                     "ASSIGNMENT_RECEIVED", "ASSIGNMENT_UNRESOLVED"]


# --- the halt holds until nothing is unresolved and a resume action is recorded ---------------
def halted_desk() -> Desk:
    desk = Desk()
    desk.step(obs(at(1), assignments=[assignment("1", at(0))]))
    desk.step(obs(at(241), assignments=[assignment("1", at(0))]))     # halted at T0 + 4h01m
    assert desk.mode == "HALTED"
    return desk


def test_resolution_alone_does_not_lift_the_halt() -> None:
    desk = halted_desk()
    result = desk.step(obs(at(300), assignments=[assignment("1", at(0), at(290), "B")]))
    assert desk.mode == "HALTED" and result.outputs["kill_switch"] is True
    assert [i["action"] for i in items(result)] == ["ASSIGNMENT_CLOSED"]


def test_resume_while_unresolved_is_refused_once() -> None:
    desk = halted_desk()
    resume = {"by": "desk-lead", "at": at(250)}
    refused = desk.step(obs(at(255), assignments=[assignment("1", at(0))], resume=resume))
    assert desk.mode == "HALTED"
    assert items(refused, "RESUME_REFUSED")[0]["why"] == "assignments unresolved"
    again = desk.step(obs(at(260), assignments=[assignment("1", at(0))], resume=resume))
    assert items(again, "RESUME_REFUSED") == []
    # the same resume, once resolved: it was recorded before the resolution, so it does not count
    late = desk.step(obs(at(300), assignments=[assignment("1", at(0), at(290), "A")], resume=resume))
    assert desk.mode == "HALTED" and late.transitions == ()


def test_resume_recorded_before_the_halt_does_not_count() -> None:
    desk = halted_desk()
    stale = {"by": "desk-lead", "at": at(200)}
    desk.step(obs(at(300), assignments=[assignment("1", at(0), at(290), "A")], resume=stale))
    assert desk.mode == "HALTED"


def test_resume_after_resolution_lifts_the_halt() -> None:
    desk = halted_desk()
    resolved = [assignment("1", at(0), at(290), "A")]
    desk.step(obs(at(300), assignments=resolved))
    result = desk.step(obs(at(310), assignments=resolved, resume={"by": "desk-lead", "at": at(305)}))
    assert desk.mode == "NORMAL"
    assert [(t.from_mode, t.to_mode, t.trigger) for t in result.transitions] == [("HALTED", "NORMAL", "resume")]
    assert "HEDGING_RESUMED" in [e.type for e in result.events]
    assert items(result, "KILL_SWITCH_OFF") == [{"action": "KILL_SWITCH_OFF", "after": "HALTED"}]
    assert result.outputs["new_hedging_allowed"] is True


def test_after_a_resume_only_a_further_assignment_halts_again() -> None:
    desk = Desk()
    day = [assignment("1", at(0), at(5), "A"), assignment("2", at(10), at(15), "A")]
    desk.step(obs(at(20), assignments=day))
    assert desk.mode == "HALTED"
    desk.step(obs(at(30), assignments=day, resume={"by": "desk-lead", "at": at(25)}))
    assert desk.mode == "NORMAL"
    desk.step(obs(at(40), assignments=day))
    assert desk.mode == "NORMAL"                      # the two reviewed ones do not halt again
    third = desk.step(obs(at(50), assignments=[*day, assignment("3", at(45))]))
    assert desk.mode == "HALTED" and third.transitions[0].trigger == "multiple_assignments"


# --- observations that cannot be trusted halt (fail closed) -----------------------------------
@pytest.mark.parametrize("bad", [
    obs(at(10), assignments=[assignment("1", at(20))]),                          # assigned in the future
    obs(at(10), assignments=[assignment("1", at(0), at(5), None)]),              # resolved without procedure
    obs(at(10), assignments=[assignment("1", at(0)), assignment("1", at(1))]),   # duplicate id
    obs(at(10), [short_leg(1.5)]),                                               # delta outside [-1, 1]
])
def test_invalid_observations_halt(bad: dict[str, Any]) -> None:
    desk = Desk()
    result = desk.step(bad)
    assert desk.mode == "HALTED" and result.transitions[0].trigger == "data_invalid"
    assert result.events[0].severity == "CRITICAL"
