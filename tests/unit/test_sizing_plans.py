"""Stop-loss and take-profit plans of seed 004 §8: one test per level of the 8.1 stop priority,
soft and time stops, R-multiple and zone targets, partial-exit schedules, trailing take profit
(readings I, J). Entry 50.00 throughout; the sizing stop is 48.00 (LONG) or 52.00 (SHORT), from
the signal's stop zone or from ATR 1.0 x 2.0, so R = 2.00 and base 5.
"""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.risk import PositionSizingDecision, StopLossPlan, TakeProfitPlan
from tests.bench import floor
from tests.sizing_helpers import Request, gate_of, neutral, policy_value, size

SHORT = {"signal.signal_type": "ENTRY_SHORT", "signal.direction": "SHORT",
         "signal.stop_loss_zone": {"low": 52.0, "high": 52.0}}
NO_SIGNAL_STOP = {"signal.stop_loss_zone": None, "atr": 1.0}  # sizing stop 48 / 52 from ATR


def approved(request: Request, **params: Any) -> PositionSizingDecision:
    decision = size(request, **params)
    assert decision.is_approved, decision.explain()
    return decision


def stop_plan(overrides: dict[str, Any]) -> StopLossPlan:
    plan = approved(neutral(overrides)).stop_loss_plan
    assert plan is not None
    return plan


def take_profit(overrides: dict[str, Any], **params: Any) -> TakeProfitPlan:
    plan = approved(neutral(overrides), **params).take_profit_plan
    assert plan is not None
    return plan


def setup(stop_zone: dict[str, float] | None = None, targets: list[dict[str, float]] | None = None) -> dict[str, Any]:
    return {"stop_zone": stop_zone, "target_zones": targets or [], "confidence": 0.7}


# --- 8.1 level 1: the signal's stop zone, midpoint, FIXED ------------------------------------------

def test_stop_level1_signal_stop_zone_long() -> None:
    plan = stop_plan({"signal.stop_loss_zone": {"low": 47.5, "high": 48.5},
                      "setup": setup({"low": 45.0, "high": 46.0}), "signal.invalidation_price": 46.5, "atr": 1.0})
    assert (plan.position_direction.value, plan.hard_stop_price, plan.hard_stop_type.value) == ("LONG", 48.0, "FIXED")
    assert plan.hard_stop_distance_pct == pytest.approx(0.04, abs=1e-12)
    assert (plan.soft_stop_price, plan.soft_stop_type.value if plan.soft_stop_type else None) == (49.0, "FIXED")
    assert plan.soft_stop_action is not None and plan.soft_stop_action.value == "ALERT"
    assert (plan.max_loss_per_contract, plan.max_loss_total, plan.max_loss_pct) == (200.0, 1000.0, 0.01)
    assert (plan.atr_value, plan.atr_multiplier, plan.structure_level, plan.structure_type) == (None, None, None, None)
    assert (plan.invalidation_price, plan.invalidation_stop_enabled) == (46.5, True)
    assert "signal's stop-loss zone" in plan.hard_stop_rationale


def test_stop_level1_signal_stop_zone_short() -> None:
    plan = stop_plan({**SHORT, "signal.stop_loss_zone": {"low": 51.5, "high": 52.5}})
    assert (plan.position_direction.value, plan.hard_stop_price, plan.soft_stop_price) == ("SHORT", 52.0, 51.0)
    assert plan.hard_stop_type.value == "FIXED" and plan.invalidation_stop_enabled is False


# --- level 2: the setup's stop zone beyond a 0.2 % buffer, STRUCTURE_BASED ---------------------------

def test_stop_level2_setup_stop_zone_long() -> None:
    """low 47.00 x (1 - 0.002) = 46.906; distance 3.094; soft 50 - 1.547 = 48.453."""
    plan = stop_plan({**NO_SIGNAL_STOP, "setup": setup({"low": 47.0, "high": 47.5}), "signal.invalidation_price": 46.0})
    assert plan.hard_stop_price == pytest.approx(46.906, abs=1e-12)
    assert (plan.hard_stop_type.value, plan.structure_level, plan.structure_type, plan.structure_buffer_pct) == (
        "STRUCTURE_BASED", 47.0, "setup_stop_zone", 0.002)
    assert plan.soft_stop_price == pytest.approx(48.453, abs=1e-12)
    assert plan.hard_stop_distance_pct == pytest.approx(3.094 / 50, abs=1e-12)
    assert plan.max_loss_per_contract == pytest.approx(309.4, abs=1e-9)
    assert plan.max_loss_total == pytest.approx(5 * 309.4, abs=1e-9)  # the plan's stop x the sized 5


def test_stop_level2_setup_stop_zone_short() -> None:
    """high 53.00 x (1 + 0.002) = 53.106."""
    plan = stop_plan({**SHORT, **NO_SIGNAL_STOP, "setup": setup({"low": 52.5, "high": 53.0})})
    assert plan.hard_stop_price == pytest.approx(53.106, abs=1e-12)
    assert (plan.hard_stop_type.value, plan.structure_level, plan.structure_type) == (
        "STRUCTURE_BASED", 53.0, "setup_stop_zone")
    assert plan.soft_stop_price == pytest.approx(50 + 3.106 / 2, abs=1e-12)


