"""The speed floor: position sizing (seed 004 §5-8) written by hand, without the engine.

This is the yardstick the policy engine is benchmarked against, and a second, independent
reading of the same rules: seed 004 + ../shared/contracts/position_sizing.md (readings 1-15) +
docs/position-sizing-readings.md (readings A-K). Standard library only, no pydantic, no Decimal.

``decide(request, params)`` takes the JSON request (contract layout, already valid against
schemas/position_sizing.request.schema.json) and returns the core of a PositionSizingDecision as
a plain dict.

Exactness (contract reading 15) without Decimal:
  * every threshold comparison means ``round(x, 9) <op> t``. ``round`` is monotone, so for a fixed
    ``t`` that is the same as comparing ``x`` with one precomputed float, the *cut* of ``t``
    (``_cut``): table thresholds are cut at import, params thresholds on first use (memoized);
  * floors and ceilings snap: a value within 1e-9 of an integer is that integer;
  * timestamps are parsed once; ages and event distances compare as whole microseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from math import inf, nextafter
from typing import Any

# Reading A: names and defaults are shared with the policy YAML.
DEFAULT_PARAMS: dict[str, Any] = {
    "kill_switch": False,
    "max_daily_loss_pct": 0.02,
    "max_weekly_loss_pct": 0.05,
    "max_drawdown_pct": 0.10,
    "per_trade_max_risk_pct": 0.01,
    "max_open_positions": 5,
    "max_symbol_concentration_pct": 0.20,
    "max_portfolio_delta": 100,
    "max_portfolio_gamma": 50,
    "max_portfolio_vega": 500,
    "max_portfolio_theta": -200,
    "min_position_size": 1,
    "max_position_size": 50,
    "earnings_blackout_hours": 24,
    "fomc_blackout_hours": 4,
    "min_liquidity_grade": "FAIR",
    "max_bid_ask_spread_pct": 0.20,
    "min_open_interest": 500,
    "min_volume": 100,
    "min_confidence_threshold": 0.30,
    "choppy_min_regime_confidence": 0.50,
    "max_signal_age_ms": 60000,
    "max_regime_age_ms": 120000,
    "max_options_age_ms": 300000,
    "max_quote_age_ms": 30000,
    "min_multiplier": 0.25,
    "max_multiplier": 1.50,
    "contract_multiplier": 100,
    "default_atr_multiplier": 2.0,
    "allow_below_minimum": False,
    "rounding_direction": "DOWN",
    "structure_buffer_pct": 0.002,
    "default_stop_pct": 0.03,
    "soft_stop_ratio": 0.50,
    "soft_stop_action": "ALERT",
    "time_stop_bars_fast": 10,
    "time_stop_bars_default": 20,
    "r_multiple_1": 1.5,
    "r_multiple_2": 2.5,
    "r_multiple_3": 4.0,
    "partial_exit_schedule": "DEFAULT",
    "trailing_tp_activation_r": 1.0,
    "trailing_tp_distance_r": 0.5,
    "exit_before_event": True,
    "event_exit_hours_before": 4,
    "limit_warning_pct": 0.75,
}

# --- exact comparisons ------------------------------------------------------------------------


def _cut(t: float) -> float:
    """The smallest float ``c`` with ``round(c, 9) >= t``; so ``round(x, 9) < t`` iff ``x < c``."""
    lo, hi = t - 1e-8, t + 1e-8  # round() moves a value by at most 5e-10
    if not round(lo, 9) < t <= round(hi, 9):
        return t  # |t| so large that floats are coarser than 1e-9: rounding changes nothing
    while True:  # bisect between adjacent floats, keeping round(lo) < t <= round(hi)
        mid = (lo + hi) / 2
        if mid <= lo or mid >= hi:
            return hi
        if round(mid, 9) >= t:
            hi = mid
        else:
            lo = mid


class _Memo(dict[Any, Any]):
    """``memo[key]`` computes ``fn(key)`` once; params take few distinct values, so hits dominate."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        if len(self) >= 4096:  # never let a memo grow without bound
            self.clear()
        value = self[key] = self.fn(key)
        return value


