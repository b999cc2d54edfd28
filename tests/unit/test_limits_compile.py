"""The limits compiler: located diagnostics for malformed limits and params, closures that agree
with the reference evaluator, and the kind's generic features beyond the pre-trade policy."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.errors import Code, PolicyError
from policy_engine.expr.reference import ReferenceEvaluator
from policy_engine.limits import DEFAULT_POLICY, CompiledLimits, LimitsEvaluationError, load_limits
from policy_engine.limits.names import ORDER_FIELDS, PORTFOLIO_FIELDS, SYMBOL_FIELDS

REPO = Path(__file__).resolve().parents[2]
TS = "2024-01-02T21:00:00Z"
PRICES = [{"timestamp": TS, "symbol": s, "close": c} for s, c in (("AAPL", 150.0), ("MSFT", 200.0))]
HEAD = """apiVersion: policy-engine/v1
kind: LimitsPolicy
metadata: {id: test.limits, version: 1.0.0, owners: [tests]}
inputs: {schema: inputs.schema.json}
params: {cap: 0.5, caps: null}
limits:
"""  # the first limit starts on line 7


@pytest.fixture
def compile_limits(tmp_path: Path) -> Any:
    schema = json.loads((REPO / "schemas" / "pre_trade_limits.inputs.schema.json").read_text(encoding="utf-8"))
    del schema["$defs"]["params"]  # these test policies have their own params
    (tmp_path / "inputs.schema.json").write_text(json.dumps(schema), encoding="utf-8")

    def compile_text(limits: str, head: str = HEAD, params: dict[str, Any] | None = None) -> CompiledLimits:
        policy = policy_engine.loads(head + limits, path=str(tmp_path / "policy.yaml"), params=params)
        assert isinstance(policy, CompiledLimits)
        return policy

    return compile_text


def diagnostics(compile_text: Any, limits: str, **kwargs: Any) -> list[tuple[Code, int, int]]:
    with pytest.raises(PolicyError) as error:
        compile_text(limits, **kwargs)
    return [(d.code, d.line, d.col) for d in error.value.diagnostics]


WEIGHT = """  - id: weight
    scope: symbol
    check: {measure: abs(symbol.post_weight), above: params.cap}
    action: reduce
    target_qty: symbol.direction * cap * equity / symbol.close
    reason: R_WEIGHT
