"""EMERGENCY_UNWIND in policies/hedging/assignment.yaml (seed 000, Emergency Unwind Runbook and the
HedgeAction EMERGENCY_UNWIND): while new hedging is halted, a short leg at critical assignment
risk (|delta| > 0.90) cannot be rolled (procedure C opens a new hedge), so it is unwound —
recorded once per position and halt, and written to the audit trail as EMERGENCY_UNWIND."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import policy_engine
from policy_engine.audit import AuditLog
from policy_engine.machine import MachineState, StepResult
from policy_engine.store import MachineRunner, MachineStore

ROOT = Path(__file__).resolve().parents[2]
MACHINE = policy_engine.load(ROOT / "policies/hedging/assignment.yaml")
HALT_ON_CRITICAL = policy_engine.load(ROOT / "policies/hedging/assignment.yaml", {"halt_on_critical_delta": True})
T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def leg(position_id: str, delta: float) -> dict[str, Any]:
    return {"position_id": position_id, "short_leg_delta": delta, "long_leg_exercisable": True}


def assignment(assignment_id: str, minutes: float, resolved: float | None = None) -> dict[str, Any]:
    return {"assignment_id": assignment_id, "position_id": f"POS-{assignment_id}", "assigned_at": at(minutes),
            "resolved_at": at(resolved) if resolved is not None else None,
            "procedure": "B" if resolved is not None else None, "long_leg_exercisable": False}


def obs(minutes: float, legs: list[dict[str, Any]], assignments: list[dict[str, Any]] | None = None,
        resume: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"now": at(minutes), "short_legs": legs, "assignments": assignments or []}
    if resume is not None:
        data["resume"] = {"by": "desk-lead", "at": at(resume)}
    return data


def unwinds(result: StepResult) -> list[dict[str, Any]]:
    return [item for item in result.items if item["action"] == "EMERGENCY_UNWIND"]


class Desk:
    def __init__(self, machine: Any = MACHINE) -> None:
        self.machine = machine
        self.state: MachineState = machine.initial_state(at(-60))

    def step(self, observation: dict[str, Any]) -> StepResult:
        result = self.machine.step(self.state, observation, trace=False)
        self.state = result.new_state
        return result


def test_a_critical_leg_without_a_halt_is_not_unwound() -> None:
    result = Desk().step(obs(0, [leg("P1", -0.95)]))
    assert result.new_state.mode == "NORMAL" and unwinds(result) == []
    assert result.outputs["remediation"] == [{"assignment_id": None, "position_id": "P1", "procedure": "C"}]


def test_a_critical_halt_unwinds_the_critical_leg() -> None:
    result = Desk(HALT_ON_CRITICAL).step(obs(0, [leg("P1", -0.95), leg("P2", -0.85)]))
    assert result.new_state.mode == "HALTED"
    assert unwinds(result) == [{"action": "EMERGENCY_UNWIND", "position_id": "P1", "short_leg_delta": 0.95,
                                "level": "critical", "requires_authorization": True}]
    assert result.outputs["remediation"] == [
        {"assignment_id": None, "position_id": "P1", "procedure": "EMERGENCY_UNWIND"},
        {"assignment_id": None, "position_id": "P2", "procedure": "C"}]     # high, not critical: roll later


def test_a_halt_for_another_cause_unwinds_critical_legs_once_each() -> None:
    desk = Desk()
    two = [assignment("1", -30, -20), assignment("2", -10)]
    first = desk.step(obs(0, [leg("P1", 0.93)], two))                 # two assignments in a day: HALTED
    assert desk.state.mode == "HALTED" and [u["position_id"] for u in unwinds(first)] == ["P1"]
    assert unwinds(desk.step(obs(10, [leg("P1", 0.94)], two))) == []  # recorded once per halt
    later = desk.step(obs(20, [leg("P1", 0.94), leg("P3", -0.91), leg("P4", -0.90)], two))
    assert [u["position_id"] for u in unwinds(later)] == ["P3"]       # exactly 0.90 is high, not critical
    assert desk.state.memory["unwound_ids"] == ["P1", "P3"]


def test_the_record_of_a_halt_ends_with_it() -> None:
    desk = Desk()
    desk.step(obs(0, [leg("P1", 0.95)], [assignment("1", -30, -20), assignment("2", -10)]))
    resolved = [assignment("1", -30, -20), assignment("2", -10, 5)]
    desk.step(obs(10, [], resolved, resume=8))
    assert desk.state.mode == "NORMAL" and desk.state.memory["unwound_ids"] == []
    again = desk.step(obs(20, [leg("P1", 0.95)], [*resolved, assignment("3", 15)]))   # a third assignment
    assert desk.state.mode == "HALTED" and [u["position_id"] for u in unwinds(again)] == ["P1"]


def test_the_unwind_is_an_audit_record_of_its_own(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with MachineStore(db) as store:
        MachineRunner(HALT_ON_CRITICAL, store, "desk-1", audit=True).feed(obs(0, [leg("P1", -0.97)]))
    with AuditLog(db) as log:
        (record,) = [r for r in log.records() if r["action"] == "EMERGENCY_UNWIND"]
    assert (record["subject"], record["rule"], record["policy_id"]) == ("desk-1", "EMERGENCY_UNWIND",
                                                                       "hedging.assignment")
    assert record["details"] == {"action": "EMERGENCY_UNWIND", "state": "HALTED", "position_id": "P1",
                                 "short_leg_delta": 0.97, "level": "critical", "requires_authorization": True}