# ``x < LT[t]`` is ``round(x, 9) < t``; ``x < LE[t]`` is ``round(x, 9) <= t`` (round returns a
# float, so ``<= t`` is ``<`` the next float after t); ``>=`` and ``>`` are their negations.
LT = _Memo(_cut)
LE = _Memo(lambda t: _cut(nextafter(t, inf)))
_ROUND9 = _Memo(lambda x: round(x, 9))  # r multiples repeat (1.4999999999999998, 1.5, ...)


def _lt(x: float, t: float) -> bool:
    """``round(x, 9) < t`` for a threshold that changes every call (no memo)."""
    if x < t - 1e-8:
        return True
    if x >= t + 1e-8:
        return False
    return round(x, 9) < t


_NEAR_ONE = 1 - 1e-9  # a fraction this close to 1 snaps up: 6.999999999999999 floors to 7


def _round_size(x: float, direction: str) -> int:
    """Snapped rounding of a size x >= 0: DOWN floors, UP ceils, NEAREST floors x + 0.5."""
    if direction == "UP":
        n = int(x)
        return n if x - n <= 1e-9 else n + 1
    if direction == "NEAREST":
        x += 0.5
    n = int(x)
    return n + 1 if x - n >= _NEAR_ONE else n


# Table thresholds of seed §7, cut once: ``x < _LT_080`` means ``round(x, 9) < 0.80``.
_LT_080, _LT_070, _LT_060, _LT_050 = LT[0.80], LT[0.70], LT[0.60], LT[0.50]
_LT_040, _LT_030, _LT_025, _LT_075, _LT_090 = LT[0.40], LT[0.30], LT[0.25], LT[0.75], LT[0.90]
_LT_ONE = LT[1.0]
_LE_ZERO, _LE_010, _LE_015 = LE[0.0], LE[0.10], LE[0.15]

# --- time: datetimes are parsed once; timedelta comparisons are exact whole-microsecond ones ----

_parse = datetime.fromisoformat  # Python >= 3.11 reads the trailing "Z" itself
_MS = _Memo(lambda ms: timedelta(milliseconds=ms))
_HOURS = _Memo(lambda hours: timedelta(hours=hours))
_ZERO = timedelta(0)
_HOUR = timedelta(hours=1)
_H2, _H4, _H24, _H48, _H72 = (timedelta(hours=h) for h in (2, 4, 24, 48, 72))

# --- lookups ----------------------------------------------------------------------------------

_ENTRY_DIRECTION = {  # reading C; None: the signal's own direction (squeezes)
    "ENTRY_LONG": "LONG",
    "ENTRY_SHORT": "SHORT",
    "SQUEEZE_FAST_RELEASE": None,
    "SQUEEZE_CONFIRMED_RELEASE": None,
}
_EXITS = frozenset({"EXIT_PARTIAL", "EXIT_FULL"})
_SQUEEZES = frozenset({"SQUEEZE_FAST_RELEASE", "SQUEEZE_CONFIRMED_RELEASE"})
_REQUIRED_INPUTS = ("regime", "liquidity", "greeks", "quote")  # missing_input order
_GRADE_RANK = {"ILLIQUID": 0, "POOR": 1, "FAIR": 2, "GOOD": 3, "EXCELLENT": 4}
_GRADE_BASE = {"EXCELLENT": 1.0, "GOOD": 0.90, "FAIR": 0.75, "POOR": 0.50, "ILLIQUID": 0.25}
_VOLATILITY_BASE = {"LOW": 1.0, "NORMAL": 1.0, "HIGH": 0.70, "EXTREME": 0.40}
_URGENCY = {"IMMEDIATE": 0.80, "STANDARD": 1.0, "LOW": 1.0}
_SQUEEZE_URGENCY = {"IMMEDIATE": 0.75, "STANDARD": 1.0, "LOW": 1.0}  # LOW: no squeeze rule, base 1.0
_FAST_FAMILIES = frozenset({"BREAKOUT", "LONG_VOL"})
_TRAILING_FAMILIES = frozenset({"TREND", "BREAKOUT"})
_SCHEDULES = {"DEFAULT": (0.33, 0.33, 0.34), "RUNNER": (0.50, 0.25, 0.25)}