"""


def test_a_well_formed_limit_compiles(compile_limits: Any) -> None:
    policy = compile_limits(WEIGHT)
    [node] = policy.plan.limits
    assert (node.id, node.line, node.scope, node.resolver, node.rounding) == ("weight", 7, "symbol", "target_qty", "none")
    assert node.check_text == "abs(symbol.post_weight) > params.cap"


@pytest.mark.parametrize(("limits", "expected"), [
    (WEIGHT.replace("post_weight", "post_wieght"), [(Code.EXPR_UNKNOWN_NAME, 9, 26)]),
    (WEIGHT.replace("    target_qty: symbol.direction * cap * equity / symbol.close\n", ""),
     [(Code.INVALID_VALUE, 10, 13)]),
    (WEIGHT.replace("scope: symbol", "scope: group"), [(Code.INVALID_VALUE, 7, 5), (Code.INVALID_VALUE, 11, 17)]),
    (WEIGHT.replace("scope: symbol", "scope: group\n    group_by: sectr"), [(Code.BAD_REFERENCE, 9, 15), (Code.INVALID_VALUE, 12, 17)]),
    (WEIGHT.replace("scope: symbol", "scope: portfolio"), [(Code.INVALID_VALUE, 11, 17)]),
    (WEIGHT + WEIGHT, [(Code.DUPLICATE_ID, 13, 9)]),
    (WEIGHT.replace("check: {", "check: {breach_if: 'true', "), [(Code.INVALID_VALUE, 9, 12)]),
    (WEIGHT.replace("above: params.cap", "at_least: params.cap, above: 1"), [(Code.INVALID_VALUE, 9, 12)]),
    (WEIGHT.replace("abs(symbol.post_weight)", "symbol.post_weight > 1"), [(Code.INVALID_VALUE, 9, 22)]),
    (WEIGHT.replace("action: reduce", "action: block"), [(Code.INVALID_VALUE, 11, 17)]),
    (WEIGHT.replace("check:", "chek:"), [(Code.UNKNOWN_FIELD, 9, 5)]),
    (WEIGHT.replace("params.cap", "params.kap"), [(Code.EXPR_UNKNOWN_NAME, 9, 54)]),
    (WEIGHT.replace("cap * equity", "equity.value"), [(Code.EXPR_UNKNOWN_NAME, 11, 17)]),
    (WEIGHT.replace("abs(symbol.post_weight)", "symbol.__class__"), [(Code.EXPR_UNSAFE, 9, 22)]),
    (WEIGHT.replace("scope: symbol", "scope: symbol\n    enabled_if: cap > 1"), [(Code.EXPR_UNKNOWN_NAME, 9, 17)]),
])
def test_a_malformed_limit_is_a_located_diagnostic(compile_limits: Any, limits: str,
                                                   expected: list[tuple[Code, int, int]]) -> None:
    assert diagnostics(compile_limits, limits) == expected


def test_unknown_names_get_a_hint(compile_limits: Any) -> None:
    with pytest.raises(PolicyError) as error:
        compile_limits(WEIGHT.replace("post_weight", "post_wieght"))
    assert error.value.diagnostics[0].hint == "did you mean 'post_weight'?"


# --- params (contract reading 2) --------------------------------------------------------------
def test_shipped_params_are_checked_against_the_input_schema() -> None:
    with pytest.raises(PolicyError) as error:
        load_limits(DEFAULT_POLICY, {"de_risk_scale": 2})
    [diagnostic] = error.value.diagnostics
    assert diagnostic.code == Code.PARAM_OVERRIDE and "params.de_risk_scale: must be <= 1" in diagnostic.message
    for bad in ({"qa_status": "MAYBE"}, {"max_weight_per_symbol": -0.1}, {"turnover_cap": "high"},
                {"max_sector_exposure": {"Technology": -1}}, {"no_such_param": 1}):
        with pytest.raises(PolicyError):
            load_limits(DEFAULT_POLICY, bad)


def test_unknown_or_invalid_params_in_the_yaml_are_located(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    text = text.replace("  base_currency: USD", "  base_currency: USD\n  max_leverage: 2")
    text = text.replace("de_risk_scale: 0.0 ", "de_risk_scale: 1.5 ")
    with pytest.raises(PolicyError) as error:
        policy_engine.loads(text, path=str(DEFAULT_POLICY))
    lines = text.splitlines()
    found = [(d.code, lines[d.line - 1].split(":")[0].strip()) for d in error.value.diagnostics]
    assert found == [(Code.INVALID_VALUE, "de_risk_scale"), (Code.INVALID_VALUE, "max_leverage")]


def test_map_caps_must_be_numbers(compile_limits: Any) -> None:
    limits = WEIGHT.replace("above: params.cap", "above: params.caps")
    assert compile_limits(limits, params={"caps": {"AAPL": 0.1}}).plan.params["caps"] == {"AAPL": 0.1}
    assert diagnostics(compile_limits, limits, params={"caps": {"AAPL": -1}}) == [(Code.INVALID_VALUE, 5, 26)]


# --- closures agree with simpleeval (the reference semantics) ---------------------------------
def _random_fields(rng: random.Random, fields: dict[str, Any]) -> dict[str, Any]:
    kinds = {"number": lambda: rng.uniform(-3, 3), "integer": lambda: rng.randint(-1, 1),
             "string": lambda: rng.choice(["AAPL", "USD", "EUR"]), "boolean": lambda: rng.random() < 0.5}
    return {name: kinds[schema["type"]]() for name, schema in fields.items()}


def test_compiled_expressions_agree_with_the_reference_evaluator() -> None:
    policy = load_limits(DEFAULT_POLICY, {"max_weight_per_symbol": 0.1, "turnover_cap": 0.5,
                                          "drawdown_threshold": 0.2, "de_risk_scale": 0.25})
    rng = random.Random(7)
    compared = 0
    for _ in range(120):
        symbol = {**_random_fields(rng, SYMBOL_FIELDS), "sector": "Tech", "region": "US", "currency": "USD"}
        group = {"key": "Tech", "post_gross_weight": rng.uniform(0, 2)}
        portfolio = _random_fields(rng, PORTFOLIO_FIELDS)
        call = {"equity": rng.uniform(1, 1e6), "current_equity": rng.choice([None, 5.0]), "peak_equity": 10.0,
                "has_security_master": rng.random() < 0.5}
        cap, measure = rng.uniform(0.01, 1), rng.uniform(0.01, 3)
        for node in policy.plan.limits:
            item = {"symbol": symbol, "group": group}.get(node.scope)
            names = {"symbol": symbol, "group": group, "portfolio": portfolio, "params": policy.plan.params,
                     "cap": cap, "measure": measure, **call}
            for expr in node.exprs:
                try:
                    expected: Any = ReferenceEvaluator(names).evaluate(_tree(expr.text))
                except Exception as exc:  # noqa: BLE001 - both must fail alike
                    expected = type(exc)
                try:
                    got: Any = expr.fn(item, None, portfolio, call, cap, measure)
                except Exception as exc:  # noqa: BLE001
                    got = type(exc)
                assert got == expected, (node.id, expr.text)
                compared += 1
    assert compared > 1200


def _tree(text: str) -> Any:
    import ast

    return ast.parse(text, mode="eval")


# --- generic features of the kind ---------------------------------------------------------------
ORDERS = [{"timestamp": TS, "symbol": "AAPL", "side": "BUY", "qty": 30, "price": 150.0},
          {"timestamp": TS, "symbol": "AAPL", "side": "SELL", "qty": 4, "price": 150.0},
          {"timestamp": TS, "symbol": "MSFT", "side": "BUY", "qty": 20, "price": 200.0}]


def test_order_scope_target_qty_and_allow_reducing(compile_limits: Any) -> None:
    policy = compile_limits("""  - id: max_order_qty
    scope: order
    check: {measure: order.qty, above: 10}
    action: reduce
    target_qty: cap                # the check's cap for this order: 10
    rounding: toward_zero
    allow_reducing: true
    reason: R_ORDER_QTY
