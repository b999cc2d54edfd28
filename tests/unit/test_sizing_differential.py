"""Differential test: the policy run by RiskManager against the hand-written floor
(tests/bench/floor.py, a second reading of seed 004 + contract + readings A-K) on 3,000 generated
requests. Every field both produce must agree: outcome, gate, reason, sizes, bounds flags, every
multiplier exactly, stop plan, targets (prices to 1e-9 relative, exit_pct exactly), events in order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

from policy_engine.risk import GateName, PositionSizingDecision
from tests.bench import floor
from tests.sizing_helpers import Request, event_types, generated

N, SEED = 3000, 2024
EXACT = ("is_approved", "rejection_gate", "rejection_reason", "quantity", "base_size", "final_size",
         "size_before_bounds", "min_size_applied", "max_size_applied")
MULTIPLIERS = ("confidence_multiplier", "regime_multiplier", "liquidity_multiplier", "urgency_multiplier",
               "event_multiplier", "drawdown_multiplier", "streak_multiplier", "combined_multiplier",
               "combined_multiplier_clamped", "event_proximity_hours", "event_type")
STOP_EXACT = ("hard_stop_type", "soft_stop_type", "soft_stop_action", "time_stop_bars", "invalidation_stop_enabled")
STOP_PRICES = ("hard_stop_price", "soft_stop_price", "hard_stop_distance_pct", "max_loss_per_contract",
               "max_loss_total")
TARGET_EXACT = ("target_number", "target_type", "exit_pct", "r_multiple")
TARGET_PRICES = ("target_price", "target_distance_pct")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _value(x: Any) -> Any:
    return getattr(x, "value", x)  # enums -> their wire values


def _differences(engine: PositionSizingDecision, hand: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    ours = engine.to_json_dict()
    for key in EXACT:
        if ours[key] != hand[key]:
            yield key, ours[key], hand[key]
    for key in ("adjusted_size", "risk_amount", "risk_pct"):
        if not _close(ours[key], hand[key]):
            yield key, ours[key], hand[key]
    if event_types(engine) != hand["events"]:
        yield "events", event_types(engine), hand["events"]
    for key in ("adjustment_factors", "stop_loss_plan", "take_profit_plan"):
        if (ours[key] is None) != (hand[key] is None):
            yield key, ours[key] is None, hand[key] is None
    if ours["adjustment_factors"] is not None and hand["adjustment_factors"] is not None:
        for key in MULTIPLIERS:  # exact: the same products in the same order
            if ours["adjustment_factors"][key] != hand["adjustment_factors"][key]:
                yield f"factors.{key}", ours["adjustment_factors"][key], hand["adjustment_factors"][key]
    if ours["stop_loss_plan"] is not None and hand["stop_loss_plan"] is not None:
        yield from _compare(ours["stop_loss_plan"], hand["stop_loss_plan"], "stop", STOP_EXACT, STOP_PRICES)
    if ours["take_profit_plan"] is not None and hand["take_profit_plan"] is not None:
        yield from _targets(ours["take_profit_plan"], hand["take_profit_plan"])


def _compare(ours: dict[str, Any], hand: dict[str, Any], where: str, exact: tuple[str, ...],
             prices: tuple[str, ...]) -> Iterator[tuple[str, Any, Any]]:
    for key in exact:
        if ours[key] != hand[key]:
            yield f"{where}.{key}", ours[key], hand[key]
    for key in prices:
        if not _close(ours[key], hand[key]):
            yield f"{where}.{key}", ours[key], hand[key]


def _targets(ours: dict[str, Any], hand: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    if ours["trailing_tp_enabled"] != hand["trailing_tp_enabled"]:
        yield "trailing_tp_enabled", ours["trailing_tp_enabled"], hand["trailing_tp_enabled"]
    if len(ours["targets"]) != len(hand["targets"]):
        yield "targets", len(ours["targets"]), len(hand["targets"])
    for index, (a, b) in enumerate(zip(ours["targets"], hand["targets"])):
        yield from _compare(a, b, f"targets[{index}]", TARGET_EXACT, TARGET_PRICES)


def _pairs() -> list[tuple[Request, PositionSizingDecision, dict[str, Any]]]:
    return [(request, decision, floor.decide(request)) for request, decision in generated(N, SEED)]


def test_engine_agrees_with_the_floor_on_3000_generated_requests() -> None:
    disagreements = [(index, *difference) for index, (request, ours, hand) in enumerate(_pairs())
                     for difference in _differences(ours, hand)]
    assert disagreements[:10] == [], f"{len(disagreements)} disagreements"


def test_the_generated_set_covers_every_outcome() -> None:
    """Without coverage the agreement above would prove little: every gate, every reason the
    generator aims at (all but size_rounds_to_zero, see its docstring), approvals and exits."""
    reasons = Counter(decision.rejection_reason for _, decision in generated(N, SEED))
    gates = {decision.rejection_gate.value for _, decision in generated(N, SEED) if decision.rejection_gate}
    assert gates == {g.value for g in GateName}
    expected = {"signal_not_active", "signal_expired", "stand_down_signal", "confidence_below_threshold",
                "invalid_direction", "no_stop_derivable", "zero_stop_distance", "kill_switch_active",
                "risk_mode_stand_down", "reduce_only_no_entries", "regime_unknown", "regime_unsuitable",
                "daily_loss_limit_reached", "weekly_loss_limit_reached", "max_drawdown_reached",
                "max_positions_reached", "symbol_concentration_exceeded", "size_below_minimum",
                *(f"missing_input: {n}" for n in ("regime", "liquidity", "greeks", "quote")),
                *(f"stale_input: {n}" for n in ("signal", "regime", "options", "quote")),
                *(f"greek_exposure_exceeded: {n}" for n in ("delta", "gamma", "vega", "theta")),
                *(f"liquidity_insufficient: {n}" for n in ("liquidity_grade", "spread_pct", "open_interest", "volume")),
                "event_blackout: EARNINGS", "event_blackout: FOMC"}
    assert expected <= set(reasons)
    approved = [d for _, d in generated(N, SEED) if d.is_approved]
    assert 0.4 * N < len(approved) < 0.7 * N
    assert any(d.quantity == 0 for d in approved) and any(d.max_size_applied for d in approved)