def _exit_pcts(schedule: tuple[float, ...], n: int) -> tuple[float, ...]:
    """Reading J: schedule[i] for all but the last target, which takes the rest; 9 decimals."""
    head = tuple(round(x, 9) for x in schedule[: n - 1])
    return (*head, round(1 - sum(schedule[: n - 1]), 9))


_EXIT_PCTS = {(name, n): _exit_pcts(s, n) for name, s in _SCHEDULES.items() for n in (1, 2, 3)}

# --- multipliers (seed §7, readings G) --------------------------------------------------------

Scan = tuple[float, "timedelta | None", "str | None", "timedelta | None", "timedelta | None"]


def _scan_events(events: list[dict[str, Any]], symbol: str, now: datetime) -> Scan:
    """Applicable upcoming events (reading 10): (multiplier, nearest distance, nearest type,
    nearest EARNINGS distance, nearest FOMC distance)."""
    multiplier = 1.0
    nearest = nearest_type = earnings = fomc = None
    for event in events:
        owner = event["symbol"]
        if owner is not None and owner != symbol:
            continue
        d = _parse(event["event_timestamp_utc"]) - now
        if d <= _ZERO:  # only upcoming events count
            continue
        kind = event["event_type"]
        if nearest is None or d < nearest:  # ties: the first listed wins
            nearest, nearest_type = d, kind
        if kind == "EARNINGS":
            m = 0.0 if d < _H24 else 0.50 if d < _H48 else 0.75 if d < _H72 else 1.0
            earnings = d if earnings is None or d < earnings else earnings
        elif kind == "FOMC":
            m = 0.0 if d < _H4 else 0.60 if d < _H24 else 1.0
            fomc = d if fomc is None or d < fomc else fomc
        elif kind == "CPI" or kind == "JOBS":
            m = 0.50 if d < _H2 else 1.0
        else:
            continue  # DIVIDEND, SPLIT, OTHER: 1.0
        multiplier = min(multiplier, m)
    return multiplier, nearest, nearest_type, earnings, fomc


def _regime_multiplier(regime: dict[str, Any]) -> float:
    m = _VOLATILITY_BASE[regime["volatility_state"]]
    kind = regime["regime_type"]
    if kind == "CHOPPY":
        m *= 0.50
    elif kind == "UNKNOWN":
        m = 0.25
    rc = regime["regime_confidence"]
    if rc < _LT_050:  # both confidence adjustments stack (reading G)
        m *= 0.80
        if rc < _LT_040:
            m *= 0.70
    return 0.25 if m < _LT_025 else m  # bounds [0.25, 1.0]; no step exceeds 1.0


def _liquidity_multiplier(liquidity: dict[str, Any]) -> float:
    m = _GRADE_BASE[liquidity["liquidity_grade"]]
    spread = liquidity["avg_bid_ask_spread_pct"]
    if spread >= _LE_010:  # round(spread, 9) > 0.10; the two spread steps stack
        m *= 0.80
        if spread >= _LE_015:
            m *= 0.60
    return 0.25 if m < _LT_025 else m  # bounds [0.25, 1.0]


def _confidence_multiplier(c: float) -> float:
    if c >= _LT_080:
        return 1.2
    if c >= _LT_070:
        return 1.0
    if c >= _LT_060:
        return 0.85
    return 0.70 if c >= _LT_050 else 0.50


