"""Seeded generator of realistic position-sizing requests (contract layout, schema-valid).

Each request starts healthy (an entry that every gate lets through, with its multiplier inputs
spread over every step of the seed's §7 tables and over the exact edges of reading 15) and is
then, with fixed odds, turned into an exit or given one fault that aims at one rejection reason.
Over a few thousand requests this reaches every INPUT_VALIDATION reason, every gate reason
string and every multiplier step, and about half of the requests are approved.

``size_rounds_to_zero`` is the one reason no request reaches under DEFAULT_PARAMS: with
``min_position_size`` >= 1 and ``allow_below_minimum`` false, MIN_SIZE_GATE says
``size_below_minimum`` first (reading E). It needs params such as ``min_position_size = 0``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Request = dict[str, Any]

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "SPY", "QQQ", "AMD", "GOOGL", "JPM", "XOM")
TIMEFRAMES = ("1m", "5m", "15m", "1h")
FAMILIES = ("TREND", "BREAKOUT", "MEAN_REVERSION", "LONG_VOL", "SHORT_VOL", "SQUEEZE", "INCOME", "OTHER")
HEALTHY_REGIMES = (
    "TRENDING_UP",
    "TRENDING_DOWN",
    "RANGING",
    "BREAKOUT",
    "BREAKDOWN",
    "CHOPPY",
    "VOLATILE_EXPANSION",
    "VOLATILE_CONTRACTION",
)
FLAGS = ("squeeze_on", "high_iv", "news", "gap_open", "late_session")
INACTIVE_STATES = ("PENDING", "TRIGGERED", "EXPIRED", "INVALIDATED", "CANCELLED")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_START_MS = int((datetime(2025, 1, 2, 14, 30, tzinfo=UTC) - _EPOCH).total_seconds()) * 1000
_HOUR_MS = 3_600_000
EXIT_SHARE = 0.12
FAULT_SHARE = 0.42


# The contract's example request (../shared/contracts/position_sizing.request.example.json), kept
# here so tests do not depend on a file outside the repository; a test checks the two agree.
CONTRACT_EXAMPLE: Request = {
    "now": "2025-04-02T06:10:54.151Z",
    "signal": {
        "signal_id": "sig-0000000",
        "symbol": "MSFT",
        "timeframe": "5m",
        "timestamp_utc": "2025-04-02T06:10:33.582Z",
        "signal_type": "ENTRY_SHORT",
        "direction": "SHORT",
        "strategy_id": "strat-6",
        "strategy_family": "LONG_VOL",
        "strategy_score": 0.99,
        "confidence": 0.7399,
        "urgency": "STANDARD",
        "time_to_act_seconds": 60,
        "ttl_seconds": 120,
        "expiry_timestamp_utc": "2025-04-02T06:12:33.582Z",
        "lifecycle_state": "ACTIVE",
        "invalidation_price": None,
        "entry_price_zone": {"low": 6.6693, "high": 6.6785},
        "stop_loss_zone": {"low": 6.7973, "high": 6.8207},
        "target_zones": [],
        "flags": [],
    },
    "setup": {"stop_zone": None, "target_zones": [], "confidence": 0.759},
    "regime": {
        "regime_type": "RANGING",
        "regime_confidence": 0.6839,
        "volatility_state": "LOW",
        "timestamp_utc": "2025-04-02T06:09:54.869Z",
    },
    "liquidity": {
        "avg_bid_ask_spread_pct": 0.07619,
        "atm_spread_pct": 0.05531,
        "total_open_interest": 9920,
        "atm_open_interest": 992,
        "avg_volume": 6734,
        "liquidity_grade": "GOOD",
        "timestamp_utc": "2025-04-02T06:10:46.069Z",
    },
    "greeks": {
        "delta": -0.5476,
        "gamma": 0.0161,
        "vega": 3.572,
        "theta": -2.064,
        "iv": 0.4836,
        "timestamp_utc": "2025-04-02T06:10:42.355Z",
    },
    "quote": {"timestamp_utc": "2025-04-02T06:10:32.225Z", "bid": 6.6706, "ask": 6.6772},
    "account": {
        "account_balance": 88929.82,
        "buying_power": 146091.78,
        "margin_used": 21190.29,
        "currency": "USD",
    },
    "risk_state": {
        "risk_mode": "NORMAL",
        "kill_switch_active": False,
        "daily_loss_used_pct": 0.51355,
        "weekly_loss_used_pct": 0.12827,
        "current_drawdown_pct": 0.0854,
    },
    "exposure": {
        "open_positions": 1,
        "total_delta": 3.663,
        "total_gamma": 14.488,
        "total_vega": 92.63,
        "total_theta": -16.0,
        "symbol_exposures": [{"symbol": "META", "position_count": 1, "exposure_pct": 0.0835}],
    },
    "budget": {"remaining_daily_budget": 865.2, "remaining_weekly_budget": 3876.14},
    "events": [
        {
            "symbol": None,
            "event_type": "JOBS",
            "event_timestamp_utc": "2025-04-07T00:36:07.404Z",
            "is_before_market": False,
            "is_after_market": False,
        },
    ],
    "atr": 0.1095,
    "recent_win_rate": None,
}


def _iso(ms: int) -> str:
    """Integer milliseconds since the epoch as ``2025-04-02T06:10:54.151Z`` (exact)."""
    text = (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass
class _Ctx:
    """What faults need to know about the healthy request they change."""

    now_ms: int
    symbol: str
    long: bool
    entry: float
    max_risk: float


def _p4(x: float) -> float:
    return round(x, 4)


def _pick_band(
    rng: random.Random,
    bands: tuple[tuple[float, float], ...],
    edges: tuple[float, ...],
    digits: int = 4,
    weights: tuple[float, ...] | None = None,
) -> float:
    """A value in a (weighted) random band, or now and then exactly on a tier edge (reading 15)."""
    if edges and rng.random() < 0.15:
        return rng.choice(edges)
    lo, hi = rng.choices(bands, weights)[0]
    return min(round(rng.uniform(lo, hi), digits), round(hi - 10.0**-digits, digits))


def _zone(mid: float, rng: random.Random) -> dict[str, float]:
    half = mid * rng.uniform(0.0, 0.004)
    return {"low": _p4(mid - half), "high": _p4(mid + half)}


# --- the healthy request ----------------------------------------------------------------------


def _signal_kind(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.40:
        return "ENTRY_LONG", "LONG"
    if roll < 0.75:
        return "ENTRY_SHORT", "SHORT"
    kind = "SQUEEZE_FAST_RELEASE" if roll < 0.875 else "SQUEEZE_CONFIRMED_RELEASE"
    return kind, rng.choice(("LONG", "SHORT"))


def _account(rng: random.Random) -> dict[str, Any]:
    balance = round(rng.uniform(25_000, 500_000), 2)
    return {
        "account_balance": balance,
        "buying_power": round(balance * rng.uniform(0.5, 2.0), 2),
        "margin_used": round(balance * rng.uniform(0.0, 0.4), 2),
        "currency": "USD",
    }


def _risk_state(rng: random.Random) -> dict[str, Any]:
    ratio = _pick_band(
        rng,
        ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9), (0.9, 1.0)),
        (0.25, 0.5, 0.75, 0.9),
        digits=3,
        weights=(55, 20, 12, 8, 5),
    )
    edge_drawdown = rng.random() < 0.05  # 0.075 / 0.10 is 0.7499999999999999 in binary floats
    return {
        "risk_mode": "NORMAL",
        "kill_switch_active": False,
        "daily_loss_used_pct": _pick_band(rng, ((0.0, 0.5), (0.5, 0.75), (0.75, 0.98)), (0.75,), 5),
        "weekly_loss_used_pct": _pick_band(rng, ((0.0, 0.5), (0.5, 0.75), (0.75, 0.98)), (0.75,), 5),
        "current_drawdown_pct": 0.075 if edge_drawdown else round(ratio * 0.10, 5),
    }


def _budget(rng: random.Random, account: dict[str, Any], state: dict[str, Any]) -> dict[str, float]:
    balance = account["account_balance"]
    return {
        "remaining_daily_budget": round(balance * 0.02 * (1 - state["daily_loss_used_pct"]), 2),
        "remaining_weekly_budget": round(balance * 0.05 * (1 - state["weekly_loss_used_pct"]), 2),
    }


def _prices(rng: random.Random, max_risk: float) -> tuple[float, float]:
    """Entry price and stop distance giving a base size of about 6-150 contracts."""
    while True:
        base = 6 * 25 ** rng.random()
        distance = max_risk / base / 100
        price = distance / rng.uniform(0.03, 0.15)
        if 0.4 <= price <= 60 and distance >= 0.002:
            return price, distance


def _signal(rng: random.Random, ctx: _Ctx, kind: str, direction: str, distance: float) -> dict[str, Any]:
    now = ctx.now_ms
    sign = 1 if ctx.long else -1
    ttl = rng.choice((120, 300, 600, 900))
    age = 60_000 if rng.random() < 0.03 else rng.randrange(0, 55_000)  # exactly at max age: fresh
    stop_mid = ctx.entry - sign * distance
    use_atr = rng.random() < 0.2
    targets = [_zone(ctx.entry + sign * distance * k, rng) for k in (1.2, 2.1, 3.3, 4.5)]
    return {
        "signal_id": f"sig-{rng.randrange(10**9):09d}",
        "symbol": ctx.symbol,
        "timeframe": rng.choice(TIMEFRAMES),
        "timestamp_utc": _iso(now - age),
        "signal_type": kind,
        "direction": direction,
        "strategy_id": f"strat-{rng.randrange(20)}",
        "strategy_family": rng.choice(FAMILIES),
        "strategy_score": round(rng.uniform(0.3, 1.0), 2),
        "confidence": _pick_band(
            rng,
            ((0.30, 0.50), (0.50, 0.60), (0.60, 0.70), (0.70, 0.80), (0.80, 1.0)),
            (0.30, 0.50, 0.60, 0.70, 0.80),
            weights=(10, 15, 20, 30, 25),
        ),
        "urgency": rng.choices(("IMMEDIATE", "STANDARD", "LOW"), (25, 55, 20))[0],
        "time_to_act_seconds": rng.choice((30, 60, 120, 300)),
        "ttl_seconds": ttl,
        "expiry_timestamp_utc": _iso(now - age + ttl * 1000),
        "lifecycle_state": "ACTIVE",
        "invalidation_price": _p4(stop_mid - sign * distance * 0.3) if rng.random() < 0.3 else None,
        "entry_price_zone": _zone(ctx.entry, rng),
        "stop_loss_zone": None if use_atr else _zone(stop_mid, rng),
        "target_zones": targets[: rng.choice((1, 2, 3, 4))] if rng.random() < 0.3 else [],
        "flags": rng.sample(FLAGS, rng.choice((0, 0, 1, 2))),
    }


def _setup(rng: random.Random, ctx: _Ctx, distance: float) -> dict[str, Any] | None:
    if rng.random() < 0.4:
        return None
    sign = 1 if ctx.long else -1
    targets = [_zone(ctx.entry + sign * distance * k, rng) for k in (1.5, 2.8)]
    return {
        "stop_zone": _zone(ctx.entry - sign * distance * 1.1, rng) if rng.random() < 0.5 else None,
        "target_zones": targets[: rng.choice((1, 2))] if rng.random() < 0.3 else [],
        "confidence": round(rng.uniform(0.3, 1.0), 3),
    }


def _regime(rng: random.Random, now: int) -> dict[str, Any]:
    kind = rng.choice(HEALTHY_REGIMES)
    bands = ((0.5, 1.0),) if kind == "CHOPPY" else ((0.3, 0.4), (0.4, 0.5), (0.5, 1.0))
    edges = (0.5,) if kind == "CHOPPY" else (0.4, 0.5)
    weights = (1,) if kind == "CHOPPY" else (15, 15, 70)
    return {
        "regime_type": kind,
        "regime_confidence": _pick_band(rng, bands, edges, weights=weights),
        "volatility_state": rng.choices(("LOW", "NORMAL", "HIGH", "EXTREME"), (30, 40, 20, 10))[0],
        "timestamp_utc": _iso(now - (120_000 if rng.random() < 0.03 else rng.randrange(0, 115_000))),
    }


def _liquidity(rng: random.Random, now: int) -> dict[str, Any]:
    spread = _pick_band(rng, ((0.01, 0.10), (0.10, 0.15), (0.15, 0.20)), (0.10, 0.15, 0.20), 5, (70, 20, 10))
    oi = 500 if rng.random() < 0.03 else rng.randrange(500, 60_000)
    return {
        "avg_bid_ask_spread_pct": spread,
        "atm_spread_pct": round(spread * rng.uniform(0.5, 0.9), 5),
        "total_open_interest": oi,
        "atm_open_interest": oi // rng.randrange(5, 20),
        "avg_volume": 100 if rng.random() < 0.03 else rng.randrange(100, 25_000),
        "liquidity_grade": rng.choices(("EXCELLENT", "GOOD", "FAIR"), (40, 40, 20))[0],
        "timestamp_utc": _iso(now - (300_000 if rng.random() < 0.03 else rng.randrange(0, 290_000))),
    }


def _greeks(rng: random.Random, now: int) -> dict[str, Any]:
    return {
        "delta": round(rng.choice((1, -1)) * rng.uniform(0.1, 0.9), 4),
        "gamma": round(rng.uniform(0.001, 0.06), 4),
        "vega": round(rng.uniform(0.5, 6.0), 3),
        "theta": round(-rng.uniform(0.1, 2.5), 3),
        "iv": round(rng.uniform(0.15, 1.2), 4),
        "timestamp_utc": _iso(now - rng.randrange(0, 290_000)),
    }


def _quote(rng: random.Random, now: int, entry: float, spread: float) -> dict[str, Any]:
    return {
        "timestamp_utc": _iso(now - (30_000 if rng.random() < 0.03 else rng.randrange(0, 28_000))),
        "bid": max(_p4(entry * (1 - spread / 2)), 0.0001),
        "ask": _p4(entry * (1 + spread / 2)),
    }


def _exposure(rng: random.Random, symbol: str) -> dict[str, Any]:
    others = [s for s in SYMBOLS if s != symbol]
    items = [
        {
            "symbol": s,
            "position_count": rng.randrange(1, 4),
            "exposure_pct": round(rng.uniform(0.01, 0.18), 4),
        }
        for s in rng.sample(others, rng.randrange(0, 4))
    ]
    if rng.random() < 0.25:  # already holding the symbol, well under the concentration limit
        items.append(
            {"symbol": symbol, "position_count": 1, "exposure_pct": round(rng.uniform(0.01, 0.15), 4)}
        )
    return {
        "open_positions": 4 if rng.random() < 0.15 else rng.randrange(0, 4),
        "total_delta": round(rng.uniform(-50, 50), 3),
        "total_gamma": round(rng.uniform(0, 20), 3),
        "total_vega": round(rng.uniform(0, 180), 2),
        "total_theta": round(rng.uniform(-70, 0), 2),
        "symbol_exposures": items,
    }


def _event(symbol: str | None, kind: str, at_ms: int) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "event_type": kind,
        "event_timestamp_utc": _iso(at_ms),
        "is_before_market": False,
        "is_after_market": kind == "EARNINGS",
    }


def _healthy_event(rng: random.Random, ctx: _Ctx) -> dict[str, Any]:
    """An event that moves the event multiplier (or not) without causing a blackout."""
    now, hour = ctx.now_ms, _HOUR_MS
    kind = rng.choice(("EARNINGS", "FOMC", "CPI", "JOBS", "DIVIDEND", "SPLIT", "OTHER", "PAST", "ELSEWHERE"))
    if kind == "EARNINGS":
        at = now + rng.choice((24 * hour, 48 * hour, 72 * hour, rng.randrange(24 * hour + 1, 120 * hour)))
        return _event(ctx.symbol, kind, at)
    if kind == "FOMC":
        return _event(
            None, kind, now + rng.choice((4 * hour, 24 * hour, rng.randrange(4 * hour + 1, 60 * hour)))
        )
    if kind in ("CPI", "JOBS"):
        return _event(
            None, kind, now + rng.choice((2 * hour, rng.randrange(1, 2 * hour), rng.randrange(1, 48 * hour)))
        )
    if kind == "PAST":  # already happened: ignored
        return _event(rng.choice((None, ctx.symbol)), "EARNINGS", now - rng.randrange(0, 6 * hour))
    if kind == "ELSEWHERE":  # another symbol's earnings: ignored
        other = next(s for s in SYMBOLS if s != ctx.symbol)
        return _event(other, "EARNINGS", now + rng.randrange(1, 20 * hour))
    return _event(ctx.symbol, kind, now + rng.randrange(1, 200 * hour))


def _healthy(rng: random.Random) -> tuple[Request, _Ctx]:
    now = _START_MS + rng.randrange(0, 180 * 24 * _HOUR_MS)
    kind, direction = _signal_kind(rng)
    account, state = _account(rng), _risk_state(rng)
    budget = _budget(rng, account, state)
    max_risk = min(
        account["account_balance"] * 0.01, budget["remaining_daily_budget"], budget["remaining_weekly_budget"]
    )
    price, distance = _prices(rng, max_risk)
    ctx = _Ctx(now, rng.choice(SYMBOLS), direction == "LONG", _p4(price), max_risk)
    signal = _signal(rng, ctx, kind, direction, distance)
    liquidity = _liquidity(rng, now)
    request = {
        "now": _iso(now),
        "signal": signal,
        "setup": _setup(rng, ctx, distance),
        "regime": _regime(rng, now),
        "liquidity": liquidity,
        "greeks": _greeks(rng, now),
        "quote": _quote(rng, now, ctx.entry, liquidity["avg_bid_ask_spread_pct"]),
        "account": account,
        "risk_state": state,
        "exposure": _exposure(rng, ctx.symbol),
        "budget": budget,
        "events": [_healthy_event(rng, ctx) for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))],
        "atr": _p4(distance / 2) if signal["stop_loss_zone"] is None or rng.random() < 0.6 else None,
        "recent_win_rate": None
        if rng.random() < 0.3
        else _pick_band(
            rng, ((0.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.0)), (0.3, 0.5, 0.7), 2, (15, 25, 35, 25)
        ),
    }
    return request, ctx


# --- faults: each aims at one rejection reason ------------------------------------------------

Fault = Callable[[random.Random, Request, _Ctx], None]


def _not_active(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["signal"]["lifecycle_state"] = rng.choice(INACTIVE_STATES)


def _expired(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    signal, ttl = req["signal"], rng.choice((30, 45, 60))
    born = ctx.now_ms - ttl * 1000 - rng.choice((0, rng.randrange(1, 5_000)))  # 0: expires exactly now
    signal.update(ttl_seconds=ttl, timestamp_utc=_iso(born), expiry_timestamp_utc=_iso(born + ttl * 1000))


def _stand_down(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["signal"].update(signal_type="STAND_DOWN", direction="NEUTRAL")


def _low_confidence(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["signal"]["confidence"] = rng.choice((0.2999, round(rng.uniform(0.0, 0.2999), 4)))


def _neutral_squeeze(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["signal"].update(
        signal_type=rng.choice(("SQUEEZE_FAST_RELEASE", "SQUEEZE_CONFIRMED_RELEASE")), direction="NEUTRAL"
    )


def _missing(name: str) -> Fault:
    def fault(rng: random.Random, req: Request, ctx: _Ctx) -> None:
        req[name] = None

    return fault


def _no_stop(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["signal"]["stop_loss_zone"] = None
    req["atr"] = None


def _zero_stop(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    if rng.random() < 0.5:
        req["signal"]["stop_loss_zone"] = dict(req["signal"]["entry_price_zone"])
    else:
        req["signal"]["stop_loss_zone"] = None
        req["atr"] = 0.0


def _kill_switch(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["risk_state"]["kill_switch_active"] = True


def _mode(mode: str) -> Fault:
    def fault(rng: random.Random, req: Request, ctx: _Ctx) -> None:
        req["risk_state"]["risk_mode"] = mode

    return fault


def _stale(name: str, max_ms: int) -> Fault:
    def fault(rng: random.Random, req: Request, ctx: _Ctx) -> None:
        age = max_ms + rng.choice((1, rng.randrange(2, 4 * max_ms)))  # 1 ms past the limit is stale
        req[name]["timestamp_utc"] = _iso(ctx.now_ms - age)

    return fault


def _stale_signal(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    age = 60_000 + rng.choice((1, rng.randrange(2, 240_000)))
    req["signal"].update(
        timestamp_utc=_iso(ctx.now_ms - age),
        ttl_seconds=3600,
        expiry_timestamp_utc=_iso(ctx.now_ms - age + 3_600_000),
    )


def _regime_unknown(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["regime"]["regime_type"] = "UNKNOWN"


def _regime_unsuitable(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["regime"].update(
        regime_type="CHOPPY", regime_confidence=rng.choice((0.4999, round(rng.uniform(0.1, 0.49), 4)))
    )


def _daily_used(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["risk_state"]["daily_loss_used_pct"] = rng.choice((1.0, round(rng.uniform(1.0, 1.3), 5)))
    req["budget"]["remaining_daily_budget"] = 0.0


def _neutral_multipliers(req: Request) -> None:
    """Every multiplier 1.0 except what the caller sets next."""
    req["signal"].update(
        confidence=0.75,
        urgency="STANDARD",
        signal_type="ENTRY_LONG" if req["signal"]["direction"] == "LONG" else "ENTRY_SHORT",
    )
    req["regime"].update(regime_type="TRENDING_UP", regime_confidence=0.8, volatility_state="NORMAL")
    req["liquidity"].update(liquidity_grade="EXCELLENT", avg_bid_ask_spread_pct=0.05)
    req["risk_state"]["current_drawdown_pct"] = 0.01
    req.update(events=[], recent_win_rate=None)


def _daily_budget_short(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    """The daily budget binds and the sized trade would use all of it or more (reading 4)."""
    _neutral_multipliers(req)
    sign = 1 if ctx.long else -1
    entry = req["signal"]["entry_price_zone"] = {"low": ctx.entry, "high": ctx.entry}
    distance = round(max(ctx.entry * rng.uniform(0.03, 0.1), 0.01), 2)
    stop = _p4(entry["low"] - sign * distance)
    req["signal"]["stop_loss_zone"] = {"low": stop, "high": stop}
    base = rng.randrange(5, 30)
    req["budget"]["remaining_daily_budget"] = round(base * distance * 100, 2)
    req["account"]["account_balance"] = round(base * distance * 100 * rng.uniform(150, 300), 2)
    req["budget"]["remaining_weekly_budget"] = round(base * distance * 100 * 3, 2)
    if rng.random() < 0.5:  # boosted: 1.2 x 1.1 sizes above the budget
        req["signal"]["confidence"] = 0.9
        req["recent_win_rate"] = 0.8


def _weekly_used(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    used = rng.choice((1.0, round(rng.uniform(1.0, 1.2), 5)))
    req["risk_state"]["weekly_loss_used_pct"] = used
    req["budget"]["remaining_weekly_budget"] = round(req["account"]["account_balance"] * 0.05 * (1 - used), 2)


def _drawdown(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["risk_state"]["current_drawdown_pct"] = rng.choice((0.10, round(rng.uniform(0.10, 0.15), 5)))


def _max_positions(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["exposure"]["open_positions"] = rng.randrange(5, 9)


def _concentrated(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    items = req["exposure"]["symbol_exposures"]
    items[:] = [i for i in items if i["symbol"] != ctx.symbol]
    if rng.random() < 0.4:  # 0.1 + 0.1 reaches the 0.20 limit exactly
        items += [{"symbol": ctx.symbol, "position_count": 1, "exposure_pct": 0.1}] * 2
    else:
        items.append(
            {"symbol": ctx.symbol, "position_count": 2, "exposure_pct": round(rng.uniform(0.2, 0.4), 4)}
        )


def _greek(name: str) -> Fault:
    limits = {"delta": 100.0, "gamma": 50.0, "vega": 500.0, "theta": -200.0}

    def fault(rng: random.Random, req: Request, ctx: _Ctx) -> None:
        sign = -1 if name == "theta" else 1
        req["exposure"][f"total_{name}"] = round(limits[name] + sign * rng.uniform(0.01, 30), 2)
        req["greeks"][name] = abs(req["greeks"][name]) * sign

    return fault


def _illiquid(metric: str) -> Fault:
    def fault(rng: random.Random, req: Request, ctx: _Ctx) -> None:
        liquidity = req["liquidity"]
        if metric == "liquidity_grade":
            liquidity["liquidity_grade"] = rng.choice(("POOR", "ILLIQUID"))
        elif metric == "spread_pct":
            liquidity["avg_bid_ask_spread_pct"] = rng.choice((0.20001, round(rng.uniform(0.2001, 0.5), 5)))
        elif metric == "open_interest":
            liquidity["total_open_interest"] = rng.choice((499, rng.randrange(0, 499)))
            liquidity["atm_open_interest"] = liquidity["total_open_interest"] // 10
        else:
            liquidity["avg_volume"] = rng.choice((99, rng.randrange(0, 99)))

    return fault


def _blackout(kind: str) -> Fault:
    def fault(rng: random.Random, req: Request, ctx: _Ctx) -> None:
        hours = 24 if kind == "EARNINGS" else 4
        symbol = rng.choice((ctx.symbol, None)) if kind == "EARNINGS" else None
        at = ctx.now_ms + rng.choice((hours * _HOUR_MS - 1, rng.randrange(1, hours * _HOUR_MS)))
        req["events"].append(_event(symbol, kind, at))

    return fault


def _too_small(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    """A stop so wide that the risk budget buys no contract, or one that shrinks below one."""
    sign = 1 if ctx.long else -1
    per_unit = ctx.max_risk * (rng.uniform(1.05, 3.0) if rng.random() < 0.5 else rng.uniform(0.55, 0.95))
    entry = _p4(max(per_unit / 100 / rng.uniform(0.1, 0.3), 0.5))
    stop = _p4(entry - sign * per_unit / 100)
    req["signal"].update(
        entry_price_zone={"low": entry, "high": entry},
        stop_loss_zone={"low": stop, "high": stop},
        target_zones=[],
        urgency="IMMEDIATE",
        confidence=0.65,
    )
    req["atr"] = None


FAULTS: tuple[Fault, ...] = (
    _not_active,
    _expired,
    _stand_down,
    _low_confidence,
    _neutral_squeeze,
    _missing("regime"),
    _missing("liquidity"),
    _missing("greeks"),
    _missing("quote"),
    _no_stop,
    _zero_stop,
    _kill_switch,
    _mode("STAND_DOWN"),
    _mode("REDUCE_ONLY"),
    _stale_signal,
    _stale("regime", 120_000),
    _stale("liquidity", 300_000),
    _stale("greeks", 300_000),
    _stale("quote", 30_000),
    _regime_unknown,
    _regime_unsuitable,
    _daily_used,
    _daily_budget_short,
    _weekly_used,
    _drawdown,
    _max_positions,
    _concentrated,
    _greek("delta"),
    _greek("gamma"),
    _greek("vega"),
    _greek("theta"),
    _illiquid("liquidity_grade"),
    _illiquid("spread_pct"),
    _illiquid("open_interest"),
    _illiquid("volume"),
    _blackout("EARNINGS"),
    _blackout("FOMC"),
    _too_small,
)

EXIT_FAULTS: tuple[Fault, ...] = (
    _not_active,
    _expired,
    _low_confidence,
    _kill_switch,
    _mode("STAND_DOWN"),
    _mode("REDUCE_ONLY"),
    _missing("regime"),
    _missing("greeks"),
)


def _make_exit(rng: random.Random, req: Request, ctx: _Ctx) -> None:
    req["signal"]["signal_type"] = rng.choice(("EXIT_PARTIAL", "EXIT_FULL"))
    if rng.random() < 0.45:
        rng.choice(EXIT_FAULTS)(rng, req, ctx)


def generate_requests(n: int, seed: int = 7) -> list[Request]:
    """``n`` requests, the same for the same seed."""
    rng = random.Random(seed)
    requests = []
    for _ in range(n):
        request, ctx = _healthy(rng)
        roll = rng.random()
        if roll < EXIT_SHARE:
            _make_exit(rng, request, ctx)
        elif roll < EXIT_SHARE + FAULT_SHARE:
            rng.choice(FAULTS)(rng, request, ctx)
        requests.append(request)
    return requests
