"""Halts start escalations (policy_engine.store.escalation): a halt of the assignment machine or
of the ops controls, committed through a MachineRunner, opens an incident that the escalation
machine walks operator -> admin -> engineering on its time-outs, and leaving the halt (resume,
review) resolves it and stops the walk. Everything goes through one SQLite store, with the audit
records of every step; the clock is injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.audit import AuditLog
from policy_engine.engine.run import now_to_us
from policy_engine.store import HaltEscalation, MachineRunner, MachineStore
from policy_engine.store.escalation import halt_incidents, incident_id

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = policy_engine.load(ROOT / "policies/hedging/assignment.yaml")
CONTROLS = policy_engine.load(ROOT / "policies/ops/controls.yaml")
ESCALATION = policy_engine.load(ROOT / "policies/ops/escalation.yaml")
T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def us(minutes: float) -> int:
    value = now_to_us(at(minutes))
    assert value is not None
    return value


def assignment(assignment_id: str, minutes: float, resolved: float | None = None) -> dict[str, Any]:
    return {"assignment_id": assignment_id, "position_id": f"POS-{assignment_id}", "assigned_at": at(minutes),
            "resolved_at": at(resolved) if resolved is not None else None,
            "procedure": "A" if resolved is not None else None, "long_leg_exercisable": True}


def assignment_obs(minutes: float, assignments: list[dict[str, Any]], resume: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"now": at(minutes), "short_legs": [], "assignments": assignments}
    if resume is not None:
        data["resume"] = {"by": "desk-lead", "at": at(resume)}
    return data


def controls_obs(minutes: float, loss: float = 0.005, review: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"now": at(minutes), "daily_loss_pct": loss, "var_pct": 0.01, "drawdown_pct": 0.02,
                            "leverage": 1.0, "feeds": [{"name": "quotes", "last_update_at": at(minutes)}],
                            "broker_connected": True}
    if review is not None:
        data["review"] = {"by": "risk", "at": at(review)}
    return data


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with MachineStore(tmp_path / "state.db") as opened:
        yield opened


def level(store: MachineStore, incident: str) -> str | None:
    stored = store.read_machine(incident)
    return stored.mode if stored is not None else None


TWO_ASSIGNMENTS = [assignment("1", -20, -10), assignment("2", -5)]
RESOLVED = [assignment("1", -20, -10), assignment("2", -5, 50)]


def test_assignment_halt_walks_operator_admin_engineering_and_resume_resolves(store: MachineStore,
                                                                               tmp_path: Path) -> None:
    desk = MachineRunner(ASSIGNMENT, store, "desk-1", audit=True)
    escalations = HaltEscalation(ESCALATION, store)
    desk.feed(assignment_obs(0, TWO_ASSIGNMENTS))                  # two assignments in a day: HALTED
    assert level(store, "desk-1") == "HALTED"
    escalations.sync("desk-1", us(0))
    assert level(store, "desk-1#1") == "OPERATOR"
    walk = []
    for minutes in (14, 15, 44, 45, 60):                           # clock ticks, the desk still halted
        escalations.sync("desk-1", us(minutes))
        walk.append(level(store, "desk-1#1"))
    assert walk == ["OPERATOR", "ADMIN", "ADMIN", "ENGINEERING", "ENGINEERING"]
    desk.feed(assignment_obs(55, RESOLVED))                         # resolved, but no resume yet
    escalations.sync("desk-1", us(61))
    assert level(store, "desk-1#1") == "ENGINEERING"
    desk.feed(assignment_obs(70, RESOLVED, resume=65))             # the resume lifts the halt
    assert level(store, "desk-1") == "NORMAL"
    assert escalations.sync("desk-1", us(70))[0].result is not None
    assert level(store, "desk-1#1") == "RESOLVED"
    assert escalations.sync("desk-1", us(200)) == []               # the walk has stopped
    history = [(t["from_mode"], t["to_mode"], t["trigger"]) for t in store.transitions("desk-1#1")]
    assert history == [("IDLE", "OPERATOR", "raised"), ("OPERATOR", "ADMIN", "operator_timeout"),
                       ("ADMIN", "ENGINEERING", "admin_timeout"), ("ENGINEERING", "RESOLVED", "resolved")]
    with AuditLog(tmp_path / "state.db") as log:
        records = log.records()
        assert log.verify() == []
    escalation_actions = [r["action"] for r in records if r["subject"] == "desk-1#1"]
    for action in ("OPERATOR_NOTIFIED", "ESCALATED_TO_ADMIN", "ESCALATED_TO_ENGINEERING", "INCIDENT_RESOLVED"):
        assert action in escalation_actions
    assert {r["correlation_id"] for r in records if r["subject"] == "desk-1#1"} == {"desk-1#1"}
    assert "ESCALATION_REQUESTED" in [r["action"] for r in records if r["subject"] == "desk-1"]


def test_resolution_at_the_operator_stops_the_walk(store: MachineStore) -> None:
    desk = MachineRunner(ASSIGNMENT, store, "desk-1", audit=True)
    escalations = HaltEscalation(ESCALATION, store)
    desk.feed(assignment_obs(0, TWO_ASSIGNMENTS))
    escalations.sync("desk-1", us(0))
    desk.feed(assignment_obs(10, RESOLVED[:1] + [assignment("2", -5, 8)], resume=9))
    escalations.sync("desk-1", us(10))
    assert level(store, "desk-1#1") == "RESOLVED"
    escalations.sync("desk-1", us(30))
    assert [t["to_mode"] for t in store.transitions("desk-1#1")] == ["OPERATOR", "RESOLVED"]
    (resolved,) = [e for e in store.events("desk-1#1") if e["type"] == "INCIDENT_RESOLVED"]
    assert resolved["reason"] == "resolved"


def test_controls_kill_switch_halt_escalates_until_reviewed(store: MachineStore) -> None:
    desk = MachineRunner(CONTROLS, store, "ops", audit=True)
    escalations = HaltEscalation(ESCALATION, store)
    desk.feed(controls_obs(0))
    desk.feed(controls_obs(1, loss=0.03))                          # daily loss beyond 2 %: HALTED
    escalations.sync_all(us(1))
    incident = incident_id("ops", 2)
    assert incident == "ops#2" and level(store, incident) == "OPERATOR"
    escalations.sync_all(us(16))
    assert level(store, incident) == "ADMIN"
    escalations.sync_all(us(46))
    assert level(store, incident) == "ENGINEERING"
    desk.feed(controls_obs(50, review=48))                         # reviewed: TRADING
    escalations.sync_all(us(50))
    assert level(store, incident) == "RESOLVED"
    note = store.steps(incident)[-1]
    assert note["outputs"]["incident_open"] is False


def test_a_crash_before_the_sync_loses_no_escalation(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with MachineStore(db) as store:
        MachineRunner(ASSIGNMENT, store, "desk-1", audit=True).feed(assignment_obs(0, TWO_ASSIGNMENTS))
    # the process died here; a new one syncs 20 minutes later
    with MachineStore(db) as store:
        escalations = HaltEscalation(ESCALATION, store)
        escalations.sync_all(us(20))
        transitions = store.transitions("desk-1#1")
        assert [(t["to_mode"], t["at"]) for t in transitions] == [("OPERATOR", us(0)), ("ADMIN", us(20))]
        before = store.steps("desk-1#1")
        escalations.sync_all(us(20))                               # a repeated sync is a no-op
        assert store.steps("desk-1#1") == before


def test_a_fail_safe_halt_escalates_too(store: MachineStore) -> None:
    desk = MachineRunner(ASSIGNMENT, store, "desk-1", audit=True)
    desk.feed(assignment_obs(0, [assignment("1", 5)]))             # an assignment dated after now
    assert level(store, "desk-1") == "HALTED"
    HaltEscalation(ESCALATION, store).sync("desk-1", us(1))
    assert level(store, "desk-1#1") == "OPERATOR"


def test_each_halt_is_its_own_incident() -> None:
    rows = [{"seq": 1, "from_mode": "NORMAL", "to_mode": "HALTED", "at": 10, "trigger": "t", "reason": "r",
             "rule": "A"},
            {"seq": 4, "from_mode": "HALTED", "to_mode": "NORMAL", "at": 40, "trigger": "resume", "reason": "",
             "rule": "RESUME_HEDGING"},
            {"seq": 6, "from_mode": "NORMAL", "to_mode": "ASSIGNMENT_OPEN", "at": 60, "trigger": "o", "reason": "",
             "rule": "B"},
            {"seq": 7, "from_mode": "ASSIGNMENT_OPEN", "to_mode": "HALTED", "at": 70, "trigger": "t", "reason": "",
             "rule": "C"}]
    incidents = halt_incidents(rows, "desk", frozenset({"HALTED"}))
    assert [(i.incident_id, i.halted_at, i.left_at, i.left_by) for i in incidents] == [
        ("desk#1", 10, 40, "RESUME_HEDGING"), ("desk#7", 70, None, None)]


def test_long_source_ids_fit_the_incident_field() -> None:
    long_id = "x" * 80
    made = incident_id(long_id, 12345)
    assert len(made) == 64 and made.endswith("#12345") and made != incident_id("y" * 80, 12345)
