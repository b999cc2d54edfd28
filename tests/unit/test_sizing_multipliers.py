"""The seven multipliers of seed 004 §7.1-7.7, every step boundary on both sides, their own bounds,
and the combined clamp of §7.8 at both ends (contract reading 11, reading G).

The base request is ``neutral()`` with a 0.50 stop: max risk 1,000 / 50 -> base 20, so even the
smallest clamped product (0.25) sizes 5 contracts and every case below is approved and carries its
``adjustment_factors``. Values a hard gate would reject before the factors are reported (regime
UNKNOWN, POOR and ILLIQUID liquidity, earnings and FOMC inside the blackout) are read from the trace.
"""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.risk import RiskAdjustmentFactors
from tests.sizing_helpers import (
    Request,
    decide,
    event,
    neutral,
    policy_value,
    size,
    trace_result,
    with_events,
)

WIDE = {"signal.stop_loss_zone": {"low": 49.5, "high": 49.5}}  # base 20


def wide(overrides: dict[str, Any] | None = None) -> Request:
    return neutral({**WIDE, **(overrides or {})})


def factors(request: Request, **params: Any) -> RiskAdjustmentFactors:
    decision = size(request, **params)
    assert decision.is_approved, decision.explain()
    assert decision.adjustment_factors is not None
    return decision.adjustment_factors


def multiplier(name: str, overrides: dict[str, Any]) -> float:
    value: float = getattr(factors(wide(overrides)), f"{name}_multiplier")
    return value


# --- 7.1 confidence: >= 0.80 1.2, >= 0.70 1.0, >= 0.60 0.85, >= 0.50 0.70, else 0.50 -------------

@pytest.mark.parametrize(("confidence", "expected"), [
    (1.0, 1.2), (0.80, 1.2), (0.7999, 1.0), (0.70, 1.0), (0.6999, 0.85), (0.60, 0.85), (0.5999, 0.70),
    (0.50, 0.70), (0.4999, 0.50), (0.30, 0.50),
])
def test_confidence_multiplier(confidence: float, expected: float) -> None:
    assert multiplier("confidence", {"signal.confidence": confidence}) == expected


# --- 7.2 regime: base by volatility, CHOPPY x0.5, conf < 0.50 x0.8, < 0.40 x0.7 (stack), [0.25, 1] ---

@pytest.mark.parametrize(("volatility", "kind", "confidence", "expected"), [
    ("LOW", "TRENDING_UP", 0.8, 1.0),
    ("NORMAL", "TRENDING_UP", 0.8, 1.0),
    ("HIGH", "TRENDING_UP", 0.8, 0.70),
    ("EXTREME", "TRENDING_UP", 0.8, 0.40),
    ("NORMAL", "CHOPPY", 0.50, 0.50),
    ("HIGH", "CHOPPY", 0.9, 0.35),
    ("EXTREME", "CHOPPY", 0.9, 0.25),            # 0.20 raised to the lower bound
    ("NORMAL", "RANGING", 0.50, 1.0),            # at 0.50: no adjustment
    ("NORMAL", "RANGING", 0.4999, 0.80),
    ("NORMAL", "RANGING", 0.40, 0.80),           # at 0.40: only the first adjustment
    ("NORMAL", "RANGING", 0.3999, 0.56),         # both stack: 0.8 x 0.7
    ("HIGH", "RANGING", 0.3999, 0.392),          # 0.7 x 0.8 x 0.7
    ("EXTREME", "RANGING", 0.3999, 0.25),        # 0.224 raised to the lower bound
])
def test_regime_multiplier(volatility: str, kind: str, confidence: float, expected: float) -> None:
    got = multiplier("regime", {"regime.volatility_state": volatility, "regime.regime_type": kind,
                                "regime.regime_confidence": confidence})
    assert got == pytest.approx(expected, abs=1e-12)


def test_regime_multiplier_unknown_is_025() -> None:
    """UNKNOWN sets 0.25. REGIME_GATE rejects the entry before the multipliers are computed, so the
    policy's table is evaluated on its own by the reference interpreter."""
    request = wide({"regime.regime_type": "UNKNOWN", "regime.volatility_state": "LOW"})
    assert size(request).rejection_reason == "regime_unknown"
    assert policy_value(request, "regime_multiplier") == 0.25


