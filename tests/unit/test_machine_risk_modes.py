"""policies/risk/risk_modes.yaml: every transition, recovery condition and hysteresis rule of seed
004 §9, read with contract stateful.md readings 8-13."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.machine import CompiledMachine, MachineState, ObservationError, StateError, StepResult

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies/risk/risk_modes.yaml"
T0 = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def obs(minutes: float, **changes: Any) -> dict[str, Any]:
    """A calm observation at T0 + minutes: every input fresh, nothing near a limit."""
    data: dict[str, Any] = {
        "now": at(minutes), "daily_loss_used_pct": 0.10, "weekly_loss_used_pct": 0.05, "current_drawdown_pct": 0.01,
        "regime": {"regime_type": "TRENDING_UP", "volatility_state": "NORMAL"}, "kill_switch_active": False,
        "circuit_breaker_active": False, "critical_failure": False,
        "input_freshness": [{"name": "quotes", "as_of": at(minutes), "critical": True},
                            {"name": "news", "as_of": at(minutes), "critical": False}],
        "sizing_rejections": [], "last_limit_breach_at": None, "active_limit_breaches": [], "pending_risk_events": 0,
    }
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def machine() -> CompiledMachine:
    return policy_engine.load(POLICY)


def run(machine: CompiledMachine, observations: list[dict[str, Any]],
        state: MachineState | None = None) -> list[StepResult]:
    state = state or machine.initial_state(at(0))
    results = []
    for observation in observations:
        results.append(machine.step(state, observation))
        state = results[-1].new_state
    return results


def moves(results: list[StepResult]) -> list[tuple[str, str, str]]:
    return [(t.from_mode, t.to_mode, t.trigger) for r in results for t in r.transitions]


def in_reduce_only(machine: CompiledMachine, minute: float = 0) -> MachineState:
    return run(machine, [obs(minute, daily_loss_used_pct=0.80)])[-1].new_state


def in_stand_down(machine: CompiledMachine, minute: float = 0) -> MachineState:
    return run(machine, [obs(minute, kill_switch_active=True)])[-1].new_state


# --- NORMAL -> REDUCE_ONLY ---------------------------------------------------------------------
@pytest.mark.parametrize("changes, trigger", [
    ({"daily_loss_used_pct": 0.75}, "daily_loss_warning"),
    ({"weekly_loss_used_pct": 0.75}, "weekly_loss_warning"),
    ({"current_drawdown_pct": 0.08}, "drawdown_warning"),  # exactly 80 % of the 10 % max
    ({"regime": {"regime_type": "RANGING", "volatility_state": "EXTREME"}}, "volatility_extreme"),
])
def test_each_reduce_trigger_at_its_edge(machine: CompiledMachine, changes: dict[str, Any], trigger: str) -> None:
    result = run(machine, [obs(1, **changes)])[0]
    assert result.new_state.mode == "REDUCE_ONLY"
    assert moves([result]) == [("NORMAL", "REDUCE_ONLY", trigger)]
    assert [(e.type, e.severity) for e in result.events] == [("MODE_CHANGE", "WARNING"),
                                                             ("REDUCE_ONLY_ACTIVATED", "WARNING")]


@pytest.mark.parametrize("changes", [
    {"daily_loss_used_pct": 0.7499}, {"weekly_loss_used_pct": 0.7499}, {"current_drawdown_pct": 0.0799},
    {"regime": {"regime_type": "RANGING", "volatility_state": "HIGH"}},
])
def test_just_below_each_reduce_trigger_nothing_moves(machine: CompiledMachine, changes: dict[str, Any]) -> None:
    assert run(machine, [obs(1, **changes)])[0].new_state.mode == "NORMAL"


def test_regime_unknown_counts_from_the_first_unknown_observation(machine: CompiledMachine) -> None:
    unknown = {"regime_type": "UNKNOWN", "volatility_state": "NORMAL"}
    results = run(machine, [obs(1, regime=unknown), obs(4, regime=unknown), obs(6, regime=unknown),
                            obs(6 + 1 / 60, regime=unknown)])
    assert [r.new_state.mode for r in results] == ["NORMAL", "NORMAL", "NORMAL", "REDUCE_ONLY"]  # > 5 min, not = 5
    assert moves(results) == [("NORMAL", "REDUCE_ONLY", "regime_unknown")]


def test_regime_unknown_run_restarts_when_broken(machine: CompiledMachine) -> None:
    unknown = {"regime_type": "UNKNOWN", "volatility_state": "NORMAL"}
    results = run(machine, [obs(1, regime=unknown), obs(4), obs(5, regime=unknown), obs(9, regime=unknown),
                            obs(10.5, regime=unknown)])
    assert [r.new_state.mode for r in results] == ["NORMAL"] * 4 + ["REDUCE_ONLY"]
    assert results[3].new_state.timers == {"regime_unknown": results[2].new_state.updated_at}


def rejections(minute: float, count: int, gate: str = "DAILY_LOSS_GATE") -> list[dict[str, str]]:
    return [{"at": at(minute), "gate": gate} for _ in range(count)]


@pytest.mark.parametrize("listed, moved", [
    (rejections(5, 6), True),                                        # 6 > 5 in the window
    (rejections(5, 5), False),                                       # 5 is not > 5
    (rejections(5, 5) + rejections(6, 3, "RISK_MODE_GATE"), False),  # RISK_MODE_GATE excluded (reading 8)
    (rejections(0, 3) + rejections(5, 3), True),                     # exactly 10 minutes old still counts
    (rejections(-0.1, 3) + rejections(5, 3), False),                 # older than 10 minutes
])
def test_repeated_sizing_rejections(machine: CompiledMachine, listed: list[dict[str, str]], moved: bool) -> None:
    result = run(machine, [obs(10, sizing_rejections=listed)])[0]
    assert moves([result]) == ([("NORMAL", "REDUCE_ONLY", "repeated_rejections")] if moved else [])


@pytest.mark.parametrize("age_minutes, critical, moved", [
    (2, True, False), (2 + 1 / 60, True, True), (30, False, False)])
def test_critical_input_stale(machine: CompiledMachine, age_minutes: float, critical: bool, moved: bool) -> None:
    freshness = [{"name": "quotes", "as_of": at(10 - age_minutes), "critical": critical}]
    result = run(machine, [obs(10, input_freshness=freshness)])[0]
    assert moves([result]) == ([("NORMAL", "REDUCE_ONLY", "data_stale")] if moved else [])


# --- REDUCE_ONLY -> STAND_DOWN and the chain from NORMAL --------------------------------------------
@pytest.mark.parametrize("changes, trigger", [
    ({"kill_switch_active": True}, "kill_switch"),
    ({"daily_loss_used_pct": 1.0}, "daily_loss_limit"),
    ({"weekly_loss_used_pct": 1.0}, "weekly_loss_limit"),
    ({"current_drawdown_pct": 0.10}, "max_drawdown"),
    ({"circuit_breaker_active": True}, "circuit_breaker"),
    ({"critical_failure": True}, "critical_failure"),
])
def test_each_stand_down_trigger(machine: CompiledMachine, changes: dict[str, Any], trigger: str) -> None:
    results = run(machine, [obs(1, **{"daily_loss_used_pct": 0.8, **changes})], in_reduce_only(machine))
    assert moves(results) == [("REDUCE_ONLY", "STAND_DOWN", trigger)]  # no minimum time in REDUCE_ONLY
    assert results[0].events[-1].type == "STAND_DOWN_ACTIVATED"
    assert results[0].events[-1].severity == "CRITICAL"


def test_stand_down_trigger_in_normal_chains_through_reduce_only(machine: CompiledMachine) -> None:
    result = run(machine, [obs(1, kill_switch_active=True)])[0]
    assert moves([result]) == [("NORMAL", "REDUCE_ONLY", "stand_down_trigger"),
                               ("REDUCE_ONLY", "STAND_DOWN", "kill_switch")]  # reading 9: both recorded
    assert result.new_state.mode == "STAND_DOWN"
    assert [h.to_mode for h in result.new_state.mode_history] == ["REDUCE_ONLY", "STAND_DOWN"]
    assert [e.type for e in result.events] == ["MODE_CHANGE", "REDUCE_ONLY_ACTIVATED", "MODE_CHANGE",
                                               "STAND_DOWN_ACTIVATED"]


def test_loss_limit_in_normal_chains_with_the_specific_trigger(machine: CompiledMachine) -> None:
    result = run(machine, [obs(1, daily_loss_used_pct=1.0)])[0]
    assert moves([result]) == [("NORMAL", "REDUCE_ONLY", "stand_down_trigger"),
                               ("REDUCE_ONLY", "STAND_DOWN", "daily_loss_limit")]


# --- REDUCE_ONLY -> NORMAL -------------------------------------------------------------------------------
def test_earliest_recovery_is_fifteen_minutes_after_entry(machine: CompiledMachine) -> None:
    results = run(machine, [obs(m) for m in (1, 10, 14, 15)], in_reduce_only(machine))
    assert [r.new_state.mode for r in results] == ["REDUCE_ONLY", "REDUCE_ONLY", "REDUCE_ONLY", "NORMAL"]
    waiting = next(s for s in results[2].trace if s.rule == "RECOVER_TO_NORMAL")
    assert (waiting.status, waiting.detail) == ("waiting", "in REDUCE_ONLY for 14m00s, needs 15m00s")
    assert moves(results) == [("REDUCE_ONLY", "NORMAL", "recovery")]
    assert [e.type for e in results[-1].events] == ["MODE_CHANGE", "NORMAL_RESTORED", "BOUNCE_PREVENTION_ARMED"]


def test_confirmation_window_restarts_when_a_condition_fails(machine: CompiledMachine) -> None:
    steps = [obs(5), obs(8), obs(10, pending_risk_events=1), obs(11), obs(15), obs(16)]
    results = run(machine, steps, in_reduce_only(machine))
    assert [r.new_state.mode for r in results] == ["REDUCE_ONLY"] * 5 + ["NORMAL"]
    assert results[1].new_state.windows == {"RECOVER_TO_NORMAL": results[0].new_state.updated_at}
    assert results[2].new_state.windows == {}  # failed: the window is gone
    confirming = next(s for s in results[4].trace if s.rule == "RECOVER_TO_NORMAL")
    assert (confirming.status, confirming.detail) == ("confirming", "held for 4m00s of 5m00s")


@pytest.mark.parametrize("changes", [
    {"daily_loss_used_pct": 0.50},                                   # must be < 50 %
    {"last_limit_breach_at": at(0)},                                 # a breach in the last 30 minutes
    {"active_limit_breaches": ["symbol_concentration"]},             # a breach right now
    {"regime": {"regime_type": "RANGING", "volatility_state": "HIGH"}},
    {"regime": {"regime_type": "UNKNOWN", "volatility_state": "LOW"}},
    {"input_freshness": [{"name": "news", "as_of": at(27), "critical": False}]},  # 3 minutes old
    {"pending_risk_events": 2},
])
def test_each_recovery_condition_blocks(machine: CompiledMachine, changes: dict[str, Any]) -> None:
    results = run(machine, [obs(m, **changes) for m in (20, 30)], in_reduce_only(machine))
    assert moves(results) == []


def test_a_breach_older_than_thirty_minutes_does_not_block(machine: CompiledMachine) -> None:
    old_breach = {"last_limit_breach_at": at(0)}
    results = run(machine, [obs(m, **old_breach) for m in (30, 30 + 1 / 60, 35 + 1 / 60)], in_reduce_only(machine))
    assert [r.new_state.windows != {} for r in results] == [False, True, False]  # 30 minutes exactly still blocks
    assert moves(results) == [("REDUCE_ONLY", "NORMAL", "recovery")]


def test_recovery_not_taken_while_normal_would_trigger_again(machine: CompiledMachine) -> None:
    # The drawdown is under 80 % of max, but bounce prevention (armed by this very recovery, after a
    # 25-minute round trip) lowers the NORMAL trigger to 60 %: NORMAL would fall back at once.
    results = run(machine, [obs(m, current_drawdown_pct=0.07) for m in (10, 25)], in_reduce_only(machine))
    assert moves(results) == []
    blocked = next(s for s in results[1].trace if s.rule == "RECOVER_TO_NORMAL")
    assert blocked.status == "blocked"
    assert blocked.detail == "NORMAL would move on at once (DRAWDOWN_WARNING fires there)"


# --- STAND_DOWN -> REDUCE_ONLY -------------------------------------------------------------------------
RELEASE = {"stand_down_release": {"confirmed_at": at(30), "by": "risk-officer"}}


def test_stand_down_recovery_needs_sixty_minutes(machine: CompiledMachine) -> None:
    results = run(machine, [obs(59, **RELEASE), obs(60, **RELEASE)], in_stand_down(machine))
    assert moves(results) == [("STAND_DOWN", "REDUCE_ONLY", "stand_down_recovery")]
    assert results[0].new_state.mode == "STAND_DOWN"


@pytest.mark.parametrize("changes", [
    {"kill_switch_active": True},                                            # it was the trigger
    {"daily_loss_used_pct": 1.0},                                            # a limit still breached
    {"stand_down_release": None},                                            # no manual confirmation
    {"stand_down_release": {"confirmed_at": at(-1), "by": "risk-officer"}},  # confirmed before entering
])
def test_each_stand_down_recovery_condition_blocks(machine: CompiledMachine, changes: dict[str, Any]) -> None:
    assert moves(run(machine, [obs(90, **{**RELEASE, **changes})], in_stand_down(machine))) == []


def test_kill_switch_only_matters_when_it_was_the_trigger(machine: CompiledMachine) -> None:
    entered_on_failure = run(machine, [obs(0, critical_failure=True)])[-1].new_state
    assert entered_on_failure.entry_trigger == "critical_failure"
    # the kill switch is on now, but REDUCE_ONLY would fall to STAND_DOWN at once: stable-destination rule
    results = run(machine, [obs(90, kill_switch_active=True, **RELEASE)], entered_on_failure)
    assert moves(results) == []
    assert moves(run(machine, [obs(90, **RELEASE)], entered_on_failure)) == [
        ("STAND_DOWN", "REDUCE_ONLY", "stand_down_recovery")]


def test_manual_confirmation_is_a_param(machine: CompiledMachine) -> None:
    relaxed = policy_engine.load(POLICY, {"require_manual_confirmation": False})
    assert moves(run(relaxed, [obs(60)], in_stand_down(relaxed))) == [
        ("STAND_DOWN", "REDUCE_ONLY", "stand_down_recovery")]


def test_stand_down_never_goes_directly_to_normal(machine: CompiledMachine) -> None:
    results = run(machine, [obs(m, **RELEASE) for m in (60, 61, 120)], in_stand_down(machine))
    assert moves(results) == [("STAND_DOWN", "REDUCE_ONLY", "stand_down_recovery"),
                              ("REDUCE_ONLY", "NORMAL", "recovery")]
    assert all(t.trigger != "recovery" or t.from_mode == "REDUCE_ONLY" for r in results for t in r.transitions)


# --- bounce prevention (reading 13) ---------------------------------------------------------------------------
def bounced(machine: CompiledMachine, recover_at: float) -> MachineState:
    """NORMAL -> REDUCE_ONLY at 0, -> NORMAL at ``recover_at``."""
    results = run(machine, [obs(m) for m in (recover_at - 10, recover_at)], in_reduce_only(machine))
    assert results[-1].new_state.mode == "NORMAL"
    return results[-1].new_state


def test_round_trip_within_thirty_minutes_arms_the_lower_thresholds(machine: CompiledMachine) -> None:
    state = bounced(machine, 30)
    assert state.bounce_armed_at == state.updated_at
    result = run(machine, [obs(31, daily_loss_used_pct=0.5625)], state)[0]  # 0.75 x 0.75
    assert moves([result]) == [("NORMAL", "REDUCE_ONLY", "daily_loss_warning")]
    assert result.transitions[0].reason == "daily loss used 56.25% >= 56.25% of the limit"
    assert result.new_state.bounce_armed_at is None  # disarmed by that move
    assert result.outputs["reduce_threshold_scale"] == 1.0


def test_round_trip_over_thirty_minutes_does_not_arm(machine: CompiledMachine) -> None:
    state = bounced(machine, 30 + 1 / 60)
    assert state.bounce_armed_at is None
    assert moves(run(machine, [obs(31, daily_loss_used_pct=0.6)], state)) == []


@pytest.mark.parametrize("changes, trigger", [
    ({"current_drawdown_pct": 0.06}, "drawdown_warning"),              # 80 % -> 60 % of max
    ({"sizing_rejections": rejections(30, 4)}, "repeated_rejections"),   # > 5 -> > 3.75
    ({"input_freshness": [{"name": "quotes", "as_of": at(31 - 1.5 - 1 / 60), "critical": True}]}, "data_stale"),
])
def test_every_numeric_threshold_is_scaled_while_armed(machine: CompiledMachine, changes: dict[str, Any],
                                                       trigger: str) -> None:
    assert moves(run(machine, [obs(31, **changes)], bounced(machine, 20))) == [("NORMAL", "REDUCE_ONLY", trigger)]
    assert moves(run(machine, [obs(31, **changes)])) == []  # unarmed: below the thresholds


def test_scaled_regime_unknown_window(machine: CompiledMachine) -> None:
    unknown = {"regime_type": "UNKNOWN", "volatility_state": "NORMAL"}
    results = run(machine, [obs(31, regime=unknown), obs(34.75, regime=unknown), obs(34.76, regime=unknown)],
                  bounced(machine, 20))
    assert [r.new_state.mode for r in results] == ["NORMAL", "NORMAL", "REDUCE_ONLY"]  # > 3.75 minutes


# --- manual override (readings 12) -------------------------------------------------------------------------------
def override(to: str) -> dict[str, Any]:
    return {"override": {"to": to, "by": "desk-lead", "reason": "drill"}}


def test_override_forces_a_move_and_is_logged_as_warning(machine: CompiledMachine) -> None:
    results = run(machine, [obs(1, **override("NORMAL")), obs(2, daily_loss_used_pct=0.8)],
                  in_reduce_only(machine))
    first = results[0]
    assert [(t.from_mode, t.to_mode, t.trigger, t.manual) for t in first.transitions] == [
        ("REDUCE_ONLY", "NORMAL", "manual_override", True)]
    assert (first.events[0].type, first.events[0].severity, first.events[0].reason) == (
        "MODE_CHANGE", "WARNING", "manual_override")
    assert first.events[0].message == "desk-lead: REDUCE_ONLY -> NORMAL (drill)"
    assert moves(results[1:]) == [("NORMAL", "REDUCE_ONLY", "daily_loss_warning")]  # rules resume next step


def test_override_stand_down_to_normal_is_refused_as_invalid_transition(machine: CompiledMachine) -> None:
    result = run(machine, [obs(5, kill_switch_active=True, **override("NORMAL"))], in_stand_down(machine))[0]
    assert result.transitions == () and result.new_state.mode == "STAND_DOWN"
    assert [(e.type, e.severity, e.reason) for e in result.events] == [("MODE_CHANGE", "WARNING",
                                                                        "invalid_transition")]


@pytest.mark.parametrize("target, refusal", [("PANIC", "unknown_state"), ("NORMAL", "already_in_state")])
def test_override_refusals(machine: CompiledMachine, target: str, refusal: str) -> None:
    result = run(machine, [obs(1, **override(target))])[0]
    assert result.transitions == ()
    assert [e.reason for e in result.events] == [refusal]


def test_override_refused_when_the_policy_does_not_allow_it() -> None:
    locked = policy_engine.load(POLICY, {"allow_manual_mode_override": False})
    result = run(locked, [obs(1, **override("STAND_DOWN"))])[0]
    assert result.new_state.mode == "NORMAL"
    assert [(e.severity, e.reason) for e in result.events] == [("WARNING", "override_not_allowed")]


def test_override_into_stand_down_is_allowed(machine: CompiledMachine) -> None:
    result = run(machine, [obs(1, **override("STAND_DOWN"))])[0]
    assert moves([result]) == [("NORMAL", "STAND_DOWN", "manual_override")]


# --- bad observations -------------------------------------------------------------------------------------
def test_missing_field_in_normal_moves_to_reduce_only(machine: CompiledMachine) -> None:
    bad = obs(1)
    del bad["daily_loss_used_pct"]
    result = run(machine, [bad])[0]
    assert moves([result]) == [("NORMAL", "REDUCE_ONLY", "data_invalid")]
    assert result.invalid == (("$.daily_loss_used_pct", "required field missing"),)
    assert (result.events[0].type, result.events[0].severity) == ("OBSERVATION_INVALID", "CRITICAL")


def test_nan_in_reduce_only_keeps_the_mode_and_logs(machine: CompiledMachine) -> None:
    state = in_reduce_only(machine)
    result = run(machine, [obs(3, current_drawdown_pct=float("nan"))], state)[0]
    assert result.transitions == () and result.new_state.mode == "REDUCE_ONLY"
    assert result.invalid == (("$.current_drawdown_pct", "not a finite number"),)
    assert [e.type for e in result.events] == ["OBSERVATION_INVALID"]
    assert result.new_state.seq == state.seq + 1 and result.new_state.windows == state.windows


def test_time_going_backwards_is_refused(machine: CompiledMachine) -> None:
    state = run(machine, [obs(10)])[0].new_state
    with pytest.raises(ObservationError) as refused:
        machine.step(state, obs(9))
    assert refused.value.issues[0][0] == "$.now"


def test_unknown_state_in_a_stored_row_is_refused(machine: CompiledMachine) -> None:
    stored = json.loads(machine.initial_state(at(0)).model_dump_json())
    stored["mode"] = "PANIC"
    with pytest.raises(StateError, match="PANIC"):
        machine.load_state(stored)


def test_the_mode_feeds_the_sizing_risk_mode_gate(machine: CompiledMachine) -> None:
    sizing = policy_engine.load(ROOT / "policies/risk/position_sizing.yaml")
    request = json.loads((ROOT / "policies/risk/examples/approved.json").read_text())
    assert sizing.evaluate(request).approved
    request["risk_state"]["risk_mode"] = in_reduce_only(machine).mode
    decision = sizing.evaluate(request)
    assert (decision.rule, decision.reason) == ("RISK_MODE_GATE", "reduce_only_no_entries")


ODD_VALUES: list[Any] = [None, True, -1, 0.5, 2.0, float("nan"), float("inf"), "", "UNKNOWN", "2025-03-03T14:00:00Z",
                         [], [{"at": "x"}], {}, {"to": 3}, {"regime_type": "UNKNOWN"}]


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(obs(0))), st.sampled_from(ODD_VALUES), max_size=3), st.booleans())
def test_any_observation_gives_a_recorded_step_or_a_clear_error(machine: CompiledMachine, changes: dict[str, Any],
                                                                reduce_only: bool) -> None:
    state = in_reduce_only(machine) if reduce_only else machine.initial_state(at(0))
    try:
        result = machine.step(state, obs(5, **changes))
    except ObservationError as refused:  # only the step time itself can make a step impossible
        assert [path for path, _ in refused.issues] == ["$.now"]
        return
    assert result.new_state.seq == state.seq + 1
    if result.invalid:
        assert result.events and result.events[0].type == "OBSERVATION_INVALID"
        assert result.new_state.mode == "REDUCE_ONLY"