def _drawdown_multiplier(ratio: float) -> float:
    if ratio < _LT_025:
        return 1.0
    if ratio < _LT_050:
        return 0.90
    if ratio < _LT_075:
        return 0.70
    return 0.50 if ratio < _LT_090 else 0.25


def _streak_multiplier(win_rate: float | None) -> float:
    if win_rate is None:
        return 1.0
    if win_rate >= _LT_070:
        return 1.10
    if win_rate >= _LT_050:
        return 1.0
    return 0.90 if win_rate >= _LT_030 else 0.80


def _multipliers(request: dict[str, Any], event_multiplier: float, p: dict[str, Any]) -> tuple[float, ...]:
    """The seven multipliers in §7.8 order, their product and the clamped product. The table
    values of confidence, urgency, event, drawdown and streak lie inside their own bounds."""
    signal = request["signal"]
    confidence = _confidence_multiplier(signal["confidence"])
    squeeze = signal["signal_type"] in _SQUEEZES
    urgency = (_SQUEEZE_URGENCY if squeeze else _URGENCY)[signal["urgency"]]
    drawdown = _drawdown_multiplier(request["risk_state"]["current_drawdown_pct"] / p["max_drawdown_pct"])
    streak = _streak_multiplier(request["recent_win_rate"])
    regime = _regime_multiplier(request["regime"])
    liquidity = _liquidity_multiplier(request["liquidity"])
    combined = confidence * regime * liquidity * urgency * event_multiplier * drawdown * streak
    lo, hi = p["min_multiplier"], p["max_multiplier"]
    clamped = lo if combined < LT[lo] else hi if combined >= LE[hi] else combined
    return confidence, regime, liquidity, urgency, event_multiplier, drawdown, streak, combined, clamped


def _factors_dict(parts: tuple[float, ...], scan: Scan) -> dict[str, Any]:
    nearest = scan[1]
    return {
        "confidence_multiplier": parts[0],
        "regime_multiplier": parts[1],
        "liquidity_multiplier": parts[2],
        "urgency_multiplier": parts[3],
        "event_multiplier": parts[4],
        "drawdown_multiplier": parts[5],
        "streak_multiplier": parts[6],
        "combined_multiplier": parts[7],
        "combined_multiplier_clamped": parts[8],
        "event_proximity_hours": None if nearest is None else nearest // _HOUR,  # floored
        "event_type": scan[2],
    }


def adjustment_factors(request: dict[str, Any], params: dict[str, Any] = DEFAULT_PARAMS) -> dict[str, Any]:
    """The factors of an entry whatever its gates say (needs regime and liquidity)."""
    scan = _scan_events(request["events"], request["signal"]["symbol"], _parse(request["now"]))
    return _factors_dict(_multipliers(request, scan[0], params), scan)


# --- decisions --------------------------------------------------------------------------------


def _warnings(request: dict[str, Any], p: dict[str, Any], events: list[str]) -> list[str]:
    """Reading K: LIMIT_WARNING per utilization at or above limit_warning_pct, in this order."""
    cut = LT[p["limit_warning_pct"]]
    state = request["risk_state"]
    if state["daily_loss_used_pct"] >= cut:
        events.append("LIMIT_WARNING")
    if state["weekly_loss_used_pct"] >= cut:
        events.append("LIMIT_WARNING")
    if state["current_drawdown_pct"] / p["max_drawdown_pct"] >= cut:
        events.append("LIMIT_WARNING")
    if request["exposure"]["open_positions"] / p["max_open_positions"] >= cut:
        events.append("LIMIT_WARNING")
    return events


_UNSIZED: dict[str, Any] = {
    "is_approved": False,
    "rejection_gate": None,
    "rejection_reason": None,
    "quantity": 0,
    "base_size": 0,
    "adjusted_size": 0.0,
    "final_size": 0,
    "size_before_bounds": 0,
    "min_size_applied": False,
    "max_size_applied": False,
    "risk_amount": 0.0,
    "risk_pct": 0.0,
    "adjustment_factors": None,
    "stop_loss_plan": None,
    "take_profit_plan": None,
    "events": None,
}


