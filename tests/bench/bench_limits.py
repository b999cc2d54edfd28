"""Benchmark: 10,000 orders over 500 symbols through every pre-trade limit, engine vs plain pandas.

    python -m tests.bench.bench_limits [--repeats 7] [--orders 10000] [--symbols 500]

The engine runs ``policies/risk/pre_trade_limits.yaml`` (compiled once, outside the timing) on
lists of dicts and on DataFrames; the yardstick is a hand-written pandas/numpy implementation of
the same nine checks in the same order (contract readings 1-17), below. Both run on the same
seeded input in the same process; the script first checks that they agree order by order, then
reports the median of several repeats as a table and writes tests/bench/results/limits.json.
Every limit is on and acts on this input (FX is on and passes: every symbol trades in USD).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from policy_engine.limits import LimitsResult, load_limits

RESULTS = Path(__file__).resolve().parent / "results" / "limits.json"
EPS = 1e-11
SECTORS = ("Energy", "Materials", "Industrials", "Discretionary", "Staples", "Health", "Financials", "Technology",
           "Communication", "Utilities", "RealEstate")
REGIONS = ("US", "EU", "UK", "APAC")
PARAMS: dict[str, Any] = {
    "qa_status": "OK", "max_notional_per_symbol": 2_500_000, "max_weight_per_symbol": 0.02, "turnover_cap": 0.5,
    "drawdown_threshold": 0.10, "de_risk_scale": 0.5, "max_gross_exposure": 1e9,
    "max_sector_exposure": 0.3, "max_region_exposure": {"US": 0.75, "EU": 0.75, "UK": 0.75, "APAC": 0.75},
    "max_fx_exposure": 0.5, "base_currency": "USD",
}
EQUITY, CURRENT_EQUITY, PEAK_EQUITY = 50_000_000.0, 42_000_000.0, 50_000_000.0


# --- input --------------------------------------------------------------------------------------
def generate(n_orders: int, n_symbols: int, seed: int = 3) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    closes = {s: round(rng.uniform(10, 500), 2) for s in symbols}
    prices = [{"timestamp": "2024-01-01T21:00:00Z", "symbol": s, "close": round(c * 0.98, 2)} for s, c in closes.items()]
    prices += [{"timestamp": "2024-01-02T21:00:00Z", "symbol": s, "close": c} for s, c in closes.items()]
    positions = [{"symbol": s, "qty": float(rng.randint(-2_000, 2_000))} for s in symbols[: n_symbols * 4 // 5]]
    master = [{"symbol": s, "sector": rng.choice(SECTORS), "region": rng.choice(REGIONS), "currency": "USD"}
              for s in symbols]
    orders = []
    for index in range(n_orders):
        symbol = rng.choice(symbols)
        orders.append({"order_id": f"o{index:05d}", "timestamp": "2024-01-02T21:00:00Z", "symbol": symbol,
                       "side": "BUY" if rng.random() < 0.6 else "SELL", "qty": float(rng.randint(1, 500)),
                       "price": round(closes[symbol] * rng.uniform(0.995, 1.005), 2)})
    return {"orders": orders, "positions": positions, "prices": prices, "master": master}


# --- the yardstick: the same checks in plain pandas -----------------------------------------------
def _tol(*values: Any) -> Any:
    largest: Any = 1.0
    for value in values:
        largest = np.maximum(largest, np.abs(value))
    return EPS * largest


def _exceeds(measure: Any, cap: Any) -> Any:
    return measure - cap > _tol(measure, cap)


def _truncate(x: Any) -> Any:
    nearest = np.round(x)
    return np.where(np.abs(x - nearest) <= _tol(x), nearest, np.trunc(x))


def _settle(old: Any, new: Any) -> Any:
    """Snap to 0 and to the old quantity within the tolerance, never grow (as the engine does)."""
    new = np.where((np.abs(new) <= _tol(old)) | (new < 0), 0.0, new)
    return np.where((np.abs(new - old) <= _tol(new, old)) | (new > old), old, new)


class PandasLimits:
    """Pre-trade limits over DataFrames, vectorized; raises ValueError on bad input or FX."""

    def __init__(self, params: dict[str, Any]):
        self.p = params

    def run(self, orders: pd.DataFrame, positions: pd.DataFrame, prices: pd.DataFrame, master: pd.DataFrame,
            equity: float, current_equity: float, peak_equity: float) -> pd.DataFrame:
        self._validate(orders, equity)
        latest = prices.sort_values("timestamp", kind="stable").groupby("symbol")["close"].last()
        if not orders["symbol"].isin(latest.index).all():
            raise ValueError("an order's symbol has no price")
        o = orders.copy()
        o["sign"] = np.where(o["side"].to_numpy() == "BUY", 1.0, -1.0)
        self.equity, self.current = equity, positions.set_index("symbol")["qty"]
        self.close, self.master = latest, master.set_index("symbol")
        if self.p["qa_status"] == "BLOCK":
            o = o.iloc[0:0]
        o = self._max_notional(o)
        o = self._max_weight(o)
        for column, cap in (("sector", self.p["max_sector_exposure"]), ("region", self.p["max_region_exposure"])):
            o = self._group_cap(o, column, cap)
        self._fx(o)
        o = self._scale_all(o, self._turnover_scale(o))
        drawdown = 1 - current_equity / peak_equity
        if drawdown - self.p["drawdown_threshold"] >= -_tol(drawdown, self.p["drawdown_threshold"]):
            o = self._scale_all(o, self.p["de_risk_scale"])
        if _exceeds((o["qty"] * o["price"]).sum(), self.p["max_gross_exposure"]):
            o = o.iloc[0:0]
        return o.drop(columns="sign")

    @staticmethod
    def _validate(orders: pd.DataFrame, equity: float) -> None:
        bad = (orders["qty"].isna() | (orders["qty"] <= 0) | orders["price"].isna() | (orders["price"] <= 0)
               | ~orders["side"].isin(["BUY", "SELL"]))
        if bad.any() or orders["order_id"].duplicated().any() or not equity > 0:
            raise ValueError(f"bad input rows: {list(np.flatnonzero(bad.to_numpy()))}")

    def _symbols(self, o: pd.DataFrame) -> pd.DataFrame:
        """Per symbol (ordered or held): current, delta, post, close, direction, increasing."""
        delta = (o["sign"] * o["qty"]).groupby(o["symbol"]).sum()
        held = self.current[self.current != 0]
        index = delta.index.union(held.index)
        s = pd.DataFrame({"current": self.current.reindex(index).fillna(0.0), "delta": delta.reindex(index).fillna(0.0)})
        s["post"] = s["current"] + s["delta"]
        s["close"] = self.close.reindex(index)
        scale = np.maximum(s["current"].abs(), s["delta"].abs())
        s["direction"] = np.where(s["post"].abs() <= _tol(scale), 0.0, np.sign(s["post"]))
        s["increasing"] = _exceeds(s["post"].abs(), s["current"].abs())
        return s

    def _increasing(self, o: pd.DataFrame, s: pd.DataFrame) -> pd.Series:
        per = s.reindex(o["symbol"])
        return pd.Series(per["increasing"].to_numpy() & (o["sign"].to_numpy() == per["direction"].to_numpy()),
                         index=o.index)

    @staticmethod
    def _apply(o: pd.DataFrame, new: Any) -> pd.DataFrame:
        o = o.assign(qty=_settle(o["qty"].to_numpy(), np.asarray(new, dtype=float)))
        return o[o["qty"] > 0]

    def _max_notional(self, o: pd.DataFrame) -> pd.DataFrame:
        notional = (o["qty"] * o["price"]).groupby(o["symbol"]).transform("sum")
        return o[~_exceeds(notional, self.p["max_notional_per_symbol"])]

    def _max_weight(self, o: pd.DataFrame) -> pd.DataFrame:
        cap, s = self.p["max_weight_per_symbol"], self._symbols(o)
        inc = self._increasing(o, s)
        acted = (o["sign"] * o["qty"]).where(inc, 0.0).groupby(o["symbol"]).sum().reindex(s.index).fillna(0.0)
        breached = _exceeds((s["post"] * s["close"] / self.equity).abs(), cap)
        target = s["direction"] * cap * self.equity / s["close"]
        safe = acted.where(acted.abs() > _tol(s["post"]), 1.0)
        factor = ((target - (s["post"] - acted)) / safe).clip(0.0, 1.0)
        factor = factor.where(breached & (acted.abs() > _tol(s["post"])), 1.0)
        per_order = np.where(inc, factor.reindex(o["symbol"]).to_numpy(), 1.0)
        return self._apply(o, o["qty"].to_numpy() * per_order)

    def _group_cap(self, o: pd.DataFrame, column: str, caps: Any) -> pd.DataFrame:
        s = self._symbols(o)
        s["group"] = self.master[column].reindex(s.index)
        inc = self._increasing(o, s)
        s["moved"] = (o["sign"] * o["qty"]).where(inc, 0.0).groupby(o["symbol"]).sum().reindex(s.index).fillna(0.0)
        gross = (s["post"].abs() * s["close"]).groupby(s["group"]).sum()
        current = (s["current"].abs() * s["close"]).groupby(s["group"]).sum()
        ordered = o["symbol"].map(s["group"]).unique()
        factors = pd.Series(1.0, index=gross.index)
        for group in ordered:
            cap = caps.get(group) if isinstance(caps, dict) else caps
            if cap is None or not (_exceeds(gross[group] / self.equity, cap) and _exceeds(gross[group], current[group])):
                continue
            members = s[s["group"] == group]
            factors[group] = _largest_factor(members, cap * self.equity)
        per_order = np.where(inc, o["symbol"].map(s["group"]).map(factors).to_numpy(), 1.0)
        return self._apply(o, o["qty"].to_numpy() * per_order)

    def _fx(self, o: pd.DataFrame) -> None:
        symbols = pd.Index(o["symbol"].unique()).union(self.current[self.current != 0].index)
        if (self.master["currency"].reindex(symbols) != self.p["base_currency"]).any():
            raise ValueError("RISK_FAIL_FX_NON_BASE_CURRENCY")

    def _turnover_scale(self, o: pd.DataFrame) -> float:
        turnover = (o["qty"] * o["price"]).sum() / self.equity
        return float(self.p["turnover_cap"] / turnover) if _exceeds(turnover, self.p["turnover_cap"]) else 1.0

    def _scale_all(self, o: pd.DataFrame, scale: float) -> pd.DataFrame:
        return o if scale >= 1.0 else self._apply(o, _truncate(o["qty"].to_numpy() * scale))


def _largest_factor(members: pd.DataFrame, target: float) -> float:
    base = (members["post"] - members["moved"]).to_numpy()
    moved, close = members["moved"].to_numpy(), members["close"].to_numpy()

    def gross(f: float) -> float:
        return float(np.sum(np.abs(base + f * moved) * close))

    if not _exceeds(gross(1.0), target):
        return 1.0
    if _exceeds(gross(0.0), target):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = -base / moved
    points = np.unique(cross[(moved != 0) & (cross > 0) & (cross < 1)])
    low, g_low = 0.0, gross(0.0)
    for high in [*points.tolist(), 1.0]:
        g_high = gross(high)
        if g_high > target:
            return low + (target - g_low) * (high - low) / (g_high - g_low)
        low, g_low = high, g_high
    return 1.0


# --- the run ------------------------------------------------------------------------------------
def frames(data: dict[str, list[dict[str, Any]]]) -> dict[str, pd.DataFrame]:
    made = {name: pd.DataFrame(rows) for name, rows in data.items()}
    for name in ("orders", "prices"):
        made[name]["timestamp"] = pd.to_datetime(made[name]["timestamp"], utc=True)
    return made


def agree(engine: LimitsResult, yardstick: pd.DataFrame) -> int:
    got = {o["order_id"]: o["qty"] for o in engine.filtered_rows}
    want = dict(zip(yardstick["order_id"], yardstick["qty"].astype(float)))
    if got.keys() != want.keys():
        raise AssertionError(f"the implementations keep different orders: {len(got)} vs {len(want)}, "
                             f"e.g. {sorted(got.keys() ^ want.keys())[:5]}")
    worst = max((abs(got[k] - want[k]) / max(1.0, abs(want[k])) for k in got), default=0.0)
    if worst > 1e-9:
        raise AssertionError(f"quantities differ by up to {worst:.3g}")
    return len(got)


def median_ms(functions: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time of each function; repeats are interleaved so a busy machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - started) * 1_000)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    data = generate(args.orders, args.symbols)
    df = frames(data)
    policy = load_limits(params=PARAMS)
    equities = (EQUITY, CURRENT_EQUITY, PEAK_EQUITY)

    def engine_lists() -> LimitsResult:
        return policy.apply(data["orders"], data["positions"], data["prices"], *equities, data["master"])

    def engine_frames() -> LimitsResult:
        return policy.apply(df["orders"], df["positions"], df["prices"], *equities, df["master"])

    def yardstick() -> pd.DataFrame:
        return PandasLimits(PARAMS).run(df["orders"], df["positions"], df["prices"], df["master"], *equities)

    result = engine_lists()
    kept = agree(result, yardstick())
    agree(engine_frames(), yardstick())
    timings = median_ms({"engine (lists of dicts)": engine_lists, "engine (DataFrames)": engine_frames,
                         "plain pandas": yardstick}, args.repeats)
    base = timings["plain pandas"]
    print(f"{args.orders} orders over {args.symbols} symbols, all 9 limits, median of {args.repeats} "
          f"(agree: {kept} orders kept, {result.summary['orders_reduced']} reduced)")
    print(f"{'implementation':<26}{'median ms':>12}{'vs pandas':>12}")
    for name, ms in timings.items():
        print(f"{name:<26}{ms:>12.2f}{ms / base:>11.2f}x")
    report = {
        "benchmark": "pre_trade_limits", "orders": args.orders, "symbols": args.symbols, "repeats": args.repeats,
        "median_ms": {k: round(v, 3) for k, v in timings.items()},
        "ratio_vs_pandas": {k: round(v / base, 3) for k, v in timings.items()},
        "agree": True, "orders_kept": kept, "orders_reduced": result.summary["orders_reduced"],
        "checks": {c["rule"]: c["status"] for c in result.summary["checks"]},
        "python": platform.python_version(), "pandas": pd.__version__, "numpy": np.__version__,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
