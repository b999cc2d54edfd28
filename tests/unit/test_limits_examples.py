"""Seed 003's worked examples and the contract's readings, through ``apply_limits``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import policy_engine
from policy_engine.limits import DEFAULT_POLICY, LimitsRuleFailure, apply_limits, load_limits

TS = "2024-01-02T21:00:00Z"
PRICES = [{"timestamp": TS, "symbol": s, "close": c} for s, c in (("AAPL", 150.0), ("MSFT", 200.0), ("SAP", 120.0))]
MASTER = [
    {"symbol": "AAPL", "sector": "Technology", "region": "US", "currency": "USD"},
    {"symbol": "MSFT", "sector": "Technology", "region": "US", "currency": "USD"},
    {"symbol": "SAP", "sector": "Technology", "region": "EU", "currency": "EUR"},
    {"symbol": "XOM", "sector": "Energy", "region": "US", "currency": "USD"},
]
TOL = 1e-11


def order(symbol: str, side: str, qty: float, price: float, **extra: Any) -> dict[str, Any]:
    return {"timestamp": TS, "symbol": symbol, "side": side, "qty": qty, "price": price, **extra}


def qtys(result: Any) -> dict[str, float]:
    return {o["symbol"]: o["qty"] for o in result.filtered_orders}


def check(result: Any, rule: str) -> dict[str, Any]:
    return next(c for c in result.summary["checks"] if c["rule"] == rule)


# --- R1 max weight per symbol (readings 8, 9) ------------------------------------------------
@pytest.mark.parametrize(("held", "expected"), [(5, 1000 / 150 - 5), (50, 0.0)])
def test_max_weight_reduces_buy_to_the_cap(held: float, expected: float) -> None:
    result = apply_limits([order("AAPL", "BUY", 50, 150.0)], [{"symbol": "AAPL", "qty": held}], PRICES, 10_000,
                          params={"max_weight_per_symbol": 0.10})
    [record] = result.reduced_orders
    assert record["reason"] == "RISK_REDUCE_MAX_WEIGHT_PER_SYMBOL"
    assert record["rule"] == "max_weight_per_symbol" and record["symbol"] == "AAPL"
    assert record["old_qty"] == 50.0 and record["new_qty"] == pytest.approx(expected, abs=TOL)
    if expected:
        assert qtys(result) == {"AAPL": pytest.approx(1.6666666666666667, abs=TOL)}  # the seed's "BUY 1.67"
        assert result.summary["exposure"]["filtered"]["weights"]["AAPL"] == pytest.approx(0.10, abs=TOL)
    else:
        assert result.filtered_orders == []  # reading 9: dropped, recorded with new_qty 0


def test_max_weight_scales_a_short_with_the_same_formula() -> None:
    # Short 5 AAPL, SELL 50: post -55 x 150 / 10,000 = -0.825; cap 0.10 -> target -6.67 shares.
    result = apply_limits([order("AAPL", "SELL", 50, 150.0)], [{"symbol": "AAPL", "qty": -5}], PRICES, 10_000,
                          params={"max_weight_per_symbol": 0.10})
    assert qtys(result) == {"AAPL": pytest.approx(1000 / 150 - 5, abs=TOL)}


def test_max_weight_lets_exposure_reducing_orders_pass_over_the_cap() -> None:
    # 100 AAPL held (1.5 of equity): SELL 20 leaves 1.2, still over 0.10, but reduces exposure (reading 8).
    result = apply_limits([order("AAPL", "SELL", 20, 150.0)], [{"symbol": "AAPL", "qty": 100}], PRICES, 10_000,
                          params={"max_weight_per_symbol": 0.10})
    assert qtys(result) == {"AAPL": 20} and result.reduced_orders == []
    assert check(result, "max_weight_per_symbol")["status"] == "passed"
    assert check(result, "max_weight_per_symbol")["metrics"]["breached"]["AAPL"]["measure"] == pytest.approx(1.2)


def test_max_weight_only_checks_symbols_with_orders() -> None:
    result = apply_limits([order("MSFT", "BUY", 1, 200.0)], [{"symbol": "AAPL", "qty": 100}], PRICES, 10_000,
                          params={"max_weight_per_symbol": 0.10})
    metrics = check(result, "max_weight_per_symbol")["metrics"]
    assert metrics["checked"] == 1 and metrics["breached"] == {}


# --- R2 turnover cap (reading 12) --------------------------------------------------------------
def test_turnover_cap_scales_every_order() -> None:
    orders = [order("AAPL", "BUY", 100, 150.0), order("MSFT", "BUY", 50, 200.0)]
    result = apply_limits(orders, [], PRICES, 10_000, params={"turnover_cap": 0.5})
    assert qtys(result) == {"AAPL": 20.0, "MSFT": 10.0}
    assert [(r["reason"], r["symbol"], r["new_qty"]) for r in result.reduced_orders] == [
        ("RISK_REDUCE_TURNOVER_CAP", "AAPL", 20.0), ("RISK_REDUCE_TURNOVER_CAP", "MSFT", 10.0)]
    metrics = check(result, "turnover_cap")["metrics"]
    assert metrics["measure"] == 2.5 and metrics["factor"] == pytest.approx(0.2)


def test_turnover_truncates_toward_zero_and_drops_zeros() -> None:
    orders = [order("AAPL", "BUY", 7, 150.0), order("MSFT", "SELL", 3, 200.0)]  # turnover 0.165
    result = apply_limits(orders, [], PRICES, 10_000, params={"turnover_cap": 0.05})
    # factor 0.05 / 0.165: AAPL 7 x 0.303 = 2.12 -> 2; MSFT 3 x 0.303 = 0.909 -> 0, dropped.
    assert qtys(result) == {"AAPL": 2.0}
    assert result.reduced_orders[1]["new_qty"] == 0.0


# --- R3 drawdown de-risking (reading 13) -----------------------------------------------------
def test_drawdown_scales_by_de_risk_scale() -> None:
    result = apply_limits([order("AAPL", "BUY", 100, 150.0)], [], PRICES, 10_000, 7_000, 10_000,
                          params={"drawdown_threshold": 0.2, "de_risk_scale": 0.25})
    assert qtys(result) == {"AAPL": 25.0}
    assert result.reduced_orders[0]["reason"] == "RISK_DERISK_DRAWDOWN"
    assert result.summary["drawdown"] == pytest.approx(0.3)


def test_drawdown_with_scale_zero_blocks_every_order() -> None:
    result = apply_limits([order("AAPL", "BUY", 100, 150.0)], [], PRICES, 10_000, 7_000, 10_000,
                          params={"drawdown_threshold": 0.2})  # de_risk_scale defaults to 0.0 (reading 2)
    assert result.filtered_orders == []
    assert result.reduced_orders == [{"rule": "drawdown_de_risking", "reason": "RISK_DERISK_DRAWDOWN",
                                      "symbol": "AAPL", "side": "BUY", "row": 0, "order_id": None,
                                      "old_qty": 100.0, "new_qty": 0.0}]
    assert check(result, "drawdown_de_risking")["status"] == "blocked"


def test_drawdown_at_exactly_the_threshold_de_risks() -> None:
    # 1 - 8000/10000 is 0.19999999999999996 in binary floating point: equal to 0.2 (reading 15).
    result = apply_limits([order("AAPL", "BUY", 100, 150.0)], [], PRICES, 10_000, 8_000, 10_000,
                          params={"drawdown_threshold": 0.2, "de_risk_scale": 0.5})
    assert qtys(result) == {"AAPL": 50.0}


def test_drawdown_is_skipped_without_equities() -> None:
    result = apply_limits([order("AAPL", "BUY", 100, 150.0)], [], PRICES, 10_000, None, 10_000,
                          params={"drawdown_threshold": 0.2})
    assert qtys(result) == {"AAPL": 100}
    assert check(result, "drawdown_de_risking")["status"] == "skipped"
    assert check(result, "drawdown_de_risking")["reason"] == "RISK_SKIP_DRAWDOWN_MISSING_EQUITY"


# --- QA, max notional, max gross (readings 6, 7, 14) -----------------------------------------
def test_qa_block_blocks_every_order() -> None:
    orders = [order("AAPL", "BUY", 1, 150.0), order("MSFT", "SELL", 1, 200.0)]
    result = apply_limits(orders, [], PRICES, 10_000, params={"qa_status": "BLOCK"})
    assert result.filtered_orders == []
    assert {r["reason"] for r in result.reduced_orders} == {"RISK_BLOCK_QA_STATUS"}
    assert apply_limits(orders, [], PRICES, 10_000, params={"qa_status": "OK"}).reduced_orders == []


def test_max_notional_blocks_the_symbols_orders() -> None:
    orders = [order("AAPL", "BUY", 40, 150.0), order("AAPL", "BUY", 40, 151.0), order("MSFT", "BUY", 10, 200.0)]
    result = apply_limits(orders, [], PRICES, 10_000, params={"max_notional_per_symbol": 10_000})
    assert qtys(result) == {"MSFT": 10}
    assert [(r["reason"], r["row"]) for r in result.reduced_orders] == [
        ("RISK_BLOCK_MAX_NOTIONAL_PER_SYMBOL", 0), ("RISK_BLOCK_MAX_NOTIONAL_PER_SYMBOL", 1)]


def test_max_gross_blocks_all_remaining_orders() -> None:
    orders = [order("AAPL", "BUY", 10, 150.0), order("MSFT", "SELL", 10, 200.0)]  # 3500
    assert apply_limits(orders, [], PRICES, 10_000, params={"max_gross_exposure": 3_500}).reduced_orders == []
    result = apply_limits(orders, [], PRICES, 10_000, params={"max_gross_exposure": 3_499.99})
    assert result.filtered_orders == [] and check(result, "max_gross_exposure")["status"] == "blocked"
    assert {r["reason"] for r in result.reduced_orders} == {"RISK_BLOCK_MAX_GROSS_EXPOSURE"}


# --- sector / region / FX (readings 10, 11) --------------------------------------------------
def test_sector_cap_scales_increasing_orders_to_the_cap() -> None:
    # Technology: 20 AAPL held (3000) + BUY 40 AAPL (6000) + BUY 15 MSFT (3000) -> 1.2 of equity; cap 0.6.
    orders = [order("AAPL", "BUY", 40, 150.0), order("MSFT", "BUY", 15, 200.0)]
    result = apply_limits(orders, [{"symbol": "AAPL", "qty": 20}], PRICES, 10_000, security_master=MASTER,
                          params={"max_sector_exposure": {"Technology": 0.6, "Energy": 0.1}})
    factor = (6_000 - 3_000) / 9_000  # the largest factor that keeps the sector at 6,000
    assert qtys(result) == {"AAPL": pytest.approx(40 * factor, abs=TOL), "MSFT": pytest.approx(15 * factor, abs=TOL)}
    assert {r["reason"] for r in result.reduced_orders} == {"RISK_REDUCE_MAX_SECTOR_EXPOSURE"}
    assert result.summary["exposure"]["filtered"]["gross_weight"] == pytest.approx(0.6, abs=TOL)
    assert check(result, "max_sector_exposure")["metrics"]["breached"]["Technology"]["factor"] == pytest.approx(factor)


def test_sector_factor_is_exact_when_a_position_crosses_zero() -> None:
    # Short 10 AAPL (1500), BUY 30 AAPL -> long 20 (3000); BUY 10 MSFT (2000). Gross 5000 > cap 3500.
    # Gross at factor f: |-10 + 30f| x 150 + 10f x 200 = 6500f - 1500 past AAPL's zero crossing at
    # f = 1/3; = 3500 at f = 10/13. (A straight line from f = 0 to 1 would give 4/7: too small.)
    orders = [order("AAPL", "BUY", 30, 150.0), order("MSFT", "BUY", 10, 200.0)]
    result = apply_limits(orders, [{"symbol": "AAPL", "qty": -10}], PRICES, 10_000, security_master=MASTER,
                          params={"max_sector_exposure": 0.35})
    assert qtys(result) == {"AAPL": pytest.approx(300 / 13, abs=TOL), "MSFT": pytest.approx(100 / 13, abs=TOL)}
    assert result.summary["exposure"]["filtered"]["gross"] == pytest.approx(3_500, abs=1e-9)


def test_region_cap_uses_one_number_for_every_region_and_unlisted_groups_have_no_cap() -> None:
    orders = [order("AAPL", "BUY", 40, 150.0), order("SAP", "BUY", 10, 120.0)]
    result = apply_limits(orders, [], PRICES, 10_000, security_master=MASTER, params={"max_region_exposure": 0.3})
    assert qtys(result) == {"AAPL": pytest.approx(20.0, abs=TOL), "SAP": 10}
    mapped = apply_limits(orders, [], PRICES, 10_000, security_master=MASTER,
                          params={"max_region_exposure": {"EU": 0.01}})
    assert qtys(mapped) == {"AAPL": 40, "SAP": pytest.approx(100 / 120, abs=TOL)}


@pytest.mark.parametrize("rule", ["max_sector_exposure", "max_region_exposure", "max_fx_exposure"])
def test_group_limits_are_skipped_without_a_security_master(rule: str) -> None:
    result = apply_limits([order("AAPL", "BUY", 40, 150.0)], [], PRICES, 10_000, params={rule: 0.01})
    assert check(result, rule)["status"] == "skipped"
    assert check(result, rule)["reason"] == "RISK_SKIP_NO_SECURITY_MASTER"
    assert qtys(result) == {"AAPL": 40}


def test_fx_limit_fails_the_whole_call_on_a_non_base_currency() -> None:
    orders = [order("AAPL", "BUY", 10, 150.0), order("SAP", "BUY", 10, 120.0)]
    with pytest.raises(LimitsRuleFailure) as failure:
        apply_limits(orders, [], PRICES, 10_000, security_master=MASTER,
                     params={"max_fx_exposure": 0.5, "max_weight_per_symbol": 0.01})
    assert (failure.value.rule, failure.value.reason, failure.value.keys) == (
        "max_fx_exposure", "RISK_FAIL_FX_NON_BASE_CURRENCY", ("SAP",))
    assert [s.status for s in failure.value.trace.steps][-2:] == ["off", "failed"]


def test_fx_limit_looks_at_held_positions_too_and_passes_in_base_currency() -> None:
    with pytest.raises(LimitsRuleFailure):
        apply_limits([order("AAPL", "BUY", 10, 150.0)], [{"symbol": "SAP", "qty": 3}], PRICES, 10_000,
                     security_master=MASTER, params={"max_fx_exposure": 0.5})
    result = apply_limits([order("AAPL", "BUY", 10, 150.0)], [{"symbol": "SAP", "qty": 0}], PRICES, 10_000,
                          security_master=MASTER, params={"max_fx_exposure": 0.5})
    assert check(result, "max_fx_exposure")["status"] == "passed"
    eur = apply_limits([order("SAP", "BUY", 1, 120.0)], [], PRICES, 10_000, security_master=MASTER,
                       params={"max_fx_exposure": 0.5, "base_currency": "EUR"})
    assert qtys(eur) == {"SAP": 1}


# --- every limit is off when its param is null ------------------------------------------------
OFF_PARAMS = {
    "qa_status": "BLOCK", "max_notional_per_symbol": 1.0, "max_weight_per_symbol": 0.0001, "turnover_cap": 0.0001,
    "drawdown_threshold": 0.0, "max_gross_exposure": 1.0, "max_sector_exposure": 0.0001,
    "max_region_exposure": 0.0001, "max_fx_exposure": 0.0,
}


@pytest.mark.parametrize("name", sorted(OFF_PARAMS))
def test_each_limit_is_off_when_its_param_is_null(name: str) -> None:
    orders = [order("AAPL", "BUY", 10, 150.0), order("SAP", "SELL", 5, 120.0)]  # SAP trades in EUR
    args = (orders, [], PRICES, 10_000, 9_000, 10_000)
    try:  # with its param set, the limit acts on these orders (FX: fails the call)
        assert apply_limits(*args, security_master=MASTER, params={name: OFF_PARAMS[name]}).reduced_orders
    except LimitsRuleFailure as failure:
        assert failure.rule == name == "max_fx_exposure"
    off = apply_limits(*args, security_master=MASTER, params={name: None})
    assert off.reduced_orders == [] and qtys(off) == {"AAPL": 10, "SAP": 5}
    assert {c["status"] for c in off.summary["checks"]} == {"off"}


def test_the_shipped_policy_is_all_off_by_default() -> None:
    policy = load_limits()
    assert policy is load_limits()  # compiled once, cached
    assert policy.params["de_risk_scale"] == 0.0 and policy.params["base_currency"] == "USD"
    assert [n for n, v in policy.params.items() if v is not None] == ["de_risk_scale", "base_currency"]


# --- order of execution (reading 1) ---------------------------------------------------------
ORDERING = {"params": {"max_weight_per_symbol": 0.10, "turnover_cap": 0.15, "drawdown_threshold": 0.2,
                        "de_risk_scale": 0.25}}


def ordering_result(policy: Any = None) -> Any:
    orders = [order("AAPL", "BUY", 100, 150.0), order("MSFT", "BUY", 50, 200.0)]
    return apply_limits(orders, [], PRICES, 10_000, 7_000, 10_000, policy=policy, **ORDERING)


def test_rule_order_of_the_shipped_policy_weight_then_turnover_then_drawdown() -> None:
    # Reading 1 (the numbered list): max weight AAPL 100 -> 6.67, MSFT 50 -> 5 (turnover 0.2);
    # turnover 0.2 > 0.15: x 0.75 -> 5 and int(3.75) = 3; drawdown 30 %: x 0.25 -> 1 and 0.
    # (0.15 / 0.2 = 0.7499999999999999, so AAPL is 4.999999999999999 before truncation: 5 by reading 15.)
    result = ordering_result()
    assert [c["rule"] for c in result.summary["checks"]] == [
        "qa_status", "max_notional_per_symbol", "max_weight_per_symbol", "max_sector_exposure", "max_region_exposure",
        "max_fx_exposure", "turnover_cap", "drawdown_de_risking", "max_gross_exposure"]
    assert qtys(result) == {"AAPL": 1.0}
    assert [(r["rule"], r["symbol"], r["new_qty"]) for r in result.reduced_orders][2:] == [
        ("turnover_cap", "AAPL", 5.0), ("turnover_cap", "MSFT", 3.0),
        ("drawdown_de_risking", "AAPL", 1.0), ("drawdown_de_risking", "MSFT", 0.0)]


def reordered_policy(first: list[str]) -> Any:
    """The shipped YAML with some limits moved to the front: an edit of the YAML, not of Python."""
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    by_id = {limit["id"]: limit for limit in data["limits"]}
    data["limits"] = [by_id[i] for i in first] + [lim for lim in data["limits"] if lim["id"] not in first]
    path = Path(DEFAULT_POLICY).with_name("pre_trade_limits.reordered.yaml")
    return policy_engine.loads(yaml.safe_dump(data, sort_keys=False), path=str(path))


def test_rule_order_drawdown_then_max_weight_then_turnover_gives_the_seeds_rationale_result() -> None:
    # The seed's "Rationale" order: drawdown x 0.25 -> 25 and 12; max weight -> 6.67 and 5;
    # turnover 0.2 > 0.15: x 0.75 -> int(5.0) = 5 and int(3.75) = 3.
    policy = reordered_policy(["drawdown_de_risking", "max_weight_per_symbol", "turnover_cap"])
    result = ordering_result(policy)
    assert [c["rule"] for c in result.summary["checks"]][:3] == ["drawdown_de_risking", "max_weight_per_symbol",
                                                                 "turnover_cap"]
    assert qtys(result) == {"AAPL": 5.0, "MSFT": 3.0}
    assert qtys(result) != qtys(ordering_result())


def test_truncation_in_a_later_limit_can_leave_a_symbol_just_over_its_weight_cap() -> None:
    # Documented interaction (docs/limits.md): max weight leaves BUY 80.5 / SELL 30 of X at the cap
    # (post 50.5 shares = 0.505); drawdown x 0.9999 truncates them to 80 and 29: post 51 = 0.51.
    prices = [{"timestamp": TS, "symbol": "X", "close": 100.0}]
    orders = [order("X", "BUY", 100, 100.0), order("X", "SELL", 30, 100.0)]
    result = apply_limits(orders, [], prices, 10_000, 8_000, 10_000,
                          params={"max_weight_per_symbol": 0.505, "drawdown_threshold": 0.1, "de_risk_scale": 0.9999})
    assert [o["qty"] for o in result.filtered_orders] == [80.0, 29.0]
    assert result.summary["exposure"]["filtered"]["weights"]["X"] == pytest.approx(0.51)
