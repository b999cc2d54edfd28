"""Sizing arithmetic of seed 004 §5: the worked example through the public API, the contract example
worked by hand, max risk, bounds, the three rounding directions, and the exact edges of contract
reading 15 where binary floats would floor one contract short or land in the wrong tier."""

from __future__ import annotations

import math
from typing import Any

import pytest

from policy_engine.risk import PositionSizingRequest
from tests.bench.generator import CONTRACT_EXAMPLE
from tests.sizing_helpers import build, gate_of, manager, neutral, scrub, size

# --- the worked example ---------------------------------------------------------------------------


def test_seed_worked_example_through_the_public_api() -> None:
    """§5.2: $100,000 x 1 % = $1,000; |50 - 48| x 100 = $200; base 5; x 0.80 = 4.0 -> 4 contracts.
    The 0.80 is urgency IMMEDIATE; every other multiplier is 1.0. The request goes in typed."""
    request = PositionSizingRequest.model_validate(neutral({"signal.urgency": "IMMEDIATE"}))
    decision = manager().size(request)
    assert decision.is_approved is True
    assert (decision.base_size, decision.adjusted_size, decision.final_size, decision.quantity) == (5, 4.0, 4, 4)
    assert decision.adjustment_factors is not None
    assert decision.adjustment_factors.combined_multiplier_clamped == 0.8
    assert (decision.risk_amount, decision.risk_pct, decision.notional_value) == (800.0, 0.008, 20_000.0)
    assert (decision.size_before_bounds, decision.min_size_applied, decision.max_size_applied) == (4, False, False)
    assert (decision.rounding_direction.value, decision.quantity_type.value) == ("DOWN", "CONTRACTS")
    assert (decision.projected_delta_impact, decision.projected_vega_impact) == (2.0, 0.8)


def _without_signal_hash(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_signal_hash(v) for k, v in data.items() if k != "signal_hash"}
    return [_without_signal_hash(v) for v in data] if isinstance(data, list) else data


def test_typed_and_dict_requests_decide_alike() -> None:
    request = neutral({"signal.urgency": "IMMEDIATE"})
    typed = scrub(manager().size(PositionSizingRequest.model_validate(request)).to_json_dict())
    plain = scrub(manager().size(request).to_json_dict())
    assert _without_signal_hash(typed) == _without_signal_hash(plain)


def test_typed_and_dict_requests_hash_the_signal_alike() -> None:
    request = neutral()
    typed = manager().size(PositionSizingRequest.model_validate(request)).provenance.signal_hash
    assert typed == manager().size(request).provenance.signal_hash


def test_contract_example_by_hand() -> None:
    """entry 6.6739, stop 6.809 (SHORT), distance 0.1351 -> 13.51 per contract;
    max risk min(889.2982, 865.2, 3876.14) = 865.2 -> base floor(64.04) = 64;
    multipliers 1.0 x 1.0 x 0.9 (GOOD) x 1.0 x 1.0 x 0.5 (drawdown 0.854) x 1.0 = 0.45;
    adjusted 28.8 -> 28; risk 28 x 13.51 = 378.28."""
    decision = size(build())
    assert decision.is_approved is True
    assert (decision.base_size, decision.final_size, decision.quantity, decision.size_before_bounds) == (64, 28, 28, 28)
    assert decision.adjusted_size == pytest.approx(28.8, abs=1e-12)
    assert decision.risk_amount == 378.28
    assert decision.risk_pct == pytest.approx(378.28 / 88929.82, rel=1e-12)
    factors = decision.adjustment_factors
    assert factors is not None
    assert (factors.liquidity_multiplier, factors.drawdown_multiplier) == (0.9, 0.5)
    assert factors.combined_multiplier_clamped == pytest.approx(0.45, abs=1e-12)


# --- max risk (contract 14) -------------------------------------------------------------------------

@pytest.mark.parametrize(("daily", "weekly", "base"), [
    (2000.0, 5000.0, 5),   # 1 % of the balance binds: 1,000 / 200
    (2000.0, 600.0, 3),    # the weekly budget binds: 600 / 200
    (800.5, 5000.0, 4),    # the daily budget binds: 800.5 / 200 -> 4; risk 800 < 800.5
    (199.99, 5000.0, 0),   # less than one contract's risk
])
def test_max_risk_is_the_smallest_of_three(daily: float, weekly: float, base: int) -> None:
    decision = size(neutral({"budget.remaining_daily_budget": daily, "budget.remaining_weekly_budget": weekly}))
    if base == 0:
        assert gate_of(decision) == ("MIN_SIZE_GATE", "size_below_minimum")
    else:
        assert (decision.is_approved, decision.base_size, decision.quantity) == (True, base, base)


def test_negative_daily_budget_rejects_at_the_daily_gate() -> None:
    """An overdrawn budget sizes 0 (max(max_risk, 0)); -5.00 > 0 fails the strict budget check."""
    decision = size(neutral({"budget.remaining_daily_budget": -5.0}))
    assert gate_of(decision) == ("DAILY_LOSS_GATE", "daily_loss_limit_reached")


# --- bounds (contract 13, reading D) ------------------------------------------------------------------

def test_max_position_size_caps_before_rounding() -> None:
    """Stop 49.90: 1,000 / 10.000000000000142 = 99.99999999999858 -> base 100 (snapped) -> 50."""
    decision = size(neutral({"signal.stop_loss_zone": {"low": 49.9, "high": 49.9}}))
    assert (decision.base_size, decision.adjusted_size, decision.size_before_bounds) == (100, 100.0, 100)
    assert (decision.final_size, decision.quantity, decision.max_size_applied, decision.min_size_applied) == (
        50, 50, True, False)