def _unsized(
    request: dict[str, Any], p: dict[str, Any], gate: str | None, reason: str | None, events: list[str]
) -> dict[str, Any]:
    """Reading F: a rejection, or an approved exit, has zero sizing and no factors or plans."""
    decision = _UNSIZED.copy()  # copying a template beats a 16-key literal by 3x
    decision["is_approved"] = gate is None
    decision["rejection_gate"] = gate
    decision["rejection_reason"] = reason
    decision["events"] = _warnings(request, p, events)
    return decision


def _rejected(
    request: dict[str, Any], p: dict[str, Any], gate: str, reason: str, cause: str | None = None
) -> dict[str, Any]:
    """Reading K: the failing gate's own event first (DATA_STALE, EVENT_BLACKOUT_START), as it is
    raised when the gate fails, then SIZING_REJECTED; LIMIT_WARNINGs follow (``_warnings``)."""
    events = ["SIZING_REJECTED"] if cause is None else [cause, "SIZING_REJECTED"]
    return _unsized(request, p, gate, reason, events)


def decide(request: dict[str, Any], params: dict[str, Any] = DEFAULT_PARAMS) -> dict[str, Any]:
    """One position-sizing decision, straight from the seed, the contract and readings A-K."""
    p = params
    signal = request["signal"]
    now = _parse(request["now"])
    # INPUT_VALIDATION (contract reading 1); these four checks apply to exits too.
    if signal["lifecycle_state"] != "ACTIVE":
        return _rejected(request, p, "INPUT_VALIDATION", "signal_not_active")
    if now >= _parse(signal["expiry_timestamp_utc"]):
        return _rejected(request, p, "INPUT_VALIDATION", "signal_expired")
    kind = signal["signal_type"]
    if kind == "STAND_DOWN":
        return _rejected(request, p, "INPUT_VALIDATION", "stand_down_signal")
    if signal["confidence"] < LT[p["min_confidence_threshold"]]:
        return _rejected(request, p, "INPUT_VALIDATION", "confidence_below_threshold")
    if kind in _EXITS:
        return _decide_exit(request, p)
    return _decide_entry(request, now, p)