# --- level 3: the signal's invalidation price ----------------------------------------------------------

@pytest.mark.parametrize("setup_block", [None, setup(None)], ids=["no-setup", "setup-without-stop-zone"])
def test_stop_level3_invalidation_price(setup_block: dict[str, Any] | None) -> None:
    plan = stop_plan({**NO_SIGNAL_STOP, "setup": setup_block, "signal.invalidation_price": 47.0})
    assert (plan.hard_stop_price, plan.hard_stop_type.value, plan.structure_type, plan.structure_level) == (
        47.0, "STRUCTURE_BASED", "invalidation", 47.0)
    assert (plan.invalidation_price, plan.invalidation_stop_enabled) == (47.0, True)
    assert (plan.soft_stop_price, plan.max_loss_per_contract) == (48.5, 300.0)


# --- level 4: ATR x 2.0 ------------------------------------------------------------------------------

@pytest.mark.parametrize(("direction", "expected"), [({}, 48.0), (SHORT, 52.0)], ids=["LONG", "SHORT"])
def test_stop_level4_atr(direction: dict[str, Any], expected: float) -> None:
    plan = stop_plan({**direction, **NO_SIGNAL_STOP})
    assert (plan.hard_stop_price, plan.hard_stop_type.value, plan.atr_value, plan.atr_multiplier) == (
        expected, "ATR_BASED", 1.0, 2.0)
    assert (plan.structure_type, plan.invalidation_stop_enabled) == (None, False)
    assert plan.soft_stop_price == (49.0 if expected < 50 else 51.0)


# --- level 5: 3 % of the entry ------------------------------------------------------------------------

@pytest.mark.parametrize(("direction", "expected"), [({}, 48.5), (SHORT, 51.5)], ids=["LONG", "SHORT"])
def test_stop_level5_percentage(direction: dict[str, Any], expected: float) -> None:
    """No stop zone, no setup, no invalidation, no ATR. A decision never reaches this level: the same
    request has no sizing stop and is rejected ``no_stop_derivable`` (§12, reading D). The policy's
    stop values and the floor's plan are computed on their own and must agree on 50 x (1 -/+ 0.03)."""
    request = neutral({**direction, "signal.stop_loss_zone": None, "atr": None})
    assert gate_of(size(request)) == ("INPUT_VALIDATION", "no_stop_derivable")
    hard = policy_value(request, "hard_stop_price")
    assert (policy_value(request, "stop_source"), policy_value(request, "hard_stop_type")) == ("percentage", "FIXED")
    assert hard == pytest.approx(expected, abs=1e-12)
    assert policy_value(request, "hard_stop_distance") == pytest.approx(1.5, abs=1e-12)
    floor_plan = floor._stop_plan(request, 50.0, not direction, 0, floor.DEFAULT_PARAMS)
    assert (floor_plan["hard_stop_price"], floor_plan["hard_stop_type"]) == (hard, "FIXED")
    assert floor_plan["soft_stop_price"] == pytest.approx((50 + expected) / 2, abs=1e-12)


# --- time stop ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("family", "bars"), [("BREAKOUT", 10), ("LONG_VOL", 10), ("TREND", 20),
                                              ("MEAN_REVERSION", 20), ("SQUEEZE", 20), ("OTHER", 20)])
def test_time_stop_bars_by_family(family: str, bars: int) -> None:
    request = neutral({"signal.strategy_family": family})
    plan = approved(request).stop_loss_plan
    assert plan is not None
    assert (plan.time_stop_enabled, plan.time_stop_bars, plan.time_stop_session_end) == (True, bars, False)
    assert plan.time_stop_timestamp is not None
    assert plan.time_stop_timestamp.isoformat() == "2025-04-02T06:12:33.582000+00:00"  # the signal's expiry
    assert plan.trailing_stop_enabled is False


# --- 8.2 R-multiple targets -----------------------------------------------------------------------

@pytest.mark.parametrize(("direction", "prices"), [({}, [53.0, 55.0, 58.0]), (SHORT, [47.0, 45.0, 42.0])],
                         ids=["LONG", "SHORT"])
def test_r_multiple_targets(direction: dict[str, Any], prices: list[float]) -> None:
    plan = take_profit(direction)
    targets = plan.targets
    assert [t.target_number for t in targets] == [1, 2, 3]
    assert [t.target_price for t in targets] == prices
    assert [t.target_type.value for t in targets] == ["R_MULTIPLE"] * 3
    assert [t.r_multiple for t in targets] == [1.5, 2.5, 4.0]
    assert [t.exit_pct for t in targets] == [0.33, 0.33, 0.34]
    assert [t.target_distance_pct for t in targets] == pytest.approx([0.06, 0.10, 0.16], abs=1e-12)
    assert (plan.r_multiple_1, plan.r_multiple_2, plan.r_multiple_3) == (1.5, 2.5, 4.0)
    assert (plan.exit_before_event, plan.event_exit_hours_before, plan.partial_exit_enabled) == (True, 4, True)


