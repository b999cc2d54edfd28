"""Bad inputs name their row and apply nothing (contract reading 17); DataFrames in, DataFrames out."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from policy_engine.limits import InputProblem, LimitsInputError, apply_limits

TS = "2024-01-02T21:00:00Z"
PRICES = [{"timestamp": TS, "symbol": "AAPL", "close": 150.0}, {"timestamp": TS, "symbol": "MSFT", "close": 200.0}]
PARAMS = {"turnover_cap": 0.5}


def orders() -> list[dict[str, Any]]:
    return [{"order_id": "o-1", "timestamp": TS, "symbol": "AAPL", "side": "BUY", "qty": 100, "price": 150.0},
            {"order_id": "o-2", "timestamp": TS, "symbol": "MSFT", "side": "SELL", "qty": 50, "price": 200.0}]


def problems(**changes: Any) -> list[InputProblem]:
    args: dict[str, Any] = {"orders": orders(), "current_positions": [], "prices": PRICES, "equity": 10_000}
    args.update(changes)
    before = copy.deepcopy(args)
    with pytest.raises(LimitsInputError) as error:
        apply_limits(**args, params=PARAMS)
    assert args == before or any(isinstance(v, float) and math.isnan(v) for o in args["orders"] for v in o.values())
    return list(error.value.problems)


def with_order(row: int, **fields: Any) -> list[dict[str, Any]]:
    rows = orders()
    rows[row].update(fields)
    return rows


@pytest.mark.parametrize(("fields", "column", "message"), [
    ({"qty": -5}, "qty", "must be > 0 (got -5)"),
    ({"qty": 0}, "qty", "must be > 0 (got 0)"),
    ({"qty": float("nan")}, "qty", "not a finite number (got nan)"),
    ({"price": 0.0}, "price", "must be > 0 (got 0.0)"),
    ({"price": float("nan")}, "price", "not a finite number (got nan)"),
    ({"side": "HOLD"}, "side", 'must be one of ["BUY", "SELL"] (got \'HOLD\')'),
])
def test_a_bad_order_field_names_its_row(fields: dict[str, Any], column: str, message: str) -> None:
    [problem] = problems(orders=with_order(1, **fields))
    assert (problem.table, problem.row, problem.column, problem.code) == ("orders", 1, column, "INPUT_INVALID")
    assert problem.message == message
    assert problem.format_text() == f"orders row 1 (MSFT, order_id o-2): {column}: {message} [INPUT_INVALID]"
    assert problem.json_path == f"$.orders[1].{column}"


def test_an_order_for_a_symbol_without_a_price() -> None:
    [problem] = problems(orders=with_order(1, symbol="TSLA"))
    assert (problem.row, problem.code, problem.message) == (1, "INPUT_NO_PRICE", "no price for TSLA")


def test_duplicate_order_ids() -> None:
    [problem] = problems(orders=with_order(1, order_id="o-1"))
    assert (problem.row, problem.column, problem.code) == (1, "order_id", "INPUT_DUPLICATE_ORDER_ID")
    assert problem.message == "order_id 'o-1' repeats row 0"


@pytest.mark.parametrize("equity", [0, -1.0, float("nan")])
def test_equity_must_be_positive(equity: float) -> None:
    [problem] = problems(equity=equity)
    assert (problem.table, problem.row) == ("equity", None)
    assert problem.format_text().startswith("equity: ")


def test_every_problem_is_reported_sorted_by_row() -> None:
    rows = with_order(0, qty=-1)
    rows[1].update(side="buy", price=-2.0)
    found = problems(orders=rows, equity=-5)
    assert [(p.table, p.row, p.column) for p in found] == [
        ("equity", None, "equity"), ("orders", 0, "qty"), ("orders", 1, "price"), ("orders", 1, "side")]


def test_positions_prices_and_security_master_rows_are_checked() -> None:
    found = problems(current_positions=[{"symbol": "AAPL", "qty": 1}, {"symbol": "AAPL", "qty": 2},
                                        {"symbol": "XOM", "qty": 3}],
                     prices=[*PRICES, {"timestamp": TS, "symbol": "AAPL", "close": 151.0}],
                     security_master=[{"symbol": "AAPL", "sector": "Tech", "region": "US", "currency": "USD"}])
    assert [(p.table, p.row, p.code) for p in found] == [
        ("orders", 1, "INPUT_NOT_IN_SECURITY_MASTER"),
        ("positions", 1, "INPUT_DUPLICATE_POSITION"),
        ("positions", 2, "INPUT_NOT_IN_SECURITY_MASTER"), ("positions", 2, "INPUT_NO_PRICE"),
        ("prices", 2, "INPUT_AMBIGUOUS_PRICE")]


def test_latest_close_wins_and_a_zero_position_needs_no_price() -> None:
    prices = [{"timestamp": "2024-01-03T00:00:00+01:00", "symbol": "AAPL", "close": 10.0},  # 23:00Z: latest
              {"timestamp": "2024-01-02T23:30:00+02:00", "symbol": "AAPL", "close": 20.0}, PRICES[1]]
    result = apply_limits(orders()[:1], [{"symbol": "XOM", "qty": 0}], prices, 10_000)
    assert result.summary["exposure"]["proposed"]["weights"] == {"AAPL": 0.1}


def test_not_a_table() -> None:
    [problem] = problems(orders={"symbol": "AAPL"})
    assert (problem.table, problem.code) == ("orders", "INPUT_NOT_A_TABLE")
    [problem] = problems(orders=[orders()[0], "AAPL"])
    assert (problem.row, problem.code) == (1, "INPUT_NOT_A_TABLE")


def test_inputs_are_not_mutated_and_outputs_are_copies() -> None:
    given = orders()
    result = apply_limits(given, None, PRICES, 10_000, params=PARAMS)
    assert given == orders()
    assert result.filtered_orders == [{**orders()[0], "qty": 20.0}, {**orders()[1], "qty": 10.0}]
    assert result.filtered_orders[0] is not given[0]


def test_determinism_same_inputs_same_outputs() -> None:
    first = apply_limits(orders(), [{"symbol": "AAPL", "qty": 3}], PRICES, 10_000, params=PARAMS)
    second = apply_limits(orders(), [{"symbol": "AAPL", "qty": 3}], PRICES, 10_000, params=PARAMS)
    assert first.to_dict() == second.to_dict() and first.trace == second.trace


# --- pandas -------------------------------------------------------------------------------------
def test_dataframes_in_dataframes_out() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(orders(), index=[10, 11]).assign(timestamp=pd.to_datetime([TS, TS], utc=True), tag="x")
    positions = pd.DataFrame({"symbol": ["AAPL"], "qty": [5]})
    prices = pd.DataFrame(PRICES).assign(timestamp=lambda f: pd.to_datetime(f["timestamp"]))
    result = apply_limits(frame, positions, prices, 10_000.0, params=PARAMS)
    assert isinstance(result.filtered_orders, pd.DataFrame)
    assert list(result.filtered_orders.index) == [10, 11]
    assert list(result.filtered_orders.columns) == list(frame.columns)
    assert result.filtered_orders["qty"].tolist() == [20.0, 10.0]
    assert result.filtered_orders["timestamp"].tolist() == frame["timestamp"].tolist()
    assert frame["qty"].tolist() == [100, 50]  # the caller's frame is untouched
    as_lists = apply_limits(orders(), [{"symbol": "AAPL", "qty": 5}], PRICES, 10_000, params=PARAMS)
    assert result.reduced_orders == as_lists.reduced_orders and result.summary == as_lists.summary


def test_dataframe_problems_name_the_row_and_its_index() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(with_order(1, qty=float("nan")), index=["a", "b"])
    with pytest.raises(LimitsInputError) as error:
        apply_limits(frame, pd.DataFrame({"symbol": [], "qty": []}), pd.DataFrame(PRICES), 10_000)
    assert error.value.problems[0].format_text() == (
        "orders row 1 (MSFT, order_id o-2, index b): qty: not a finite number (got nan) [INPUT_INVALID]")


def test_naive_timestamps_are_utc_and_unchanged_orders_keep_their_values() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(orders()).assign(timestamp=pd.Timestamp("2024-01-02 21:00"))
    result = apply_limits(frame, None, pd.DataFrame(PRICES), 10_000)
    assert result.filtered_orders.equals(frame)
    assert result.filtered_rows[0]["timestamp"] == "2024-01-02T21:00:00.000000Z"
