"""policies/ops/controls.yaml: seed 001's playbook 1-3 (kill switch on a daily loss beyond the
threshold, new trades blocked on a VaR / drawdown / leverage breach, alerts on anomalies) and
"resume only after review". Limits are strict: a value equal to its limit is within it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.machine import MachineState, StepResult

ROOT = Path(__file__).resolve().parents[2]
MACHINE = policy_engine.load(ROOT / "policies/ops/controls.yaml")
T0 = datetime(2025, 3, 4, 14, 30, tzinfo=UTC)


def at(minutes: float = 0, seconds: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes, seconds=seconds)).isoformat().replace("+00:00", "Z")


def obs(minutes: float, **changes: Any) -> dict[str, Any]:
    """A calm observation: nothing near a limit, every feed a second old, the broker connected."""
    data: dict[str, Any] = {"now": at(minutes), "daily_loss_pct": 0.005, "var_pct": 0.01, "drawdown_pct": 0.02,
                            "leverage": 1.0, "feeds": [{"name": "quotes", "last_update_at": at(minutes, -1)}],
                            "broker_connected": True}
    data.update(changes)
    return data


class Desk:
    def __init__(self) -> None:
        self.state: MachineState = MACHINE.initial_state(at(-1))

    def step(self, observation: dict[str, Any]) -> StepResult:
        result = MACHINE.step(self.state, observation, trace=False)
        self.state = result.new_state
        return result

    @property
    def mode(self) -> str:
        return self.state.mode


def items(result: StepResult, action: str | None = None) -> list[dict[str, Any]]:
    found = [item for record in result.actions for item in record.items]
    return [i for i in found if action is None or i["action"] == action]


def events(result: StepResult) -> list[str]:
    return [e.type for e in result.events]


# --- playbook 1: losses exceed the daily threshold -> kill switch and halt ---------------------
@pytest.mark.parametrize(("loss", "mode"), [(0.02, "TRADING"), (0.0200001, "HALTED"), (0.05, "HALTED")])
def test_daily_loss_beyond_threshold_halts(loss: float, mode: str) -> None:
    desk = Desk()
    result = desk.step(obs(1, daily_loss_pct=loss))
    assert desk.mode == mode
    if mode == "HALTED":
        assert events(result) == ["CONTROL_MODE_CHANGE", "KILL_SWITCH_ON", "TRADING_HALTED"]
        assert items(result, "ESCALATION_REQUESTED") == [
            {"action": "ESCALATION_REQUESTED", "cause": "daily_loss_limit", "open_incident": True}]
        assert result.outputs["kill_switch"] is True and result.outputs["new_trades_allowed"] is False


def test_daily_loss_halts_from_blocked_too() -> None:
    desk = Desk()
    desk.step(obs(1, var_pct=0.04))
    desk.step(obs(2, var_pct=0.04, daily_loss_pct=0.03))
    assert desk.mode == "HALTED"


# --- playbook 2: VaR, drawdown or leverage breach -> block new trades and alert -----------------
@pytest.mark.parametrize(("field", "limit", "above"), [
    ("var_pct", 0.03, 0.0300001), ("drawdown_pct", 0.10, 0.1000001), ("leverage", 2.0, 2.0000001),
])
def test_limit_breach_blocks_and_alerts(field: str, limit: float, above: float) -> None:
    desk = Desk()
    desk.step(obs(1, **{field: limit}))
    assert desk.mode == "TRADING"
    result = desk.step(obs(2, **{field: above}))
    assert desk.mode == "BLOCKED"
    assert events(result) == ["CONTROL_MODE_CHANGE", "RISK_LIMIT_ALERT", "NEW_TRADES_BLOCKED"]
    name = field.removesuffix("_pct")
    assert items(result, "LIMIT_BREACH_ALERT") == [{"action": "LIMIT_BREACH_ALERT", "limit": name,
                                                    "open_incident": True}]
    assert result.outputs["new_trades_allowed"] is False and result.outputs["kill_switch"] is False


def test_a_further_breach_while_blocked_alerts_once() -> None:
    desk = Desk()
    desk.step(obs(1, var_pct=0.04))
    second = desk.step(obs(2, var_pct=0.04, leverage=2.5))
    assert [i["limit"] for i in items(second, "LIMIT_BREACH_ALERT")] == ["leverage"]
    assert items(desk.step(obs(3, var_pct=0.04, leverage=2.5)), "LIMIT_BREACH_ALERT") == []


# --- playbook 3: system anomalies -> alert, no state change ----------------------------------
@pytest.mark.parametrize(("age_seconds", "stale"), [(120, False), (120.000001, True)])
def test_stale_feed_alerts(age_seconds: float, stale: bool) -> None:
    desk = Desk()
    feeds = [{"name": "quotes", "last_update_at": at(5, -age_seconds)}]
    result = desk.step(obs(5, feeds=feeds))
    assert desk.mode == "TRADING"
    expected = [{"action": "ANOMALY_ALERT", "anomaly": "stale_feed:quotes", "open_incident": True}] if stale else []
    assert items(result, "ANOMALY_ALERT") == expected


def test_broker_disconnect_alerts_once_then_clears() -> None:
    desk = Desk()
    first = desk.step(obs(1, broker_connected=False))
    assert desk.mode == "TRADING" and first.transitions == ()
    assert items(first) == [{"action": "ANOMALY_ALERT", "anomaly": "broker_disconnected", "open_incident": True}]
    assert items(desk.step(obs(2, broker_connected=False))) == []
    assert items(desk.step(obs(3))) == [{"action": "ANOMALY_CLEARED", "anomaly": "broker_disconnected"}]


# --- resume only after an explicit review ----------------------------------------------------
def halted() -> Desk:
    desk = Desk()
    desk.step(obs(10, daily_loss_pct=0.03))
    assert desk.mode == "HALTED"
    return desk


def test_no_resume_without_review() -> None:
    desk = halted()
    desk.step(obs(60))                              # the loss is back within the threshold
    assert desk.mode == "HALTED"


def test_review_recorded_before_the_halt_does_not_count() -> None:
    desk = halted()
    desk.step(obs(60, review={"by": "risk", "at": at(5)}))
    assert desk.mode == "HALTED"


def test_review_while_the_loss_is_still_beyond_does_not_resume() -> None:
    desk = halted()
    desk.step(obs(60, daily_loss_pct=0.03, review={"by": "risk", "at": at(50)}))
    assert desk.mode == "HALTED"


def test_review_after_the_halt_resumes_and_turns_the_kill_switch_off() -> None:
    desk = halted()
    result = desk.step(obs(60, review={"by": "risk", "at": at(50)}))
    assert desk.mode == "TRADING"
    assert [(t.from_mode, t.to_mode, t.trigger) for t in result.transitions] == [
        ("HALTED", "TRADING", "review_resume")]
    assert items(result, "KILL_SWITCH_OFF") == [{"action": "KILL_SWITCH_OFF", "to": "TRADING"}]
    assert events(result) == ["CONTROL_MODE_CHANGE", "TRADING_RESUMED"]


def test_review_with_a_limit_still_breached_lifts_the_kill_switch_only() -> None:
    desk = halted()
    result = desk.step(obs(60, var_pct=0.05, review={"by": "risk", "at": at(50)}))
    assert desk.mode == "BLOCKED" and result.outputs["kill_switch"] is False
    desk.step(obs(70, review={"by": "risk", "at": at(50)}))          # the same review: not after BLOCKED began
    assert desk.mode == "BLOCKED"
    desk.step(obs(80, review={"by": "risk", "at": at(75)}))
    assert desk.mode == "TRADING"


def test_blocked_needs_a_review_and_the_breach_gone() -> None:
    desk = Desk()
    desk.step(obs(1, leverage=3.0))
    desk.step(obs(10))
    assert desk.mode == "BLOCKED"                                    # breach gone, no review
    desk.step(obs(20, leverage=3.0, review={"by": "risk", "at": at(15)}))
    assert desk.mode == "BLOCKED"                                    # review, breach still there
    desk.step(obs(30, review={"by": "risk", "at": at(15)}))
    assert desk.mode == "TRADING"


def test_untrusted_observation_blocks_new_trades() -> None:
    desk = Desk()
    result = desk.step(obs(1, feeds=[{"name": "quotes", "last_update_at": at(2)}]))
    assert desk.mode == "BLOCKED" and result.transitions[0].trigger == "data_invalid"