def test_r_is_the_sizing_stop_distance_not_the_plans() -> None:
    """The setup's stop (46.906) sets the plan's hard stop; R stays the sizing stop's 2.00 (reading 12)."""
    plan = take_profit({**NO_SIGNAL_STOP, "setup": setup({"low": 47.0, "high": 47.5})})
    assert [t.target_price for t in plan.targets] == [53.0, 55.0, 58.0]


# --- zone targets --------------------------------------------------------------------------------

def test_zone_targets_from_the_signal() -> None:
    """Midpoints 53 and 57, STRUCTURE_BASED; r = 3/2 and 7/2; two targets: 0.33 then the rest 0.67."""
    zones = [{"low": 52.0, "high": 54.0}, {"low": 56.0, "high": 58.0}]
    plan = take_profit({"signal.target_zones": zones, "setup": setup(None, [{"low": 60.0, "high": 60.0}])})
    assert [(t.target_price, t.target_type.value, t.r_multiple, t.exit_pct) for t in plan.targets] == [
        (53.0, "STRUCTURE_BASED", 1.5, 0.33), (57.0, "STRUCTURE_BASED", 3.5, 0.67)]
    assert all(t.structure_type == "target_zone" for t in plan.targets)


def test_zone_targets_from_the_setup() -> None:
    plan = take_profit({"setup": setup(None, [{"low": 53.0, "high": 54.0}])})
    assert [(t.target_price, t.target_type.value, t.r_multiple, t.exit_pct) for t in plan.targets] == [
        (53.5, "STRUCTURE_BASED", 1.75, 1.0)]
    assert plan.partial_exit_enabled is False


def test_zone_targets_keep_the_first_three() -> None:
    zones = [{"low": p, "high": p} for p in (51.0, 52.0, 53.0, 54.0)]
    plan = take_profit({"signal.target_zones": zones})
    assert [t.target_price for t in plan.targets] == [51.0, 52.0, 53.0]
    assert [t.exit_pct for t in plan.targets] == [0.33, 0.33, 0.34]


def test_zone_targets_short() -> None:
    plan = take_profit({**SHORT, "signal.target_zones": [{"low": 46.0, "high": 47.0}, {"low": 44.0, "high": 44.0}]})
    assert [(t.target_price, t.r_multiple) for t in plan.targets] == [(46.5, 1.75), (44.0, 3.0)]


# --- partial-exit schedules ------------------------------------------------------------------------

ZONES = [{"low": p, "high": p} for p in (53.0, 55.0, 58.0)]


@pytest.mark.parametrize(("schedule", "count", "expected"), [
    ("DEFAULT", 1, [1.0]), ("DEFAULT", 2, [0.33, 0.67]), ("DEFAULT", 3, [0.33, 0.33, 0.34]),
    ("RUNNER", 1, [1.0]), ("RUNNER", 2, [0.5, 0.5]), ("RUNNER", 3, [0.5, 0.25, 0.25]),
])
def test_partial_exit_schedule_sums_to_one(schedule: str, count: int, expected: list[float]) -> None:
    params = {} if schedule == "DEFAULT" else {"partial_exit_schedule": schedule}
    plan = take_profit({"signal.target_zones": ZONES[:count]}, **params)
    exits = [t.exit_pct for t in plan.targets]
    assert exits == expected
    assert round(sum(exits), 9) == 1.0
    assert [p.exit_pct for p in plan.partial_exit_schedule] == expected
    assert plan.partial_exit_schedule[-1].remaining_after == 0.0
    assert [p.trigger_pct for p in plan.partial_exit_schedule] == [t.target_distance_pct for t in plan.targets]


def test_runner_schedule_on_r_multiples() -> None:
    plan = take_profit({}, partial_exit_schedule="RUNNER")
    assert [(t.target_price, t.exit_pct) for t in plan.targets] == [(53.0, 0.5), (55.0, 0.25), (58.0, 0.25)]
    assert [p.remaining_after for p in plan.partial_exit_schedule] == [0.5, 0.25, 0.0]


# --- trailing take profit: TREND and BREAKOUT only ------------------------------------------------------

@pytest.mark.parametrize(("family", "enabled"), [("TREND", True), ("BREAKOUT", True), ("LONG_VOL", False),
                                                 ("MEAN_REVERSION", False), ("SQUEEZE", False), ("INCOME", False)])
def test_trailing_take_profit(family: str, enabled: bool) -> None:
    plan = take_profit({"signal.strategy_family": family})
    assert plan.trailing_tp_enabled is enabled
    if enabled:  # activation after 1.0 R, trailing 0.5 R: 2.00 / 50 and 1.00 / 50
        assert (plan.trailing_tp_activation_pct, plan.trailing_tp_distance_pct) == (0.04, 0.02)
    else:
        assert (plan.trailing_tp_activation_pct, plan.trailing_tp_distance_pct) == (None, None)


def test_approved_exit_has_no_plans() -> None:
    decision = approved(neutral({"signal.signal_type": "EXIT_PARTIAL"}))
    assert (decision.quantity, decision.stop_loss_plan, decision.take_profit_plan, decision.adjustment_factors) == (
        0, None, None, None)
