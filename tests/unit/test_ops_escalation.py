"""policies/ops/escalation.yaml: an open incident walks operator -> admin -> engineering, each level
after its own time-out (>=, measured from the step that gave it the incident), and stops when
resolved (seed 001 §2, §5.2, §5.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.machine import MachineState, StepResult

ROOT = Path(__file__).resolve().parents[2]
MACHINE = policy_engine.load(ROOT / "policies/ops/escalation.yaml")
T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
OPERATOR, ADMIN, ENGINEERING = 15 * 60, 30 * 60, 60 * 60   # default time-outs, in seconds
JUST_BEFORE = 0.000001


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def obs(seconds: float, open_: bool = True, **changes: Any) -> dict[str, Any]:
    return {"now": at(seconds), "incident_id": "INC-7", "open": open_, **changes}


class Incident:
    def __init__(self) -> None:
        self.state: MachineState = MACHINE.initial_state(at(0))

    def step(self, observation: dict[str, Any]) -> StepResult:
        result = MACHINE.step(self.state, observation, trace=False)
        self.state = result.new_state
        return result

    @property
    def level(self) -> str:
        return self.state.mode


def raised() -> Incident:
    incident = Incident()
    result = incident.step(obs(0))
    assert incident.level == "OPERATOR" and [e.type for e in result.events] == ["OPERATOR_NOTIFIED"]
    return incident


def test_operator_time_out_edge() -> None:
    incident = raised()
    incident.step(obs(OPERATOR - JUST_BEFORE))
    assert incident.level == "OPERATOR"
    result = incident.step(obs(OPERATOR))
    assert incident.level == "ADMIN"
    assert [(t.from_mode, t.to_mode, t.trigger) for t in result.transitions] == [
        ("OPERATOR", "ADMIN", "operator_timeout")]
    assert [e.type for e in result.events] == ["ESCALATED_TO_ADMIN"]


def test_admin_time_out_edge_counts_from_the_escalation() -> None:
    incident = raised()
    incident.step(obs(OPERATOR + 60))                   # observed a minute late: admin since then
    incident.step(obs(OPERATOR + 60 + ADMIN - JUST_BEFORE))
    assert incident.level == "ADMIN"
    result = incident.step(obs(OPERATOR + 60 + ADMIN))
    assert incident.level == "ENGINEERING"
    assert result.events[0].type == "ESCALATED_TO_ENGINEERING" and result.events[0].severity == "CRITICAL"


def test_engineering_time_out_is_reported_once() -> None:
    incident = raised()
    incident.step(obs(OPERATOR))
    incident.step(obs(OPERATOR + ADMIN))
    start = OPERATOR + ADMIN
    before = incident.step(obs(start + ENGINEERING - JUST_BEFORE))
    assert before.actions == ()
    due = incident.step(obs(start + ENGINEERING))
    assert [i for a in due.actions for i in a.items] == [
        {"action": "ESCALATION_OVERDUE", "incident_id": "INC-7", "level": "ENGINEERING"}]
    assert incident.step(obs(start + ENGINEERING + 60)).actions == ()
    assert incident.level == "ENGINEERING"


@pytest.mark.parametrize("level_at", [0, OPERATOR, OPERATOR + ADMIN])
def test_resolution_stops_the_walk_at_any_level(level_at: int) -> None:
    incident = raised()
    if level_at:
        incident.step(obs(OPERATOR))
    if level_at > OPERATOR:
        incident.step(obs(OPERATOR + ADMIN))
    reached = incident.level
    resolution = {"by": "ops", "at": at(level_at + 30)}
    result = incident.step(obs(level_at + 60, resolution=resolution))
    assert incident.level == "RESOLVED" and result.transitions[0].from_mode == reached
    assert [e.type for e in result.events] == ["INCIDENT_RESOLVED"]
    for later in (3 * 3600, 6 * 3600):
        assert incident.step(obs(level_at + later, resolution=resolution)).transitions == ()
    assert incident.level == "RESOLVED"


def test_resolution_seen_at_the_time_out_instant_wins() -> None:
    incident = raised()
    incident.step(obs(OPERATOR, open_=False))
    assert incident.level == "RESOLVED"


def test_operator_may_escalate_early() -> None:
    incident = raised()
    result = incident.step(obs(60, override={"to": "ENGINEERING", "by": "operator", "reason": "broker down"}))
    assert incident.level == "ENGINEERING" and result.transitions[0].manual
    assert [e.type for e in result.events] == ["ESCALATION_OVERRIDE", "ESCALATED_TO_ENGINEERING"]


def test_time_outs_are_params() -> None:
    quick = policy_engine.load(ROOT / "policies/ops/escalation.yaml", {"operator_timeout_minutes": 5})
    state = quick.step(quick.initial_state(at(0)), obs(0), trace=False).new_state
    assert quick.step(state, obs(5 * 60), trace=False).new_state.mode == "ADMIN"
