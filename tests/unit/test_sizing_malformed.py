"""Malformed requests are rejected, never approved and never raise: gate INPUT_VALIDATION, reason
``invalid_input`` and the JSON path of the first problem in ``rejection_detail`` (seed 004 §5.4,
§12; DESIGN principle 2, fail closed)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from policy_engine.risk import PositionSizingRequest
from tests.sizing_helpers import Request, drop_path, event_types, gate_of, neutral, set_path, size


def _drop(path: str) -> Callable[[Request], None]:
    return lambda request: drop_path(request, path)


def _put(path: str, value: Any) -> Callable[[Request], None]:
    return lambda request: set_path(request, path, value)


MALFORMED: list[tuple[str, Callable[[Request], None], str]] = [
    # missing fields
    ("missing/confidence", _drop("signal.confidence"), "$.signal.confidence"),
    ("missing/budget", _drop("budget"), "$.budget"),
    ("missing/now", _drop("now"), "$.now"),
    ("missing/quote-bid", _drop("quote.bid"), "$.quote.bid"),
    ("missing/event-type", lambda r: r.update(events=[{"symbol": None, "event_timestamp_utc": r["now"],
                                                      "is_before_market": False, "is_after_market": False}]),
     "$.events[0].event_type"),
    # wrong types
    ("type/confidence-string", _put("signal.confidence", "0.5"), "$.signal.confidence"),
    ("type/confidence-bool", _put("signal.confidence", True), "$.signal.confidence"),
    ("type/positions-float", _put("exposure.open_positions", 1.5), "$.exposure.open_positions"),
    ("type/kill-switch-string", _put("risk_state.kill_switch_active", "false"), "$.risk_state.kill_switch_active"),
    ("type/events-object", _put("events", {}), "$.events"),
    ("type/zone-list", _put("signal.entry_price_zone", [50.0, 50.0]), "$.signal.entry_price_zone"),
    # not finite
    ("nan/confidence", _put("signal.confidence", math.nan), "$.signal.confidence"),
    ("nan/balance", _put("account.account_balance", math.nan), "$.account.account_balance"),
    ("inf/balance", _put("account.account_balance", math.inf), "$.account.account_balance"),
    ("inf/delta", _put("exposure.total_delta", -math.inf), "$.exposure.total_delta"),
    ("nan/atr", _put("atr", math.nan), "$.atr"),
    ("nan/stop-zone", _put("signal.stop_loss_zone.low", math.nan), "$.signal.stop_loss_zone.low"),
    # negative or zero prices
    ("negative/entry", _put("signal.entry_price_zone.low", -1.0), "$.signal.entry_price_zone.low"),
    ("negative/stop", _put("signal.stop_loss_zone.high", -48.0), "$.signal.stop_loss_zone.high"),
    ("zero/invalidation", _put("signal.invalidation_price", 0.0), "$.signal.invalidation_price"),
    ("negative/bid", _put("quote.bid", -0.01), "$.quote.bid"),
    ("negative/balance", _put("account.account_balance", -5.0), "$.account.account_balance"),
    ("negative/atr", _put("atr", -0.5), "$.atr"),
    ("negative/open-interest", _put("liquidity.total_open_interest", -1), "$.liquidity.total_open_interest"),
    # unknown enum values
    ("enum/signal-type", _put("signal.signal_type", "ENTRY_SIDEWAYS"), "$.signal.signal_type"),
    ("enum/lifecycle", _put("signal.lifecycle_state", "active"), "$.signal.lifecycle_state"),
    ("enum/volatility", _put("regime.volatility_state", "WILD"), "$.regime.volatility_state"),
    ("enum/grade", _put("liquidity.liquidity_grade", "A+"), "$.liquidity.liquidity_grade"),
    ("enum/risk-mode", _put("risk_state.risk_mode", "PANIC"), "$.risk_state.risk_mode"),
    ("enum/family", _put("signal.strategy_family", "MOMENTUM"), "$.signal.strategy_family"),
    ("enum/event", lambda r: r.update(events=[{"symbol": None, "event_type": "ELECTION",
                                               "event_timestamp_utc": r["now"], "is_before_market": False,
                                               "is_after_market": False}]), "$.events[0].event_type"),
    # timestamps and shape
    ("time/words", _put("regime.timestamp_utc", "yesterday"), "$.regime.timestamp_utc"),
    ("time/no-offset", _put("now", "2025-04-02T06:10:54"), "$.now"),
    ("time/number", _put("quote.timestamp_utc", 1743574254), "$.quote.timestamp_utc"),
    ("extra/field", _put("signal.size_hint", 10), "$.signal.size_hint"),
    ("fraction/above-one", _put("signal.confidence", 1.5), "$.signal.confidence"),
]


@pytest.mark.parametrize(("mutate", "path"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_request_is_rejected_with_its_path(mutate: Callable[[Request], None], path: str) -> None:
    request = neutral()
    mutate(request)
    decision = size(request)
    assert gate_of(decision) == ("INPUT_VALIDATION", "invalid_input")
    assert decision.rejection_detail is not None
    assert decision.rejection_detail.startswith(f"invalid input at {path}:")
    assert (decision.is_approved, decision.quantity, decision.stop_loss_plan) == (False, 0, None)
    assert event_types(decision) == ["SIZING_REJECTED"]
    with pytest.raises(ValidationError):  # the typed model refuses it too
        PositionSizingRequest.model_validate(request)


@pytest.mark.parametrize("request_", [None, [], "request", 42, 1.5, True], ids=repr)
def test_a_request_that_is_not_an_object(request_: Any) -> None:
    decision = size(request_)
    assert gate_of(decision) == ("INPUT_VALIDATION", "invalid_input")
    assert decision.rejection_detail is not None and decision.rejection_detail.startswith("invalid input at $:")
    assert (decision.signal_id, decision.symbol) == ("unknown", "UNKNOWN")


# --- any junk, anywhere: never approved unless valid, never an exception ------------------------------

LEAVES = [path for path in (
    "now", "signal.signal_id", "signal.timestamp_utc", "signal.signal_type", "signal.direction", "signal.confidence",
    "signal.urgency", "signal.ttl_seconds", "signal.expiry_timestamp_utc", "signal.lifecycle_state",
    "signal.invalidation_price", "signal.entry_price_zone.low", "signal.entry_price_zone", "signal.stop_loss_zone",
    "signal.target_zones", "signal.flags", "regime", "regime.regime_confidence", "liquidity.avg_volume",
    "liquidity.avg_bid_ask_spread_pct", "greeks.theta", "quote.ask", "account.account_balance",
    "account.currency", "risk_state.daily_loss_used_pct", "risk_state.kill_switch_active", "exposure",
    "exposure.symbol_exposures", "budget.remaining_daily_budget", "events", "atr", "recent_win_rate", "setup",
)]

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(["2025-04-02T06:10:54.151Z", "2025-04-02T06:10:54", "ACTIVE", "LONG", "NaN", "1e309"]),
)


INTEGER_LEAVES = {"signal.ttl_seconds", "liquidity.avg_volume"}


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(LEAVES), junk=JUNK)
def test_junk_anywhere_never_raises_and_is_never_wrongly_approved(path: str, junk: Any) -> None:
    """The typed model is the oracle of validity, except for one known difference: JSON Schema calls
    an integral float (5.0) an integer, so the engine's checker takes it where the strict model does not."""
    assume(not (path in INTEGER_LEAVES and isinstance(junk, float) and junk.is_integer()))
    request = neutral()
    set_path(request, path, junk)
    decision = size(request)  # must not raise
    try:
        PositionSizingRequest.model_validate(request)
    except ValidationError:
        assert gate_of(decision) == ("INPUT_VALIDATION", "invalid_input"), (path, junk)
        assert decision.quantity == 0
        return
    assert decision.rejection_reason != "invalid_input", (path, junk, decision.rejection_detail)