# --- 7.3 liquidity: base by grade, spread > 0.10 x0.8, > 0.15 x0.6 (stack), [0.25, 1] --------------

@pytest.mark.parametrize(("grade", "spread", "expected"), [
    ("EXCELLENT", 0.05, 1.0), ("GOOD", 0.05, 0.90), ("FAIR", 0.05, 0.75),
    ("EXCELLENT", 0.10, 1.0), ("EXCELLENT", 0.10001, 0.80),
    ("EXCELLENT", 0.15, 0.80), ("EXCELLENT", 0.15001, 0.48),
    ("GOOD", 0.12, 0.72), ("FAIR", 0.20, 0.36),
])
def test_liquidity_multiplier(grade: str, spread: float, expected: float) -> None:
    got = multiplier("liquidity", {"liquidity.liquidity_grade": grade, "liquidity.avg_bid_ask_spread_pct": spread})
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("grade", "spread", "expected"), [("POOR", 0.05, 0.50), ("ILLIQUID", 0.05, 0.25),
                                                          ("POOR", 0.16, 0.25)])
def test_liquidity_multiplier_below_the_gate(grade: str, spread: float, expected: float) -> None:
    """POOR 0.50, ILLIQUID 0.25, POOR with a wide spread 0.24 -> 0.25 (the gate rejects them)."""
    decision, engine = decide(wide({"liquidity.liquidity_grade": grade, "liquidity.avg_bid_ask_spread_pct": spread}))
    assert decision.rejection_reason == "liquidity_insufficient: liquidity_grade"
    assert trace_result(engine, "liquidity_multiplier") == pytest.approx(expected, abs=1e-12)


# --- 7.4 urgency: IMMEDIATE 0.80, STANDARD 1, LOW 1; SQUEEZE_* IMMEDIATE 0.75, STANDARD 1.0 ----------

@pytest.mark.parametrize(("kind", "urgency", "expected", "squeeze"), [
    ("ENTRY_LONG", "IMMEDIATE", 0.80, False), ("ENTRY_LONG", "STANDARD", 1.0, False),
    ("ENTRY_LONG", "LOW", 1.0, False),
    ("SQUEEZE_FAST_RELEASE", "IMMEDIATE", 0.75, True), ("SQUEEZE_CONFIRMED_RELEASE", "IMMEDIATE", 0.75, True),
    ("SQUEEZE_CONFIRMED_RELEASE", "STANDARD", 1.0, True), ("SQUEEZE_FAST_RELEASE", "LOW", 1.0, True),
])
def test_urgency_multiplier(kind: str, urgency: str, expected: float, squeeze: bool) -> None:
    got = factors(wide({"signal.signal_type": kind, "signal.urgency": urgency}))
    assert (got.urgency_multiplier, got.is_squeeze_signal) == (expected, squeeze)


# --- 7.5 events: the minimum over applicable upcoming events (contract 10) ---------------------------

@pytest.mark.parametrize(("kind", "hours", "ms", "expected"), [
    ("EARNINGS", 24, 0, 0.50), ("EARNINGS", 48, -1, 0.50), ("EARNINGS", 48, 0, 0.75),
    ("EARNINGS", 72, -1, 0.75), ("EARNINGS", 72, 0, 1.0),
    ("FOMC", 4, 0, 0.60), ("FOMC", 24, -1, 0.60), ("FOMC", 24, 0, 1.0),
    ("CPI", 2, -1, 0.50), ("CPI", 2, 0, 1.0), ("JOBS", 0, 1, 0.50), ("JOBS", 2, 0, 1.0),
    ("DIVIDEND", 0, 1, 1.0), ("SPLIT", 1, 0, 1.0), ("OTHER", 1, 0, 1.0),
])
def test_event_multiplier(kind: str, hours: float, ms: int, expected: float) -> None:
    request = wide()
    symbol = "MSFT" if kind in ("EARNINGS", "DIVIDEND", "SPLIT") else None
    with_events(request, event(request, kind, hours=hours, ms=ms, symbol=symbol))
    got = factors(request)
    assert got.event_multiplier == expected
    assert got.event_type is not None and got.event_type.value == kind