def test_exactly_max_position_size_is_not_capped() -> None:
    decision = size(neutral({"signal.stop_loss_zone": {"low": 49.8, "high": 49.8}}))
    assert (decision.base_size, decision.quantity, decision.max_size_applied) == (50, 50, False)


def test_allow_below_minimum_raises_to_the_minimum() -> None:
    """Base 1 x 0.80 = 0.8 < 1: with allow_below_minimum the minimum (1) is traded."""
    request = neutral({"signal.stop_loss_zone": {"low": 40.0, "high": 40.0}, "signal.urgency": "IMMEDIATE"})
    decision = size(request, allow_below_minimum=True)
    assert (decision.base_size, decision.adjusted_size, decision.size_before_bounds) == (1, 0.8, 0)
    assert (decision.final_size, decision.quantity, decision.min_size_applied) == (1, 1, True)
    assert decision.risk_amount == 1000.0


# --- rounding (§5.3) -------------------------------------------------------------------------------

@pytest.mark.parametrize(("confidence", "direction", "adjusted", "final"), [
    (0.65, "DOWN", 4.25, 4), (0.65, "NEAREST", 4.25, 4), (0.65, "UP", 4.25, 5),
    (0.55, "DOWN", 3.5, 3), (0.55, "NEAREST", 3.5, 4), (0.55, "UP", 3.5, 4),
    (0.75, "UP", 5.0, 5),
])
def test_rounding_direction(confidence: float, direction: str, adjusted: float, final: int) -> None:
    """Base 5 x 0.85 = 4.25 and x 0.70 = 3.5 under DOWN, NEAREST (half up) and UP."""
    params = {} if direction == "DOWN" else {"rounding_direction": direction}
    decision = size(neutral({"signal.confidence": confidence}), **params)
    assert decision.adjusted_size == pytest.approx(adjusted, abs=1e-12)
    assert (decision.final_size, decision.size_before_bounds, decision.quantity) == (final, final, final)
    assert decision.rounding_direction.value == direction


# --- exact arithmetic at the edges (contract 15) ----------------------------------------------------------

def test_base_size_does_not_floor_one_contract_short() -> None:
    """Balance 7,000 -> max risk 70; entry 1.10, stop 1.00: 70 / 10 = 7 exactly, but in binary
    floats 1.1 - 1.0 = 0.10000000000000009 and 70 / 10.000000000000009 = 6.999999999999994."""
    assert math.floor(7000.0 * 0.01 / ((1.1 - 1.0) * 100)) == 6  # the trap
    request = neutral({"account.account_balance": 7000.0, "signal.entry_price_zone": {"low": 1.1, "high": 1.1},
                       "signal.stop_loss_zone": {"low": 1.0, "high": 1.0}})
    decision = size(request)
    assert decision.is_approved is True
    assert (decision.base_size, decision.final_size, decision.quantity) == (7, 7, 7)
    assert decision.risk_amount == pytest.approx(70.0, abs=1e-9)


def test_round_up_does_not_add_a_contract_for_float_noise() -> None:
    """Base 5 x (0.80 spread x 0.75 squeeze) = 3 exactly, 3.0000000000000004 in floats: UP gives 3."""
    assert math.ceil(5 * (1.0 * 1.0 * 0.8 * 0.75)) == 4  # the trap
    request = neutral({"signal.signal_type": "SQUEEZE_FAST_RELEASE", "signal.urgency": "IMMEDIATE",
                       "liquidity.avg_bid_ask_spread_pct": 0.12})
    decision = size(request, rounding_direction="UP")
    assert (decision.base_size, decision.final_size, decision.size_before_bounds, decision.quantity) == (5, 3, 3, 3)


def test_drawdown_ratio_lands_in_the_075_tier() -> None:
    """0.075 / 0.10 is 0.7499999999999999 in floats; mathematically 0.75: multiplier 0.50, not 0.70.
    Base 5 x 0.50 = 2.5 -> 2 contracts (0.70 would give 3)."""
    assert 0.075 / 0.10 < 0.75  # the trap
    decision = size(neutral({"risk_state.current_drawdown_pct": 0.075}))
    assert decision.adjustment_factors is not None
    assert decision.adjustment_factors.drawdown_multiplier == 0.50
    assert (decision.adjusted_size, decision.quantity) == (2.5, 2)


def test_drawdown_ratio_just_below_the_075_tier() -> None:
    decision = size(neutral({"risk_state.current_drawdown_pct": 0.07499}))
    assert decision.adjustment_factors is not None
    assert decision.adjustment_factors.drawdown_multiplier == 0.70
    assert decision.quantity == 3


def test_daily_budget_equal_to_a_float_noisy_risk_rejects() -> None:
    """7 x 10.000000000000009 = 70.00000000000006 against a 70.00 budget: equal, so rejected (strict)."""
    request = neutral({"account.account_balance": 7000.0, "signal.entry_price_zone": {"low": 1.1, "high": 1.1},
                       "signal.stop_loss_zone": {"low": 1.0, "high": 1.0}, "budget.remaining_daily_budget": 70.0})
    assert gate_of(size(request)) == ("DAILY_LOSS_GATE", "daily_loss_limit_reached")
    request["budget"]["remaining_daily_budget"] = 70.01
    decision = size(request)
    assert (decision.is_approved, decision.quantity) == (True, 7)


def test_contract_example_is_the_generator_copy() -> None:
    assert scrub(size(CONTRACT_EXAMPLE).to_json_dict()) == scrub(size(build()).to_json_dict())