""")
    result = policy.apply(ORDERS, [], PRICES, 10_000)
    assert [o["qty"] for o in result.filtered_orders] == [10.0, 4, 10.0]
    assert [(r["row"], r["old_qty"], r["new_qty"]) for r in result.reduced_orders] == [(0, 30.0, 10.0), (2, 20.0, 10.0)]
    assert result.summary["checks"][0]["metrics"]["breached"] == {
        "0": {"measure": 30.0, "cap": 10.0, "target": 10.0}, "2": {"measure": 20.0, "cap": 10.0, "target": 10.0}}


def test_pass_action_reports_without_changing(compile_limits: Any) -> None:
    policy = compile_limits("""  - id: watch
    scope: symbol
    check: {breach_if: "symbol.order_count > 1 and sum(o.notional for o in orders) > 1000"}
    action: pass
    reason: R_WATCH
""")
    result = policy.apply(ORDERS, [], PRICES, 10_000)
    assert result.reduced_orders == [] and len(result.filtered_orders) == 3
    check = result.summary["checks"][0]
    assert (check["status"], check["reason"], check["metrics"]["breached"]) == ("passed", "R_WATCH", {"AAPL": {}})


def test_portfolio_target_gross(compile_limits: Any) -> None:
    policy = compile_limits("""  - id: gross
    scope: portfolio
    check: {measure: portfolio.post_gross_weight, above: params.cap}
    action: reduce
    target_gross: cap * equity
    reason: R_GROSS
""")
    result = policy.apply(ORDERS, [], PRICES, 10_000)  # post gross 3900 + 4000 = 7900 > 5000
    assert result.summary["exposure"]["filtered"]["gross"] == pytest.approx(5_000, abs=1e-9)
    assert result.summary["checks"][0]["metrics"]["factor"] == pytest.approx(5_000 / 7_900)


def test_an_expression_that_fails_at_run_time_fails_the_call(compile_limits: Any) -> None:
    policy = compile_limits(WEIGHT.replace("cap * equity / symbol.close", "cap * equity / (symbol.close - 150)"),
                            params={"cap": 0.01})
    with pytest.raises(LimitsEvaluationError) as error:
        policy.apply(ORDERS, [], PRICES, 10_000)
    assert (error.value.rule, error.value.key) == ("weight", "AAPL")
    assert "ZeroDivisionError" in str(error.value) and str(error.value).endswith(
        "in `symbol.direction * cap * equity / (symbol.close - 150)`")
    assert [step.status for step in error.value.trace.steps] == ["error"]


def test_a_non_boolean_condition_fails_closed(compile_limits: Any) -> None:
    policy = compile_limits(WEIGHT.replace("scope: symbol", "scope: symbol\n    enabled_if: params.caps"))
    with pytest.raises(LimitsEvaluationError, match="gave None, not true or false"):
        policy.apply(ORDERS, [], PRICES, 10_000)


def test_closure_source_is_generated_from_the_checked_tree() -> None:
    node = load_limits().plan.limit("max_weight_per_symbol")
    assert node.resolve is not None
    source = node.resolve.source
    assert source.startswith("def f(item, orders, portfolio, call, cap, measure):\n    return ")
    body = source.split("return ", 1)[1]
    assert [name for name in ("item['direction']", "cap", "call['equity']", "item['close']") if name in body] == [
        "item['direction']", "cap", "call['equity']", "item['close']"]  # symbol.x -> item['x'], equity -> call
    assert "symbol" not in body and "params" not in body
    assert set(ORDER_FIELDS) >= {"qty", "price", "increasing"}