@pytest.mark.parametrize(("kind", "hours", "expected"), [("EARNINGS", 23.999, 0.0), ("FOMC", 3.999, 0.0)])
def test_event_multiplier_inside_the_blackout_is_zero(kind: str, hours: float, expected: float) -> None:
    request = wide()
    with_events(request, event(request, kind, hours=hours))
    decision, engine = decide(request)
    assert decision.rejection_reason == f"event_blackout: {kind}"
    assert trace_result(engine, "event_multiplier") == expected


def test_event_multiplier_is_the_minimum_and_ignores_others() -> None:
    """EARNINGS in 50 h (0.75) and FOMC in 5 h (0.60): 0.60; another symbol's earnings in 1 h and a
    past one are ignored; the nearest applicable event is reported, hours floored."""
    request = wide()
    with_events(request, event(request, "EARNINGS", hours=50, symbol="MSFT"), event(request, "FOMC", hours=5.5),
                event(request, "EARNINGS", hours=1, symbol="AAPL"), event(request, "EARNINGS", hours=-2))
    got = factors(request)
    assert got.event_multiplier == 0.60
    assert (got.event_proximity_hours, got.event_type.value if got.event_type else None) == (5, "FOMC")


def test_no_event_is_neutral() -> None:
    got = factors(wide())
    assert (got.event_multiplier, got.event_proximity_hours, got.event_type) == (1.0, None, None)


# --- 7.6 drawdown: ratio = current / max (0.10); < .25 1, < .5 .9, < .75 .7, < .9 .5, else .25 ---------

@pytest.mark.parametrize(("drawdown", "expected"), [
    (0.0, 1.0), (0.02499, 1.0), (0.025, 0.90), (0.04999, 0.90), (0.05, 0.70), (0.07499, 0.70),
    (0.075, 0.50), (0.08999, 0.50), (0.09, 0.25), (0.09999, 0.25),
])
def test_drawdown_multiplier(drawdown: float, expected: float) -> None:
    assert multiplier("drawdown", {"risk_state.current_drawdown_pct": drawdown}) == expected


# --- 7.7 streak: null 1.0; >= .70 1.10, >= .50 1.0, >= .30 .90, else .80 --------------------------

@pytest.mark.parametrize(("win_rate", "expected"), [
    (None, 1.0), (1.0, 1.10), (0.70, 1.10), (0.6999, 1.0), (0.50, 1.0), (0.4999, 0.90), (0.30, 0.90),
    (0.2999, 0.80), (0.0, 0.80),
])
def test_streak_multiplier(win_rate: float | None, expected: float) -> None:
    got = factors(wide({"recent_win_rate": win_rate}))
    assert (got.streak_multiplier, got.recent_win_rate) == (expected, win_rate)


# --- bounds of §4.7 and the combined clamp of §7.8 ---------------------------------------------------

BOUNDS = {"confidence": (0.5, 1.2), "regime": (0.25, 1.0), "liquidity": (0.25, 1.0), "urgency": (0.75, 1.25),
          "event": (0.0, 1.0), "drawdown": (0.25, 1.0), "streak": (0.8, 1.2)}


def test_each_multiplier_stays_within_its_bounds_at_the_extremes() -> None:
    lowest = factors(wide({"signal.confidence": 0.3, "regime.volatility_state": "EXTREME",
                           "regime.regime_type": "CHOPPY", "regime.regime_confidence": 0.5,
                           "liquidity.liquidity_grade": "FAIR", "liquidity.avg_bid_ask_spread_pct": 0.2,
                           "signal.signal_type": "SQUEEZE_FAST_RELEASE", "signal.urgency": "IMMEDIATE",
                           "risk_state.current_drawdown_pct": 0.095, "recent_win_rate": 0.1}))
    highest = factors(wide({"signal.confidence": 0.95, "recent_win_rate": 0.95}))
    for name, (low, high) in BOUNDS.items():
        assert low <= getattr(lowest, f"{name}_multiplier") <= high
        assert low <= getattr(highest, f"{name}_multiplier") <= high
    assert (lowest.regime_multiplier, lowest.drawdown_multiplier, lowest.urgency_multiplier) == (0.25, 0.25, 0.75)
    assert (highest.confidence_multiplier, highest.streak_multiplier) == (1.2, 1.1)
    assert (lowest.min_multiplier, lowest.max_multiplier) == (0.25, 1.5)


