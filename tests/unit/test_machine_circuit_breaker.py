"""policies/risk/circuit_breaker.yaml: every scenario of seed 002's circuit breaker, read with
contract stateful.md readings 3-7."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.machine import CompiledMachine, MachineState, ObservationError, StepResult

POLICY = Path(__file__).resolve().parents[2] / "policies/risk/circuit_breaker.yaml"
FIRST_DAY = date(2025, 3, 3)


@pytest.fixture(scope="module")
def breaker() -> CompiledMachine:
    return policy_engine.load(POLICY)


def position(symbol: str, qty: float, bought_today: float = 0) -> dict[str, Any]:
    return {"symbol": symbol, "qty": qty, "qty_bought_today": bought_today}


def day(n: int, change: float | None = None, nav: float = 0, prev: float = 100.0,
        positions: list[dict[str, Any]] | None = None, rebalance: bool = False) -> dict[str, Any]:
    """Trading day n (0-based); ``change`` is the daily NAV change as a fraction of ``prev``."""
    today = (FIRST_DAY + timedelta(days=n)).isoformat()
    return {"now": f"{today}T21:00:00Z", "trading_day": today, "prev_nav": prev,
            "nav": nav if change is None else prev * (1 + change), "rebalance_scheduled": rebalance,
            "positions": positions if positions is not None else [position("AAA", 100)]}


def run(breaker: CompiledMachine, days: list[dict[str, Any]], state: MachineState | None = None) -> list[StepResult]:
    state = state or breaker.initial_state(f"{FIRST_DAY.isoformat()}T00:00:00Z")
    results = []
    for observation in days:
        results.append(breaker.step(state, observation))
        state = results[-1].new_state
    return results


def modes(results: list[StepResult]) -> list[str]:
    return [r.new_state.mode for r in results]


def orders(result: StepResult) -> list[tuple[str, float, str]]:
    return [(o["symbol"], o["qty"], o["timing"]) for o in result.items]


def in_level(breaker: CompiledMachine, change: float, positions: list[dict[str, Any]] | None = None) -> MachineState:
    return run(breaker, [day(0, change, positions=positions)])[0].new_state


# --- triggers (seed scenarios; reading 3) ----------------------------------------------------------------
def test_level_1_trigger_sells_half_of_each_position(breaker: CompiledMachine) -> None:
    result = run(breaker, [day(0, -0.035, positions=[position("AAA", 100), position("BBB", 40)])])[0]
    assert result.new_state.mode == "level_1"
    assert orders(result) == [("AAA", 50, "now"), ("BBB", 20, "now")]
    assert [(t.from_mode, t.to_mode, t.trigger) for t in result.transitions] == [("normal", "level_1",
                                                                                  "nav_drop_level_1")]
    assert result.transitions[0].reason == "daily NAV change -3.50% is a drop of more than 3%"
    assert result.outputs["breaker_active"] is True


def test_level_2_trigger_sells_everything(breaker: CompiledMachine) -> None:
    result = run(breaker, [day(0, -0.06, positions=[position("AAA", 100), position("BBB", 40)])])[0]
    assert result.new_state.mode == "level_2"
    assert orders(result) == [("AAA", 100, "now"), ("BBB", 40, "now")]


def test_below_threshold_nothing_triggers(breaker: CompiledMachine) -> None:
    result = run(breaker, [day(0, -0.029)])[0]
    assert (result.new_state.mode, result.transitions, result.items) == ("normal", (), [])


@pytest.mark.parametrize("prev, nav", [(100.0, 97.0), (1200.0, 1164.0), (1000.07, 970.0679)])
def test_a_drop_of_exactly_three_percent_triggers_nothing(breaker: CompiledMachine, prev: float, nav: float) -> None:
    # 1000.07 -> 970.0679 is exactly 3 %, but (prev - nav) / prev is 0.03000000000000004 in binary floats
    assert run(breaker, [day(0, nav=nav, prev=prev)])[0].new_state.mode == "normal"


@pytest.mark.parametrize("prev, nav", [(100.0, 95.0), (1000.07, 950.0665)])
def test_a_drop_of_exactly_five_percent_is_level_1(breaker: CompiledMachine, prev: float, nav: float) -> None:
    assert run(breaker, [day(0, nav=nav, prev=prev)])[0].new_state.mode == "level_1"


# --- T+1 (reading 5) ----------------------------------------------------------------------------------------
def test_mixed_t0_and_t1_positions(breaker: CompiledMachine) -> None:
    held = [position("AAA", 100), position("BBB", 100, bought_today=100)]
    results = run(breaker, [day(0, -0.06, positions=held),
                            day(1, 0.01, positions=[position("BBB", 100)])])
    assert orders(results[0]) == [("AAA", 100, "now"), ("BBB", 100, "deferred")]
    assert results[0].new_state.memory["deferred_sells"] == [
        {"symbol": "BBB", "qty": 100, "timing": "deferred", "day": "2025-03-03"}]
    assert orders(results[1]) == [("BBB", 100, "now")]  # sold the next trading day
    assert results[1].items[0]["deferred_from"] == "2025-03-03"
    assert results[1].new_state.memory["deferred_sells"] == []


def test_partly_t0_position_sells_older_units_first(breaker: CompiledMachine) -> None:
    result = run(breaker, [day(0, -0.04, positions=[position("AAA", 100, bought_today=70)])])[0]
    assert orders(result) == [("AAA", 30, "now"), ("AAA", 20, "deferred")]


def test_escalation_the_day_after_sells_only_the_remainder(breaker: CompiledMachine) -> None:
    held = [position("AAA", 100), position("BBB", 100, bought_today=100)]
    after_day_0 = [position("AAA", 50), position("BBB", 100)]  # AAA 50 sold; BBB's deferred 50 still held
    results = run(breaker, [day(0, -0.035, positions=held), day(1, -0.055, positions=after_day_0)])
    assert orders(results[0]) == [("AAA", 50, "now"), ("BBB", 50, "deferred")]
    assert modes(results) == ["level_1", "level_2"]
    # the deferred sell first, then what remains: nothing is sold twice (100 BBB in all)
    assert orders(results[1]) == [("BBB", 50, "now"), ("AAA", 50, "now"), ("BBB", 50, "now")]
    assert [a.action for a in results[1].actions] == ["RELEASE_DEFERRED_SELLS", "SELL_ON_LEVEL_2"]


def test_whole_units_round_down_unless_the_param_says_otherwise(breaker: CompiledMachine) -> None:
    assert orders(run(breaker, [day(0, -0.04, positions=[position("AAA", 101)])])[0]) == [("AAA", 50, "now")]
    fractional = policy_engine.load(POLICY, {"whole_units": False})
    assert orders(run(fractional, [day(0, -0.04, positions=[position("AAA", 101)])])[0]) == [("AAA", 50.5, "now")]


# --- escalation and repeated drops (reading 4) -------------------------------------------------------------
def test_level_1_then_a_further_drop_over_five_percent_escalates(breaker: CompiledMachine) -> None:
    results = run(breaker, [day(1, -0.06, positions=[position("AAA", 50)])], in_level(breaker, -0.035))
    assert [(t.from_mode, t.to_mode) for t in results[0].transitions] == [("level_1", "level_2")]
    assert orders(results[0]) == [("AAA", 50, "now")]


def test_another_level_1_drop_makes_no_orders_but_resets_the_count(breaker: CompiledMachine) -> None:
    results = run(breaker, [day(1, 0.01), day(2, 0.01), day(3, -0.04), day(4, 0.01)], in_level(breaker, -0.035))
    assert modes(results) == ["level_1"] * 4
    assert [r.items for r in results] == [[], [], [], []]
    assert [r.new_state.counters["up_days"] for r in results] == [1, 2, 0, 1]


# --- recovery (reading 6) ------------------------------------------------------------------------------------------
def test_three_up_days_return_level_1_to_normal(breaker: CompiledMachine) -> None:
    results = run(breaker, [day(n, 0.01) for n in (1, 2, 3)], in_level(breaker, -0.035))
    assert modes(results) == ["level_1", "level_1", "normal"]
    assert results[-1].transitions[0].reason == "3 consecutive up days"


def test_two_up_days_then_a_down_day_stays_in_level_1(breaker: CompiledMachine) -> None:
    results = run(breaker, [day(1, 0.01), day(2, 0.01), day(3, -0.01), day(4, 0.01), day(5, 0.01)],
                  in_level(breaker, -0.035))
    assert modes(results) == ["level_1"] * 5
    assert [r.new_state.counters["up_days"] for r in results] == [1, 2, 0, 1, 2]


def test_a_flat_day_resets_the_count(breaker: CompiledMachine) -> None:
    results = run(breaker, [day(1, 0.01), day(2, 0.01), day(3, 0.0), day(4, 0.01)], in_level(breaker, -0.035))
    assert modes(results) == ["level_1"] * 4
    assert results[2].new_state.counters["up_days"] == 0


def test_five_up_days_move_level_2_to_recovering(breaker: CompiledMachine) -> None:
    results = run(breaker, [day(n, 0.01, positions=[]) for n in range(1, 6)], in_level(breaker, -0.06))
    assert modes(results) == ["level_2"] * 4 + ["recovering"]
    assert results[-1].outputs["breaker_active"] is False


# --- rebalances (reading 7) --------------------------------------------------------------------------------------
@pytest.mark.parametrize("change", [-0.035, -0.06])
def test_rebalance_day_while_active_is_skipped(breaker: CompiledMachine, change: float) -> None:
    result = run(breaker, [day(1, 0.01, rebalance=True)], in_level(breaker, change))[0]
    assert (result.outputs["rebalance"], result.outputs["rebalance_allocation"]) == ("skipped", 0.0)


def test_rebalance_uses_the_state_after_the_days_update(breaker: CompiledMachine) -> None:
    level_1 = in_level(breaker, -0.035)
    third_up_day = run(breaker, [day(1, 0.01), day(2, 0.01), day(3, 0.01, rebalance=True)], level_1)[-1]
    assert (third_up_day.new_state.mode, third_up_day.outputs["rebalance"]) == ("normal", "full")
    drop_day = run(breaker, [day(0, -0.04, rebalance=True)])[0]
    assert (drop_day.new_state.mode, drop_day.outputs["rebalance"]) == ("level_1", "skipped")


def test_recovering_rebalances_at_half_then_full(breaker: CompiledMachine) -> None:
    recovering = run(breaker, [day(n, 0.01, positions=[]) for n in range(1, 6)], in_level(breaker, -0.06))[-1]
    results = run(breaker, [day(6, 0.0, positions=[]), day(7, 0.0, positions=[], rebalance=True),
                            day(8, 0.0, positions=[], rebalance=True)], recovering.new_state)
    assert modes(results) == ["recovering", "normal", "normal"]
    assert [r.outputs["rebalance_allocation"] for r in results] == [0.0, 0.5, 1.0]
    assert [(t.from_mode, t.to_mode, t.trigger) for t in results[1].transitions] == [
        ("recovering", "normal", "recovery_rebalance")]


def test_drops_still_apply_while_recovering(breaker: CompiledMachine) -> None:
    recovering = run(breaker, [day(n, 0.01, positions=[]) for n in range(1, 6)], in_level(breaker, -0.06))[-1]
    result = run(breaker, [day(6, -0.04, positions=[position("AAA", 10)], rebalance=True)],
                 recovering.new_state)[0]
    assert (result.new_state.mode, result.outputs["rebalance"]) == ("level_1", "skipped")
    assert orders(result) == [("AAA", 5, "now")]


# --- bad observations --------------------------------------------------------------------------------------------
def test_missing_nav_is_a_clear_error(breaker: CompiledMachine) -> None:
    bad = day(0, -0.01)
    del bad["nav"]
    with pytest.raises(ObservationError) as refused:
        run(breaker, [bad])
    assert refused.value.issues == (("$.nav", "required field missing"),)


def test_nan_nav_is_a_clear_error(breaker: CompiledMachine) -> None:
    with pytest.raises(ObservationError, match=r"\$\.nav: not a finite number"):
        run(breaker, [day(0, nav=float("nan"))])


def test_two_observations_of_one_trading_day_are_refused(breaker: CompiledMachine) -> None:
    state = run(breaker, [day(0, 0.01)])[0].new_state
    repeat = day(0, 0.01)
    repeat["now"] = "2025-03-03T22:00:00Z"
    with pytest.raises(ObservationError, match="ONE_OBSERVATION_PER_DAY"):
        breaker.step(state, repeat)


def test_t0_quantity_above_the_holding_is_refused(breaker: CompiledMachine) -> None:
    with pytest.raises(ObservationError, match="T0_WITHIN_HOLDING"):
        run(breaker, [day(0, 0.01, positions=[position("AAA", 10, bought_today=11)])])


def test_deferred_units_must_still_be_held(breaker: CompiledMachine) -> None:
    state = in_level(breaker, -0.04, [position("AAA", 100, bought_today=100)])
    with pytest.raises(ObservationError, match="DEFERRED_STILL_HELD"):
        breaker.step(state, day(1, 0.01, positions=[position("AAA", 10)]))