def _decide_exit(request: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """Reading 2: exits pass only KILL_SWITCH and RISK_MODE (REDUCE_ONLY lets them through)."""
    state = request["risk_state"]
    if p["kill_switch"] or state["kill_switch_active"]:
        return _rejected(request, p, "KILL_SWITCH_GATE", "kill_switch_active")
    if state["risk_mode"] == "STAND_DOWN":
        return _rejected(request, p, "RISK_MODE_GATE", "risk_mode_stand_down")
    return _unsized(request, p, None, None, [])


def _decide_entry(request: dict[str, Any], now: datetime, p: dict[str, Any]) -> dict[str, Any]:
    """The rest of INPUT_VALIDATION, then the gates that need no sizing (6.2 order, 1-4)."""
    signal = request["signal"]
    direction = _ENTRY_DIRECTION[signal["signal_type"]] or signal["direction"]
    if direction == "NEUTRAL":  # reading C: after confidence, before missing_input
        return _rejected(request, p, "INPUT_VALIDATION", "invalid_direction")
    for name in _REQUIRED_INPUTS:
        if request[name] is None:
            return _rejected(request, p, "INPUT_VALIDATION", f"missing_input: {name}")
    long = direction == "LONG"
    zone = signal["entry_price_zone"]
    entry = (zone["low"] + zone["high"]) / 2
    stop_zone, atr = signal["stop_loss_zone"], request["atr"]
    if stop_zone is not None:  # reading D: the signal's stop zone, else the ATR stop
        stop = (stop_zone["low"] + stop_zone["high"]) / 2
    elif atr is None:
        return _rejected(request, p, "INPUT_VALIDATION", "no_stop_derivable")
    else:
        offset = atr * p["default_atr_multiplier"]
        stop = entry - offset if long else entry + offset
    distance = abs(entry - stop)
    if distance < _LE_ZERO:  # round(distance, 9) <= 0
        return _rejected(request, p, "INPUT_VALIDATION", "zero_stop_distance")

    state = request["risk_state"]
    if p["kill_switch"] or state["kill_switch_active"]:
        return _rejected(request, p, "KILL_SWITCH_GATE", "kill_switch_active")
    mode = state["risk_mode"]
    if mode != "NORMAL":
        reason = "risk_mode_stand_down" if mode == "STAND_DOWN" else "reduce_only_no_entries"
        return _rejected(request, p, "RISK_MODE_GATE", reason)
    stale = _stale_input(request, now, p)
    if stale is not None:
        return _rejected(request, p, "DATA_FRESHNESS_GATE", f"stale_input: {stale}", "DATA_STALE")
    regime = request["regime"]
    if regime["regime_type"] == "UNKNOWN":
        return _rejected(request, p, "REGIME_GATE", "regime_unknown")
    if (
        regime["regime_type"] == "CHOPPY"
        and regime["regime_confidence"] < LT[p["choppy_min_regime_confidence"]]
    ):
        return _rejected(request, p, "REGIME_GATE", "regime_unsuitable")
    return _size_and_gate(request, now, p, entry, long, distance)


def _stale_input(request: dict[str, Any], now: datetime, p: dict[str, Any]) -> str | None:
    """DATA_FRESHNESS_GATE (reading 8): stale when now - timestamp > max age."""
    if now - _parse(request["signal"]["timestamp_utc"]) > _MS[p["max_signal_age_ms"]]:
        return "signal"
    if now - _parse(request["regime"]["timestamp_utc"]) > _MS[p["max_regime_age_ms"]]:
        return "regime"
    options_max = _MS[p["max_options_age_ms"]]
    if now - _parse(request["liquidity"]["timestamp_utc"]) > options_max:
        return "options"
    if now - _parse(request["greeks"]["timestamp_utc"]) > options_max:
        return "options"
    if now - _parse(request["quote"]["timestamp_utc"]) > _MS[p["max_quote_age_ms"]]:
        return "quote"
    return None


def _size_and_gate(
    request: dict[str, Any], now: datetime, p: dict[str, Any], entry: float, long: bool, distance: float
) -> dict[str, Any]:
    """Reading D sizing, then gates 5-13, which need the sized trade (readings 3-6, E, H)."""
    signal, state, budget = request["signal"], request["risk_state"], request["budget"]
    balance = request["account"]["account_balance"]
    risk_per_unit = distance * p["contract_multiplier"]
    max_risk = min(
        balance * p["per_trade_max_risk_pct"],
        budget["remaining_daily_budget"],
        budget["remaining_weekly_budget"],
    )
    base = _round_size(max_risk / risk_per_unit, "DOWN") if max_risk > 0 else 0
    scan = _scan_events(request["events"], signal["symbol"], now)
    parts = _multipliers(request, scan[0], p)
    adjusted = base * parts[8]
    min_size, max_size = p["min_position_size"], p["max_position_size"]
    below_min = adjusted < LT[min_size]
    min_applied = below_min and p["allow_below_minimum"]
    max_applied = not below_min and adjusted >= LE[max_size]
    rounding = p["rounding_direction"]
    final = _round_size(min_size if min_applied else max_size if max_applied else adjusted, rounding)
    proposed_risk = final * risk_per_unit

    if state["daily_loss_used_pct"] >= _LT_ONE or not _lt(proposed_risk, budget["remaining_daily_budget"]):
        return _rejected(request, p, "DAILY_LOSS_GATE", "daily_loss_limit_reached")
    if state["weekly_loss_used_pct"] >= _LT_ONE:
        return _rejected(request, p, "WEEKLY_LOSS_GATE", "weekly_loss_limit_reached")
    if state["current_drawdown_pct"] >= LT[p["max_drawdown_pct"]]:
        return _rejected(request, p, "DRAWDOWN_GATE", "max_drawdown_reached")
    exposure = request["exposure"]
    if exposure["open_positions"] >= p["max_open_positions"]:
        return _rejected(request, p, "MAX_POSITIONS_GATE", "max_positions_reached")
    symbol, held = signal["symbol"], 0.0
    for item in exposure["symbol_exposures"]:  # a plain loop: sum() of floats differs by version
        if item["symbol"] == symbol:
            held += item["exposure_pct"]
    if held >= LT[p["max_symbol_concentration_pct"]]:
        return _rejected(request, p, "SYMBOL_CONCENTRATION_GATE", "symbol_concentration_exceeded")
    greek = _greek_breach(exposure, request["greeks"], final, p)
    if greek is not None:
        return _rejected(request, p, "GREEK_EXPOSURE_GATE", f"greek_exposure_exceeded: {greek}")
    metric = _liquidity_breach(request["liquidity"], p)
    if metric is not None:
        return _rejected(request, p, "LIQUIDITY_GATE", f"liquidity_insufficient: {metric}")
    blackout = _blackout(scan, p)
    if blackout is not None:
        return _rejected(
            request, p, "EVENT_BLACKOUT_GATE", f"event_blackout: {blackout}", "EVENT_BLACKOUT_START"
        )
    if below_min and not p["allow_below_minimum"]:
        return _rejected(request, p, "MIN_SIZE_GATE", "size_below_minimum")
    if final == 0:
        return _rejected(request, p, "MIN_SIZE_GATE", "size_rounds_to_zero")
    return {
        "is_approved": True,
        "rejection_gate": None,
        "rejection_reason": None,
        "quantity": final,
        "base_size": base,
        "adjusted_size": adjusted,
        "final_size": final,
        "size_before_bounds": _round_size(adjusted, rounding),
        "min_size_applied": min_applied,
        "max_size_applied": max_applied,
        "risk_amount": proposed_risk,
        "risk_pct": proposed_risk / balance,
        "adjustment_factors": _factors_dict(parts, scan),
        "stop_loss_plan": _stop_plan(request, entry, long, final, p),
        "take_profit_plan": _take_profit_plan(request, entry, long, distance, p),
        "events": _warnings(request, p, []),
    }


def _greek_breach(
    exposure: dict[str, Any], greeks: dict[str, Any], size: int, p: dict[str, Any]
) -> str | None:
    """Reading 5: projected = total + size x per-contract greek, signed, checked in this order."""
    if exposure["total_delta"] + size * greeks["delta"] >= LE[p["max_portfolio_delta"]]:
        return "delta"
    if exposure["total_gamma"] + size * greeks["gamma"] >= LE[p["max_portfolio_gamma"]]:
        return "gamma"
    if exposure["total_vega"] + size * greeks["vega"] >= LE[p["max_portfolio_vega"]]:
        return "vega"
    if exposure["total_theta"] + size * greeks["theta"] < LT[p["max_portfolio_theta"]]:
        return "theta"
    return None


def _liquidity_breach(liquidity: dict[str, Any], p: dict[str, Any]) -> str | None:
    """Reading 9: the first failing metric, in this order."""
    if _GRADE_RANK[liquidity["liquidity_grade"]] < _GRADE_RANK[p["min_liquidity_grade"]]:
        return "liquidity_grade"
    if liquidity["avg_bid_ask_spread_pct"] >= LE[p["max_bid_ask_spread_pct"]]:
        return "spread_pct"
    if liquidity["total_open_interest"] < p["min_open_interest"]:
        return "open_interest"
    if liquidity["avg_volume"] < p["min_volume"]:
        return "volume"
    return None


def _blackout(scan: Scan, p: dict[str, Any]) -> str | None:
    """Reading H: earnings first, then FOMC; inside the window when hours-to-event < hours."""
    earnings, fomc = scan[3], scan[4]
    if earnings is not None and earnings < _HOURS[p["earnings_blackout_hours"]]:
        return "EARNINGS"
    if fomc is not None and fomc < _HOURS[p["fomc_blackout_hours"]]:
        return "FOMC"
    return None


def _stop_plan(
    request: dict[str, Any], entry: float, long: bool, size: int, p: dict[str, Any]
) -> dict[str, Any]:
    """Reading I: the 8.1 priority on its own (it may differ from the sizing stop)."""
    signal, setup = request["signal"], request["setup"]
    zone = signal["stop_loss_zone"]
    setup_zone = None if setup is None else setup["stop_zone"]
    invalidation = signal["invalidation_price"]
    if zone is not None:
        hard, kind = (zone["low"] + zone["high"]) / 2, "FIXED"
    elif setup_zone is not None:
        buffer = p["structure_buffer_pct"]
        hard = setup_zone["low"] * (1 - buffer) if long else setup_zone["high"] * (1 + buffer)
        kind = "STRUCTURE_BASED"
    elif invalidation is not None:
        hard, kind = invalidation, "STRUCTURE_BASED"
    elif request["atr"] is not None:
        offset = request["atr"] * p["default_atr_multiplier"]
        hard, kind = (entry - offset if long else entry + offset), "ATR_BASED"
    else:
        pct = p["default_stop_pct"]
        hard, kind = (entry * (1 - pct) if long else entry * (1 + pct)), "FIXED"
    distance = abs(entry - hard)
    soft_offset = distance * p["soft_stop_ratio"]
    per_contract = distance * p["contract_multiplier"]
    fast = signal["strategy_family"] in _FAST_FAMILIES
    return {
        "hard_stop_price": hard,
        "hard_stop_type": kind,
        "hard_stop_distance_pct": distance / entry,
        "soft_stop_price": entry - soft_offset if long else entry + soft_offset,
        "soft_stop_type": kind,
        "soft_stop_action": p["soft_stop_action"],
        "time_stop_bars": p["time_stop_bars_fast"] if fast else p["time_stop_bars_default"],
        "invalidation_stop_enabled": invalidation is not None,
        "max_loss_per_contract": per_contract,
        "max_loss_total": per_contract * size,
    }


def _take_profit_plan(
    request: dict[str, Any], entry: float, long: bool, r: float, p: dict[str, Any]
) -> dict[str, Any]:
    """Reading J: signal zones, else setup zones (first three), else R multiples; R = sizing stop."""
    signal, setup = request["signal"], request["setup"]
    zones = signal["target_zones"]
    if not zones and setup is not None:
        zones = setup["target_zones"]
    if zones:
        prices = [(z["low"] + z["high"]) / 2 for z in zones[:3]]
        kind = "STRUCTURE_BASED"
    else:
        steps = (p["r_multiple_1"], p["r_multiple_2"], p["r_multiple_3"])
        prices = [entry + r * k for k in steps] if long else [entry - r * k for k in steps]
        kind = "R_MULTIPLE"
    exits = _EXIT_PCTS[(p["partial_exit_schedule"], len(prices))]
    targets = []
    for i, price in enumerate(prices):
        move = abs(price - entry)
        targets.append(
            {
                "target_number": i + 1,
                "target_price": price,
                "target_type": kind,
                "r_multiple": _ROUND9[move / r],
                "exit_pct": exits[i],
                "target_distance_pct": move / entry,
            }
        )
    return {"targets": targets, "trailing_tp_enabled": signal["strategy_family"] in _TRAILING_FAMILIES}