def test_combined_clamp_lower_end() -> None:
    """0.5 x 0.7 x 0.75 x 0.8 = 0.21 -> clamped to 0.25; base 20 x 0.25 = 5."""
    request = wide({"signal.confidence": 0.4, "regime.volatility_state": "HIGH", "liquidity.liquidity_grade": "FAIR",
                    "signal.urgency": "IMMEDIATE"})
    decision = size(request)
    got = decision.adjustment_factors
    assert got is not None
    assert got.combined_multiplier == pytest.approx(0.21, abs=1e-12)
    assert got.combined_multiplier_clamped == 0.25
    assert (decision.base_size, decision.adjusted_size, decision.quantity) == (20, 5.0, 5)


def test_combined_just_above_the_lower_end_is_not_clamped() -> None:
    """0.5 x 0.7 x 0.75 = 0.2625 stays; base 20 x 0.2625 = 5.25 -> 5."""
    request = wide({"signal.confidence": 0.4, "regime.volatility_state": "HIGH", "liquidity.liquidity_grade": "FAIR"})
    got = factors(request)
    assert got.combined_multiplier == got.combined_multiplier_clamped == pytest.approx(0.2625, abs=1e-12)


def test_combined_largest_table_product_is_below_the_default_max() -> None:
    """1.2 x 1.1 = 1.32 < 1.50: unclamped with the default bounds."""
    got = factors(wide({"signal.confidence": 0.9, "recent_win_rate": 0.9}))
    assert got.combined_multiplier == got.combined_multiplier_clamped == pytest.approx(1.32, abs=1e-12)


def test_combined_clamp_upper_end() -> None:
    """With max_multiplier 1.1, the product 1.32 is clamped to 1.1: base 20 x 1.1 = 22."""
    decision = size(wide({"signal.confidence": 0.9, "recent_win_rate": 0.9}), max_multiplier=1.1)
    got = decision.adjustment_factors
    assert got is not None
    assert got.combined_multiplier == pytest.approx(1.32, abs=1e-12)
    assert (got.combined_multiplier_clamped, got.max_multiplier) == (1.1, 1.1)
    assert decision.adjusted_size == pytest.approx(22.0, abs=1e-12)
    assert decision.quantity == 22


def test_combined_at_the_upper_bound_is_kept() -> None:
    """Exactly at max_multiplier (1.1 x 1.0 = 1.1): kept, not reduced."""
    got = size(wide({"recent_win_rate": 0.9}), max_multiplier=1.1).adjustment_factors
    assert got is not None and got.combined_multiplier == got.combined_multiplier_clamped == 1.1


def test_factors_echo_their_inputs() -> None:
    request = wide({"signal.confidence": 0.65, "regime.regime_type": "RANGING", "regime.regime_confidence": 0.45,
                    "regime.volatility_state": "HIGH", "liquidity.liquidity_grade": "GOOD",
                    "liquidity.avg_bid_ask_spread_pct": 0.11, "risk_state.current_drawdown_pct": 0.03,
                    "recent_win_rate": 0.4})
    got = factors(request)
    assert (got.signal_confidence, got.regime_type.value, got.regime_confidence, got.volatility_state.value) == (
        0.65, "RANGING", 0.45, "HIGH")
    assert (got.liquidity_grade.value, got.spread_pct, got.current_drawdown_pct) == ("GOOD", 0.11, 0.03)
    product = 0.85 * (0.7 * 0.8) * (0.9 * 0.8) * 1.0 * 1.0 * 0.9 * 0.9
    assert got.combined_multiplier == pytest.approx(product, rel=1e-12)
