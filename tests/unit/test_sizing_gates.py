"""The 13 hard gates of seed 004 §6 and the signal-level rejects of §5.4, each just inside and just
outside its threshold, through RiskManager. The rejection gate and reason string are asserted
exactly (contract readings 1-10, readings C-H).

The base request is ``neutral()``: the worked example with every multiplier at 1.0, so an
approval sizes base 5 -> 5 contracts, proposed risk 5 x 200 = 1,000.00, and the greeks add
5 x (0.5, 0.01, 0.2, -0.1) = (2.5, 0.05, 1.0, -0.5) to the portfolio.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.bench import floor
from tests.sizing_helpers import (
    Request,
    at,
    event,
    gate_of,
    neutral,
    set_age,
    set_now,
    size,
    with_events,
)

Case = tuple[str, Callable[[], Request], dict[str, Any], tuple[str, str] | None]


def _n(**overrides: Any) -> Callable[[], Request]:
    """A neutral request with dotted-path overrides (``__`` stands for ``.``)."""
    return lambda: neutral({k.replace("__", "."): v for k, v in overrides.items()})


def _aged(block: str, ms: int = 0, us: int = 0) -> Callable[[], Request]:
    return lambda: set_age(neutral(), block, ms=ms, us=us)


def _events(*specs: tuple[str, float, int, str | None]) -> Callable[[], Request]:
    def make() -> Request:
        request = neutral()
        return with_events(request, *(event(request, kind, hours=h, ms=ms, symbol=sym) for kind, h, ms, sym in specs))
    return make


def _event_us(kind: str, hours: float, us: int) -> Callable[[], Request]:
    def make() -> Request:
        request = neutral()
        return with_events(request, event(request, kind, hours=hours, us=us))
    return make


def _expiring(ms_after_now: int) -> Callable[[], Request]:
    """Signal born 10 s ago, expiring ``ms_after_now`` after now (0: expires exactly now)."""
    def make() -> Request:
        request = set_age(neutral(), "signal", ms=10_000)
        request["signal"]["expiry_timestamp_utc"] = at(request, ms=ms_after_now)
        return request
    return make


def _exit(kind: str = "EXIT_FULL", **overrides: Any) -> Callable[[], Request]:
    return _n(signal__signal_type=kind, **overrides)


KILL = ("KILL_SWITCH_GATE", "kill_switch_active")
MODE_DOWN = ("RISK_MODE_GATE", "risk_mode_stand_down")
MODE_REDUCE = ("RISK_MODE_GATE", "reduce_only_no_entries")
DAILY = ("DAILY_LOSS_GATE", "daily_loss_limit_reached")


def _stale(what: str) -> tuple[str, str]:
    return ("DATA_FRESHNESS_GATE", f"stale_input: {what}")


def _greek(what: str) -> tuple[str, str]:
    return ("GREEK_EXPOSURE_GATE", f"greek_exposure_exceeded: {what}")


def _liquidity(what: str) -> tuple[str, str]:
    return ("LIQUIDITY_GATE", f"liquidity_insufficient: {what}")


def _invalid(reason: str) -> tuple[str, str]:
    return ("INPUT_VALIDATION", reason)


GATE_CASES: list[Case] = [
    # 1. KILL_SWITCH_GATE: state flag or ConfigContract risk.kill_switch (params.kill_switch)
    ("kill/state-off", _n(risk_state__kill_switch_active=False), {}, None),
    ("kill/state-on", _n(risk_state__kill_switch_active=True), {}, KILL),
    ("kill/param-on", _n(), {"kill_switch": True}, KILL),
    ("kill/param-on-exit", _exit(), {"kill_switch": True}, KILL),
    ("kill/state-on-exit", _exit(risk_state__kill_switch_active=True), {}, KILL),
    # 2. RISK_MODE_GATE
    ("mode/normal", _n(risk_state__risk_mode="NORMAL"), {}, None),
    ("mode/stand-down-entry", _n(risk_state__risk_mode="STAND_DOWN"), {}, MODE_DOWN),
    ("mode/stand-down-exit", _exit(risk_state__risk_mode="STAND_DOWN"), {}, MODE_DOWN),
    ("mode/reduce-only-entry", _n(risk_state__risk_mode="REDUCE_ONLY"), {}, MODE_REDUCE),
    ("mode/reduce-only-squeeze", _n(risk_state__risk_mode="REDUCE_ONLY",
                                    signal__signal_type="SQUEEZE_CONFIRMED_RELEASE"), {}, MODE_REDUCE),
    ("mode/reduce-only-exit-full", _exit("EXIT_FULL", risk_state__risk_mode="REDUCE_ONLY"), {}, None),
    ("mode/reduce-only-exit-partial", _exit("EXIT_PARTIAL", risk_state__risk_mode="REDUCE_ONLY"), {}, None),
    # 3. DATA_FRESHNESS_GATE: stale when age > max age (contract 8); ms and µs resolution
    ("fresh/signal-at-max", _aged("signal", ms=60_000), {}, None),
    ("fresh/signal-1ms-over", _aged("signal", ms=60_001), {}, _stale("signal")),
    ("fresh/signal-1us-over", _aged("signal", ms=60_000, us=1), {}, _stale("signal")),
    ("fresh/regime-at-max", _aged("regime", ms=120_000), {}, None),
    ("fresh/regime-1ms-over", _aged("regime", ms=120_001), {}, _stale("regime")),
    ("fresh/liquidity-at-max", _aged("liquidity", ms=300_000), {}, None),
    ("fresh/liquidity-1ms-over", _aged("liquidity", ms=300_001), {}, _stale("options")),
    ("fresh/greeks-at-max", _aged("greeks", ms=300_000), {}, None),
    ("fresh/greeks-1ms-over", _aged("greeks", ms=300_001), {}, _stale("options")),
    ("fresh/quote-at-max", _aged("quote", ms=30_000), {}, None),
    ("fresh/quote-1ms-over", _aged("quote", ms=30_001), {}, _stale("quote")),
    ("fresh/quote-1us-over", _aged("quote", ms=30_000, us=1), {}, _stale("quote")),
    ("fresh/exit-ignores-age", lambda: set_age(_exit()(), "quote", ms=900_000), {}, None),
    # 4. REGIME_GATE (contract 7)
    ("regime/unknown", _n(regime__regime_type="UNKNOWN"), {}, ("REGIME_GATE", "regime_unknown")),
    ("regime/choppy-at-0.50", _n(regime__regime_type="CHOPPY", regime__regime_confidence=0.50), {}, None),
    ("regime/choppy-0.4999", _n(regime__regime_type="CHOPPY", regime__regime_confidence=0.4999), {},
     ("REGIME_GATE", "regime_unsuitable")),
    ("regime/ranging-0.10", _n(regime__regime_type="RANGING", regime__regime_confidence=0.10), {}, None),
    ("regime/exit-unknown", _exit(regime__regime_type="UNKNOWN"), {}, None),
    # 5. DAILY_LOSS_GATE: used < 100 %, then remaining budget > proposed risk (strict, contract 4)
    ("daily/used-0.99999", _n(risk_state__daily_loss_used_pct=0.99999), {}, None),
    ("daily/used-1.0", _n(risk_state__daily_loss_used_pct=1.0), {}, DAILY),
    ("daily/budget-equals-risk", _n(budget__remaining_daily_budget=1000.0), {}, DAILY),
    ("daily/budget-one-cent-more", _n(budget__remaining_daily_budget=1000.01), {}, None),
    # a boost (1.2 x 1.1) sizes 5 -> 6: 6 x 200 = 1,200 > 1,000 budget
    ("daily/boost-over-budget", _n(budget__remaining_daily_budget=1000.0, signal__confidence=0.85,
                                   recent_win_rate=0.75), {}, DAILY),
    ("daily/boost-just-inside", _n(budget__remaining_daily_budget=1200.01, signal__confidence=0.85,
                                   recent_win_rate=0.75), {}, None),
    # 6. WEEKLY_LOSS_GATE
    ("weekly/used-0.99999", _n(risk_state__weekly_loss_used_pct=0.99999), {}, None),
    ("weekly/used-1.0", _n(risk_state__weekly_loss_used_pct=1.0), {}, ("WEEKLY_LOSS_GATE", "weekly_loss_limit_reached")),
    # 7. DRAWDOWN_GATE: current < max (0.10)
    ("drawdown/0.09999", _n(risk_state__current_drawdown_pct=0.09999), {}, None),
    ("drawdown/0.10", _n(risk_state__current_drawdown_pct=0.10), {}, ("DRAWDOWN_GATE", "max_drawdown_reached")),
    # 8. MAX_POSITIONS_GATE: open < 5
    ("positions/4", _n(exposure__open_positions=4), {}, None),
    ("positions/5", _n(exposure__open_positions=5), {}, ("MAX_POSITIONS_GATE", "max_positions_reached")),
    # 9. SYMBOL_CONCENTRATION_GATE: the signal's symbol's exposure_pct (summed) < 0.20 (contract 6)
    ("concentration/0.1999", _n(exposure__symbol_exposures=[
        {"symbol": "MSFT", "position_count": 1, "exposure_pct": 0.1999}]), {}, None),
    ("concentration/0.20", _n(exposure__symbol_exposures=[
        {"symbol": "MSFT", "position_count": 1, "exposure_pct": 0.20}]), {},
     ("SYMBOL_CONCENTRATION_GATE", "symbol_concentration_exceeded")),
    ("concentration/0.1+0.1", _n(exposure__symbol_exposures=[
        {"symbol": "MSFT", "position_count": 1, "exposure_pct": 0.1},
        {"symbol": "MSFT", "position_count": 1, "exposure_pct": 0.1}]), {},
     ("SYMBOL_CONCENTRATION_GATE", "symbol_concentration_exceeded")),
    ("concentration/other-symbol", _n(exposure__symbol_exposures=[
        {"symbol": "AAPL", "position_count": 3, "exposure_pct": 0.9}]), {}, None),
    # 10. GREEK_EXPOSURE_GATE: total + 5 x per-contract greek, <= max (theta >= -200)
    ("greek/delta-at-max", _n(exposure__total_delta=97.5), {}, None),
    ("greek/delta-over", _n(exposure__total_delta=97.5001), {}, _greek("delta")),
    ("greek/gamma-at-max", _n(exposure__total_gamma=49.95), {}, None),
    # 17.6 + 5 x 6.48 is 50.00000000000001 in binary floats: still at the max (contract 15)
    ("greek/gamma-at-max-float-above", _n(exposure__total_gamma=17.6, greeks__gamma=6.48), {}, None),
    ("greek/gamma-over", _n(exposure__total_gamma=49.9501), {}, _greek("gamma")),
    ("greek/vega-at-max", _n(exposure__total_vega=499.0), {}, None),
    ("greek/vega-over", _n(exposure__total_vega=499.0001), {}, _greek("vega")),
    ("greek/theta-at-max", _n(exposure__total_theta=-199.5), {}, None),
    ("greek/theta-over", _n(exposure__total_theta=-199.5001), {}, _greek("theta")),
    ("greek/short-delta-signed", _n(exposure__total_delta=-1000.0), {}, None),
    ("greek/order-delta-first", _n(exposure__total_delta=98.0, exposure__total_vega=600.0), {}, _greek("delta")),
    # 11. LIQUIDITY_GATE (contract 9)
    ("liquidity/grade-FAIR", _n(liquidity__liquidity_grade="FAIR"), {}, None),
    ("liquidity/grade-POOR", _n(liquidity__liquidity_grade="POOR"), {}, _liquidity("liquidity_grade")),
    ("liquidity/grade-ILLIQUID", _n(liquidity__liquidity_grade="ILLIQUID"), {}, _liquidity("liquidity_grade")),
    ("liquidity/spread-0.20", _n(liquidity__avg_bid_ask_spread_pct=0.20), {}, None),
    ("liquidity/spread-0.20001", _n(liquidity__avg_bid_ask_spread_pct=0.20001), {}, _liquidity("spread_pct")),
    ("liquidity/atm-spread-ignored", _n(liquidity__atm_spread_pct=0.9), {}, None),
    ("liquidity/oi-500", _n(liquidity__total_open_interest=500), {}, None),
    ("liquidity/oi-499", _n(liquidity__total_open_interest=499), {}, _liquidity("open_interest")),
    ("liquidity/volume-100", _n(liquidity__avg_volume=100), {}, None),
    ("liquidity/volume-99", _n(liquidity__avg_volume=99), {}, _liquidity("volume")),
    ("liquidity/order-grade-first", _n(liquidity__liquidity_grade="POOR", liquidity__avg_volume=0), {},
     _liquidity("liquidity_grade")),
    # 12. EVENT_BLACKOUT_GATE: hours-to-event < blackout hours (strict), earnings first (contract 10)
    ("blackout/earnings-24h", _events(("EARNINGS", 24, 0, "MSFT")), {}, None),
    ("blackout/earnings-23.999h", _events(("EARNINGS", 23.999, 0, "MSFT")), {},
     ("EVENT_BLACKOUT_GATE", "event_blackout: EARNINGS")),
    ("blackout/earnings-24h-minus-1ms", _events(("EARNINGS", 24, -1, None)), {},
     ("EVENT_BLACKOUT_GATE", "event_blackout: EARNINGS")),
    # 1 µs inside the window: hours from whole microseconds are compared exactly, not snapped
    ("blackout/earnings-24h-minus-1us", _event_us("EARNINGS", 24, -1), {},
     ("EVENT_BLACKOUT_GATE", "event_blackout: EARNINGS")),
    ("blackout/fomc-4h-minus-1us", _event_us("FOMC", 4, -1), {}, ("EVENT_BLACKOUT_GATE", "event_blackout: FOMC")),
    ("blackout/earnings-other-symbol", _events(("EARNINGS", 1, 0, "AAPL")), {}, None),
    ("blackout/earnings-past", _events(("EARNINGS", -1, 0, "MSFT")), {}, None),
    ("blackout/fomc-4h", _events(("FOMC", 4, 0, None)), {}, None),
    ("blackout/fomc-3.999h", _events(("FOMC", 3.999, 0, None)), {}, ("EVENT_BLACKOUT_GATE", "event_blackout: FOMC")),
    ("blackout/earnings-before-fomc", _events(("FOMC", 1, 0, None), ("EARNINGS", 2, 0, "MSFT")), {},
     ("EVENT_BLACKOUT_GATE", "event_blackout: EARNINGS")),
    ("blackout/cpi-never-blacks-out", _events(("CPI", 0.01, 0, None)), {}, None),
    # 13. MIN_SIZE_GATE (reading E): stop 40 -> base 1; IMMEDIATE 0.80 -> 0.8 < 1
    ("min/adjusted-1.0", _n(signal__stop_loss_zone={"low": 40.0, "high": 40.0}), {}, None),
    ("min/adjusted-0.8", _n(signal__stop_loss_zone={"low": 40.0, "high": 40.0}, signal__urgency="IMMEDIATE"), {},
     ("MIN_SIZE_GATE", "size_below_minimum")),
    ("min/base-0", _n(signal__stop_loss_zone={"low": 39.99, "high": 39.99}), {},
     ("MIN_SIZE_GATE", "size_below_minimum")),
    ("min/rounds-to-zero", _n(signal__stop_loss_zone={"low": 40.0, "high": 40.0}, signal__urgency="IMMEDIATE"),
     {"min_position_size": 0}, ("MIN_SIZE_GATE", "size_rounds_to_zero")),
    ("min/allow-below-minimum", _n(signal__stop_loss_zone={"low": 40.0, "high": 40.0}, signal__urgency="IMMEDIATE"),
     {"allow_below_minimum": True}, None),
]

SIGNAL_CASES: list[Case] = [
    ("active", _n(signal__lifecycle_state="ACTIVE"), {}, None),
    *[(f"not-active/{state}", _n(signal__lifecycle_state=state), {}, _invalid("signal_not_active"))
      for state in ("PENDING", "TRIGGERED", "EXPIRED", "INVALIDATED", "CANCELLED")],
    ("not-active/exit", _exit(signal__lifecycle_state="PENDING"), {}, _invalid("signal_not_active")),
    ("expiry-1ms-after-now", _expiring(1), {}, None),
    ("expiry-exactly-now", _expiring(0), {}, _invalid("signal_expired")),
    ("expiry-before-now", _expiring(-1), {}, _invalid("signal_expired")),
    ("expired-exit", lambda: set_now(_exit()(), "signal.expiry_timestamp_utc"), {}, _invalid("signal_expired")),
    ("stand-down-signal", _n(signal__signal_type="STAND_DOWN", signal__direction="NEUTRAL"), {},
     _invalid("stand_down_signal")),
    ("confidence-at-threshold", _n(signal__confidence=0.30), {}, None),
    ("confidence-0.2999", _n(signal__confidence=0.2999), {}, _invalid("confidence_below_threshold")),
    ("confidence-low-exit", _exit(signal__confidence=0.0), {}, _invalid("confidence_below_threshold")),
    ("neutral-squeeze", _n(signal__signal_type="SQUEEZE_FAST_RELEASE", signal__direction="NEUTRAL"), {},
     _invalid("invalid_direction")),
    ("neutral-direction-entry-long", _n(signal__direction="NEUTRAL"), {}, None),  # the type gives the side
    ("neutral-exit", _exit(signal__direction="NEUTRAL"), {}, None),
    *[(f"missing/{name}", _n(**{name: None}), {}, _invalid(f"missing_input: {name}"))
      for name in ("regime", "liquidity", "greeks", "quote")],
    ("missing/exit-needs-none", _exit(regime=None, liquidity=None, greeks=None, quote=None), {}, None),
    ("missing/regime-before-quote", _n(regime=None, quote=None), {}, _invalid("missing_input: regime")),
    ("no-stop-derivable", _n(signal__stop_loss_zone=None, atr=None), {}, _invalid("no_stop_derivable")),
    ("atr-derives-stop", _n(signal__stop_loss_zone=None, atr=1.0), {}, None),
    ("zero-stop/zone", _n(signal__stop_loss_zone={"low": 50.0, "high": 50.0}), {}, _invalid("zero_stop_distance")),
    ("zero-stop/zone-midpoint", _n(signal__stop_loss_zone={"low": 49.0, "high": 51.0}), {},
     _invalid("zero_stop_distance")),
    ("zero-stop/atr-0", _n(signal__stop_loss_zone=None, atr=0.0), {}, _invalid("zero_stop_distance")),
    ("stop-one-cent", _n(signal__stop_loss_zone={"low": 49.99, "high": 49.99}), {}, None),
    # order of contract 1: lifecycle, expiry, STAND_DOWN, confidence, direction, inputs, stop
    ("order/inactive-before-expired", lambda: set_now(_n(signal__lifecycle_state="EXPIRED")(),
                                                      "signal.expiry_timestamp_utc"), {},
     _invalid("signal_not_active")),
    ("order/confidence-before-direction", _n(signal__signal_type="SQUEEZE_FAST_RELEASE", signal__direction="NEUTRAL",
                                             signal__confidence=0.1), {}, _invalid("confidence_below_threshold")),
    ("order/direction-before-missing", _n(signal__signal_type="SQUEEZE_FAST_RELEASE", signal__direction="NEUTRAL",
                                          regime=None), {}, _invalid("invalid_direction")),
    ("order/missing-before-stop", _n(quote=None, signal__stop_loss_zone=None, atr=None), {},
     _invalid("missing_input: quote")),
    ("order/validation-before-kill", _n(signal__confidence=0.1, risk_state__kill_switch_active=True), {},
     _invalid("confidence_below_threshold")),
]


def _check(make: Callable[[], Request], params: dict[str, Any], expected: tuple[str, str] | None) -> None:
    """The engine decides as expected, and the hand-written floor agrees on the edge too."""
    request = make()
    decision = size(request, **params)
    if expected is None:
        assert gate_of(decision) == (None, None), decision.explain()
        assert decision.is_approved is True
    else:
        assert gate_of(decision) == expected
        assert decision.is_approved is False and decision.quantity == 0
    other = floor.decide(request, {**floor.DEFAULT_PARAMS, **params})
    assert (other["rejection_gate"], other["rejection_reason"], other["quantity"]) == (
        *gate_of(decision), decision.quantity)


@pytest.mark.parametrize(("make", "params", "expected"), [c[1:] for c in GATE_CASES], ids=[c[0] for c in GATE_CASES])
def test_gate_threshold(make: Callable[[], Request], params: dict[str, Any], expected: tuple[str, str] | None) -> None:
    _check(make, params, expected)


@pytest.mark.parametrize(("make", "params", "expected"), [c[1:] for c in SIGNAL_CASES],
                         ids=[c[0] for c in SIGNAL_CASES])
def test_signal_reject(make: Callable[[], Request], params: dict[str, Any], expected: tuple[str, str] | None) -> None:
    _check(make, params, expected)


def test_every_gate_has_a_case() -> None:
    """Each of the 13 gates and INPUT_VALIDATION is reached by at least one rejecting case."""
    from policy_engine.risk import GateName

    reached = {c[3][0] for c in GATE_CASES + SIGNAL_CASES if c[3] is not None}
    assert reached == {g.value for g in GateName}


def test_gates_run_in_the_62_order() -> None:
    """Several failures at once: the first in the §6.2 order is reported."""
    faults = {
        "risk_state.kill_switch_active": True, "risk_state.risk_mode": "STAND_DOWN",
        "regime.regime_type": "UNKNOWN", "risk_state.daily_loss_used_pct": 1.0,
        "risk_state.weekly_loss_used_pct": 1.0, "risk_state.current_drawdown_pct": 0.2,
        "exposure.open_positions": 9, "exposure.total_vega": 900.0, "liquidity.avg_volume": 0,
        "exposure.symbol_exposures": [{"symbol": "MSFT", "position_count": 2, "exposure_pct": 0.5}],
    }
    expected = ["KILL_SWITCH_GATE", "RISK_MODE_GATE", "DATA_FRESHNESS_GATE", "REGIME_GATE", "DAILY_LOSS_GATE",
                "WEEKLY_LOSS_GATE", "DRAWDOWN_GATE", "MAX_POSITIONS_GATE", "SYMBOL_CONCENTRATION_GATE", "GREEK_EXPOSURE_GATE",
                "LIQUIDITY_GATE", "EVENT_BLACKOUT_GATE", "MIN_SIZE_GATE"]
    request = set_age(neutral(faults), "quote", ms=40_000)
    request["signal"]["stop_loss_zone"] = {"low": 30.0, "high": 30.0}  # base 0: below the minimum
    request["events"] = [event(request, "FOMC", hours=1)]
    seen = []
    for gate in expected:
        decision = size(request)
        seen.append(gate_of(decision)[0])
        _clear(request, gate)
    assert seen == expected
    assert size(request).is_approved is True


def _clear(request: Request, gate: str) -> None:
    """Repair the fault that made ``gate`` reject, so the next gate in line decides."""
    fixes: dict[str, Callable[[], object]] = {
        "KILL_SWITCH_GATE": lambda: request["risk_state"].update(kill_switch_active=False),
        "RISK_MODE_GATE": lambda: request["risk_state"].update(risk_mode="NORMAL"),
        "DATA_FRESHNESS_GATE": lambda: set_age(request, "quote", ms=0),
        "REGIME_GATE": lambda: request["regime"].update(regime_type="TRENDING_UP"),
        "DAILY_LOSS_GATE": lambda: request["risk_state"].update(daily_loss_used_pct=0.0),
        "WEEKLY_LOSS_GATE": lambda: request["risk_state"].update(weekly_loss_used_pct=0.0),
        "DRAWDOWN_GATE": lambda: request["risk_state"].update(current_drawdown_pct=0.0),
        "MAX_POSITIONS_GATE": lambda: request["exposure"].update(open_positions=0),
        "SYMBOL_CONCENTRATION_GATE": lambda: request["exposure"].update(symbol_exposures=[]),
        "GREEK_EXPOSURE_GATE": lambda: request["exposure"].update(total_vega=0.0),
        "LIQUIDITY_GATE": lambda: request["liquidity"].update(avg_volume=1000),
        "EVENT_BLACKOUT_GATE": lambda: request.update(events=[]),
        "MIN_SIZE_GATE": lambda: request["signal"].update(stop_loss_zone={"low": 48.0, "high": 48.0}),
    }
    fixes[gate]()
