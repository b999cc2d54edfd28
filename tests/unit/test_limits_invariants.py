"""Invariants of the pre-trade limits on generated order books (hypothesis).

* no symbol's post-trade weight exceeds its cap unless its orders reduce its exposure;
* no sector's gross weight exceeds its cap unless its orders reduce its gross exposure;
* turnover after scaling is at most the cap;
* a reduce never flips an order's side or grows it;
* the same inputs give the same outputs, and permuting the orders gives the same result per symbol.
"""

from __future__ import annotations

from collections import defaultdict
from math import fsum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.limits import apply_limits

SYMBOLS = ("A", "B", "C", "D", "E")
SECTOR = {"A": "S1", "B": "S1", "C": "S2", "D": "S2", "E": "S3"}
MASTER = [{"symbol": s, "sector": SECTOR[s], "region": "R", "currency": "USD"} for s in SYMBOLS]
TS = "2024-01-02T21:00:00Z"
SLACK = 1e-9  # the engine's edges are 1e-11; sums of a dozen products add a little more
EXAMPLES = settings(max_examples=40, deadline=None)


@st.composite
def books(draw: Any, one_side_per_symbol: bool = False) -> dict[str, Any]:
    closes = {s: draw(st.integers(100, 50_000)) / 100 for s in SYMBOLS}
    held = draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=4))
    positions = [{"symbol": s, "qty": draw(st.integers(-300, 300)) / draw(st.sampled_from([1, 4]))} for s in held]
    sides = {s: draw(st.sampled_from(["BUY", "SELL"])) for s in SYMBOLS}
    orders = []
    for index in range(draw(st.integers(1, 12))):
        symbol = draw(st.sampled_from(SYMBOLS))
        side = sides[symbol] if one_side_per_symbol else draw(st.sampled_from(["BUY", "SELL"]))
        orders.append({"order_id": f"o{index}", "timestamp": TS, "symbol": symbol, "side": side,
                       "qty": draw(st.integers(1, 40_000)) / draw(st.sampled_from([1, 100])),
                       "price": round(closes[symbol] * draw(st.integers(90, 110)) / 100, 2)})
    prices = [{"timestamp": TS, "symbol": s, "close": c} for s, c in closes.items()]
    return {"orders": orders, "current_positions": positions, "prices": prices,
            "equity": draw(st.integers(5_000, 1_000_000)) * 1.0}


def post_trade(book: dict[str, Any], orders: list[dict[str, Any]]) -> dict[str, float]:
    post = {p["symbol"]: p["qty"] for p in book["current_positions"]}
    for order in orders:
        post[order["symbol"]] = post.get(order["symbol"], 0.0) + (order["qty"] if order["side"] == "BUY" else -order["qty"])
    return post


def closes(book: dict[str, Any]) -> dict[str, float]:
    return {p["symbol"]: p["close"] for p in book["prices"]}


@EXAMPLES
@given(books(), st.sampled_from([0.01, 0.05, 0.2, 0.7]))
def test_no_symbol_ends_over_its_weight_cap_unless_its_orders_reduce_exposure(book: dict[str, Any], cap: float) -> None:
    result = apply_limits(**book, params={"max_weight_per_symbol": cap})
    current = post_trade(book, [])
    after = post_trade(book, result.filtered_orders)
    close, equity = closes(book), book["equity"]
    for symbol in {o["symbol"] for o in book["orders"]}:
        weight = abs(after[symbol]) * close[symbol] / equity
        reduced_exposure = abs(after[symbol]) <= abs(current.get(symbol, 0.0)) + SLACK
        assert weight <= cap + SLACK or reduced_exposure, (symbol, weight, cap)


@EXAMPLES
@given(books(one_side_per_symbol=True), st.sampled_from([0.05, 0.3]), st.sampled_from([0.1, 0.5, 1.0]))
def test_no_sector_ends_over_its_cap_unless_its_orders_reduce_gross(book: dict[str, Any], weight_cap: float,
                                                                     sector_cap: float) -> None:
    result = apply_limits(**book, security_master=MASTER,
                          params={"max_weight_per_symbol": weight_cap, "max_sector_exposure": sector_cap})
    close, equity = closes(book), book["equity"]
    current, after = post_trade(book, []), post_trade(book, result.filtered_orders)
    for sector in {SECTOR[o["symbol"]] for o in book["orders"]}:
        members = [s for s in after if SECTOR[s] == sector]
        gross = fsum(abs(after[s]) * close[s] for s in members) / equity
        before = fsum(abs(current.get(s, 0.0)) * close[s] for s in members) / equity
        assert gross <= sector_cap + SLACK or gross <= before + SLACK, (sector, gross, sector_cap)


PARAM_SETS = [
    {"turnover_cap": 0.05},
    {"turnover_cap": 0.5, "max_weight_per_symbol": 0.1},
    {"turnover_cap": 0.2, "drawdown_threshold": 0.1, "de_risk_scale": 0.5, "max_sector_exposure": 0.4},
    {"turnover_cap": 1.0, "max_notional_per_symbol": 20_000, "max_region_exposure": {"R": 0.8}},
]


@EXAMPLES
@given(books(), st.sampled_from(PARAM_SETS))
def test_turnover_is_within_the_cap_and_no_order_flips_or_grows(book: dict[str, Any], params: dict[str, Any]) -> None:
    result = apply_limits(**book, current_equity=8_000.0, peak_equity=10_000.0, security_master=MASTER, params=params)
    given_orders = {o["order_id"]: o for o in book["orders"]}
    for out in result.filtered_orders:
        original = given_orders[out["order_id"]]
        assert out["side"] == original["side"] and 0 < out["qty"] <= original["qty"]
    for record in result.reduced_orders:
        assert 0 <= record["new_qty"] < record["old_qty"]
    turnover = fsum(o["qty"] * o["price"] for o in result.filtered_orders) / book["equity"]
    assert turnover <= params["turnover_cap"] * (1 + SLACK)


def per_symbol(result: Any) -> dict[str, list[tuple[str, float]]]:
    found: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for order in result.filtered_orders:
        found[order["symbol"]].append((order["side"], order["qty"]))
    return {symbol: sorted(rows) for symbol, rows in found.items()}


@EXAMPLES
@given(books(), st.sampled_from(PARAM_SETS), st.randoms(use_true_random=False))
def test_same_inputs_same_outputs_and_order_permutations_change_nothing_per_symbol(
        book: dict[str, Any], params: dict[str, Any], rng: Any) -> None:
    args = {"current_equity": 8_000.0, "peak_equity": 10_000.0, "security_master": MASTER, "params": params}
    first = apply_limits(**book, **args)
    assert apply_limits(**book, **args).to_dict() == first.to_dict()
    shuffled = dict(book, orders=rng.sample(book["orders"], len(book["orders"])))
    permuted = apply_limits(**shuffled, **args)
    assert per_symbol(permuted) == per_symbol(first)
    assert [(c["rule"], c["status"]) for c in permuted.summary["checks"]] == [
        (c["rule"], c["status"]) for c in first.summary["checks"]]
    assert permuted.summary["exposure"] == first.summary["exposure"]
