"""``policy-engine limits``: the seed's worked examples, bad inputs and failures, in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli import main

REPO = Path(__file__).resolve().parents[2]
POLICY = str(REPO / "policies" / "risk" / "pre_trade_limits.yaml")
EXAMPLES = REPO / "policies" / "risk" / "examples" / "limits"
TS = "2024-01-02T21:00:00Z"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(rows), encoding="utf-8")
    return str(path)


def limits_json(*argv: str) -> dict[str, Any]:
    code, out, err = run("limits", POLICY, *argv, "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def example(name: str) -> str:
    return str(EXAMPLES / name)


@pytest.mark.parametrize(("held", "expected"), [(5, 1000 / 150 - 5), (50, None)])
def test_max_weight_examples(tmp_path: Path, held: int, expected: float | None) -> None:
    orders = write(tmp_path, "orders.json", [{"timestamp": TS, "symbol": "AAPL", "side": "BUY", "qty": 50,
                                              "price": 150.0}])
    positions = write(tmp_path, "positions.json", [{"symbol": "AAPL", "qty": held}])
    data = limits_json(orders, "--positions", positions, "--prices", example("prices.json"), "--equity", "10000",
                       "--set", "max_weight_per_symbol=0.10")
    [record] = data["reduced_orders"]
    assert record["reason"] == "RISK_REDUCE_MAX_WEIGHT_PER_SYMBOL"
    if expected is None:
        assert data["filtered_orders"] == [] and record["new_qty"] == 0.0
    else:
        assert data["filtered_orders"][0]["qty"] == pytest.approx(expected, abs=1e-11)


@pytest.mark.parametrize("suffix", ["json", "csv"])
def test_turnover_example_from_json_and_csv(suffix: str) -> None:
    data = limits_json(example(f"orders.{suffix}"), "--positions", example(f"positions.{suffix}"),
                       "--prices", example(f"prices.{suffix}"), "--equity", "10000", "--set", "turnover_cap=0.5")
    assert [(o["symbol"], o["qty"]) for o in data["filtered_orders"]] == [("AAPL", 20.0), ("MSFT", 10.0)]
    assert [r["reason"] for r in data["reduced_orders"]] == ["RISK_REDUCE_TURNOVER_CAP"] * 2
    assert [c["status"] for c in data["summary"]["checks"] if c["status"] != "off"] == ["reduced"]


@pytest.mark.parametrize(("scale", "expected"), [("0.25", [25.0]), ("0.0", [])])
def test_drawdown_examples(scale: str, expected: list[float]) -> None:
    orders = example("orders.json")
    data = limits_json(orders, "--positions", example("positions.json"), "--prices", example("prices.json"),
                       "--equity", "10000", "--current-equity", "7000", "--peak-equity", "10000",
                       "--set", "drawdown_threshold=0.2", "--set", f"de_risk_scale={scale}")
    assert [o["qty"] for o in data["filtered_orders"]][:1] == expected
    assert {r["reason"] for r in data["reduced_orders"]} == {"RISK_DERISK_DRAWDOWN"}
    if not expected:
        assert [r["new_qty"] for r in data["reduced_orders"]] == [0.0, 0.0]


def test_json_output_is_byte_stable() -> None:
    argv = ["limits", POLICY, example("orders.json"), "--positions", example("positions.json"), "--prices",
            example("prices.json"), "--equity", "10000", "--security-master", example("security_master.csv"),
            "--set", "max_weight_per_symbol=0.3", "--set", "max_sector_exposure=0.4", "--format", "json"]
    first, second = run(*argv), run(*argv)
    assert first == second and first[0] == 0
    assert list(json.loads(first[1])) == ["filtered_orders", "reduced_orders", "summary"]
    assert first[1] == json.dumps(json.loads(first[1]), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_text_output_shows_orders_reductions_checks_and_trace() -> None:
    code, out, _ = run("limits", POLICY, example("orders.json"), "--positions", example("positions.json"),
                       "--prices", example("prices.json"), "--equity", "10000", "--set", "turnover_cap=0.5")
    assert code == 0
    assert out.splitlines()[:5] == [
        "filtered orders: 2 of 2",
        "  AAPL       BUY              20 @ 150  order_id o-1",
        "  MSFT       BUY              10 @ 200  order_id o-2",
        "reductions: 2",
        "  turnover_cap             RISK_REDUCE_TURNOVER_CAP             AAPL       BUY  row 0: 100 -> 20",
    ]
    assert "  turnover_cap             reduced  RISK_REDUCE_TURNOVER_CAP" in out
    assert "\ntrace:\n" in out and "(breached; 2 orders changed, 0 dropped)" in out


def test_bad_input_rows_exit_4_naming_each_row() -> None:
    code, out, err = run("limits", POLICY, example("orders_bad.csv"), "--positions", example("positions.csv"),
                         "--prices", example("prices.csv"), "--equity", "10000")
    assert (code, out) == (4, "")
    assert err.splitlines() == [
        "orders row 0 (AAPL, order_id o-1): qty: must be > 0 (got -5.0) [INPUT_INVALID]",
        "orders row 1 (MSFT, order_id o-2): side: must be one of [\"BUY\", \"SELL\"] (got 'HOLD') [INPUT_INVALID]",
        "orders row 2 (TSLA, order_id o-2): qty: not a finite number (got nan) [INPUT_INVALID]",
        "3 invalid input rows",
    ]


def test_semantic_problems_and_equity_exit_4(tmp_path: Path) -> None:
    orders = write(tmp_path, "orders.json", [
        {"order_id": 1, "symbol": "AAPL", "side": "BUY", "qty": 1, "price": 150.0},
        {"order_id": 1, "symbol": "TSLA", "side": "BUY", "qty": 1, "price": 250.0}])
    code, _, err = run("limits", POLICY, orders, "--positions", example("positions.json"), "--prices",
                       example("prices.json"), "--equity", "10000")
    assert code == 4 and err.splitlines()[:2] == [
        "orders row 1 (TSLA, order_id 1): order_id: order_id 1 repeats row 0 [INPUT_DUPLICATE_ORDER_ID]",
        "orders row 1 (TSLA, order_id 1): symbol: no price for TSLA [INPUT_NO_PRICE]"]
    code, _, err = run("limits", POLICY, example("orders.json"), "--positions", example("positions.json"),
                       "--prices", example("prices.json"), "--equity", "0")
    assert code == 4 and err.startswith("equity: must be > 0")


def test_fx_fails_the_call_with_exit_3() -> None:
    code, out, err = run("limits", POLICY, example("orders_fx.json"), "--positions", example("positions.json"),
                         "--prices", example("prices.json"), "--equity", "10000", "--security-master",
                         example("security_master.csv"), "--set", "max_fx_exposure=0.5")
    assert (code, out, err) == (3, "", "FAILED by max_fx_exposure: RISK_FAIL_FX_NON_BASE_CURRENCY (SAP)\n")


def test_policy_and_usage_errors() -> None:
    base = ["limits", POLICY, example("orders.json"), "--positions", example("positions.json"),
            "--prices", example("prices.json"), "--equity", "10000"]
    code, _, err = run(*base, "--set", "de_risk_scale=2")
    assert code == 1 and "error[E501]: params.de_risk_scale: must be <= 1" in err
    code, _, err = run(*base, "--set", "max_leverage=2")
    assert code == 1 and "error[E501]: --set max_leverage: no such param" in err
    code, _, err = run(*base[:2], example("orders.json"), "--prices", example("prices.json"), "--equity", "1")
    assert code == 2
    code, _, err = run(*base[:2], example("security_master.csv").replace(".csv", ".txt"),
                       *base[3:])
    assert code == 2 and "expected a .json or .csv file" in err
    tiny = str(REPO / "tests" / "fixtures" / "tiny.yaml")  # a DecisionPolicy
    code, _, err = run("limits", tiny, *base[2:])
    assert code == 2 and err == f"policy-engine: {tiny} is not a LimitsPolicy\n"
