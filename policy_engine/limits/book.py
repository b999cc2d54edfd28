"""Inputs -> a Book: every row checked, every problem named by its row, nothing applied yet.

First the policy's input schema (the compiled checker: types, NaN, qty and price > 0, side,
equity > 0, date-times), then what a schema cannot say (contract reading 17): duplicate order
ids, an order or a held position without a price, ambiguous latest closes, symbols missing from
the security master. Any problem raises ``LimitsInputError`` with all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from policy_engine.inputs import InputChecker
from policy_engine.limits.errors import (
    INPUT_AMBIGUOUS_PRICE,
    INPUT_DUPLICATE_ORDER_ID,
    INPUT_DUPLICATE_POSITION,
    INPUT_DUPLICATE_SECURITY,
    INPUT_INVALID,
    INPUT_NO_PRICE,
    INPUT_NOT_IN_SECURITY_MASTER,
    InputProblem,
    LimitsInputError,
)
from policy_engine.limits.tables import Table, read_table

SIGN = {"BUY": 1, "SELL": -1}
_ISSUE_PATH = re.compile(r"^\$\.(\w+)(?:\[(\d+)\])?(?:\.(\w+)|\['(.*)'\])?")


@dataclass(frozen=True)
class Book:
    orders: Table
    symbols: list[str]  # per order
    signs: list[int]  # +1 BUY, -1 SELL
    qtys: list[float]
    prices: list[float]
    current: dict[str, float]  # held quantity per symbol (signed)
    closes: dict[str, float]  # latest close per symbol (reading 3)
    master: dict[str, dict[str, Any]] | None  # symbol -> its declared security-master columns (not symbol)
    equity: float
    current_equity: float | None
    peak_equity: float | None
    by_symbol: dict[str, list[int]]  # the orders of each symbol, in input order

    @property
    def held(self) -> list[str]:
        return [symbol for symbol, qty in self.current.items() if qty != 0]


def build_book(checker: InputChecker, orders: Any, positions: Any, prices: Any, equity: Any,
               current_equity: Any, peak_equity: Any, security_master: Any, master_columns: tuple[str, ...]) -> Book:
    problems: list[InputProblem] = []
    tables = {name: read_table(name, value, problems) for name, value in
              (("orders", orders), ("positions", positions), ("prices", prices),
               ("security_master", security_master))}
    if problems:
        raise LimitsInputError(problems)
    data: dict[str, Any] = {name: table.rows for name, table in tables.items()}
    if security_master is None:
        data["security_master"] = None
    data.update(equity=_scalar(equity), current_equity=_scalar(current_equity), peak_equity=_scalar(peak_equity))
    normalized, issues = checker.check(data)
    if issues:
        raise LimitsInputError(_issue_problem(issue.json_path, issue.message, tables) for issue in issues)
    assert isinstance(normalized, dict)
    columns = tuple(c for c in master_columns if c != "symbol")
    return _Semantics(normalized, tables, columns if security_master is not None else None).book()


def _scalar(value: Any) -> Any:
    """numpy scalars as Python numbers, so the checker sees ints and floats."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def row_label(table: str, row: dict[str, Any], index: Any = None) -> str:
    """What identifies a row for people: its symbol, order id and DataFrame index label."""
    parts = [str(row["symbol"])] if isinstance(row.get("symbol"), str) else []
    if table == "orders" and row.get("order_id") is not None:
        parts.append(f"order_id {row['order_id']}")
    if index is not None:
        parts.append(f"index {index}")
    return ", ".join(parts)


def _issue_problem(path: str, message: str, tables: dict[str, Table]) -> InputProblem:
    match = _ISSUE_PATH.match(path)
    if match is None:
        return InputProblem("input", None, "", INPUT_INVALID, message)
    table, row_text, column = match.group(1), match.group(2), match.group(3) or match.group(4) or ""
    if row_text is None:
        return InputProblem(table, None, column or table, INPUT_INVALID, message)
    row = int(row_text)
    found = tables.get(table)
    raw = found.rows[row] if found is not None and row < len(found.rows) else {}
    if column and column in raw and "unexpected" not in message:
        message = f"{message} (got {raw[column]!r})"
    index = found.row_index(row) if found is not None else None
    return InputProblem(table, row, column, INPUT_INVALID, message, row_label(table, raw, index))


class _Semantics:
    """The checks a schema cannot express, on schema-valid, normalized data."""

    def __init__(self, data: dict[str, Any], tables: dict[str, Table], master_columns: tuple[str, ...] | None):
        self.data, self.tables, self.master_columns = data, tables, master_columns
        self.problems: list[InputProblem] = []

    def problem(self, table: str, row: int, column: str, code: str, message: str) -> None:
        label = row_label(table, self.data[table][row], self.tables[table].row_index(row))
        self.problems.append(InputProblem(table, row, column, code, message, label))

    def book(self) -> Book:
        orders = self.data["orders"]
        self._order_ids(orders)
        current = self._positions()
        closes = self._closes()
        master = self._master(self.master_columns) if self.master_columns is not None else None
        self._coverage(orders, current, closes, master)
        if self.problems:
            raise LimitsInputError(self.problems)
        equity, cur, peak = (self.data[k] for k in ("equity", "current_equity", "peak_equity"))
        symbols = [o["symbol"] for o in orders]
        by_symbol: dict[str, list[int]] = {}
        for index, symbol in enumerate(symbols):
            by_symbol.setdefault(symbol, []).append(index)
        return Book(self.tables["orders"], symbols, [SIGN[o["side"]] for o in orders],
                    [float(o["qty"]) for o in orders], [float(o["price"]) for o in orders], current, closes,
                    master, float(equity), None if cur is None else float(cur), None if peak is None else float(peak),
                    by_symbol)

    def _order_ids(self, orders: list[dict[str, Any]]) -> None:
        seen: dict[Any, int] = {}
        for row, order in enumerate(orders):
            order_id = order.get("order_id")
            if order_id is None:
                continue
            if order_id in seen:
                self.problem("orders", row, "order_id", INPUT_DUPLICATE_ORDER_ID,
                             f"order_id {order_id!r} repeats row {seen[order_id]}")
            seen.setdefault(order_id, row)

    def _positions(self) -> dict[str, float]:
        current: dict[str, float] = {}
        for row, position in enumerate(self.data["positions"]):
            symbol = position["symbol"]
            if symbol in current:
                self.problem("positions", row, "symbol", INPUT_DUPLICATE_POSITION, f"a second position in {symbol}")
                continue
            current[symbol] = float(position["qty"])
        return current

    def _closes(self) -> dict[str, float]:
        """Each symbol's latest close by timestamp (reading 3); two closes at that time are ambiguous."""
        latest: dict[str, tuple[int, float, int]] = {}
        for row, price in enumerate(self.data["prices"]):
            symbol, stamp, close = price["symbol"], price["timestamp"], float(price["close"])
            best = latest.get(symbol)
            if best is None or stamp > best[0]:
                latest[symbol] = (stamp, close, row)
            elif stamp == best[0] and close != best[1]:
                self.problem("prices", row, "close", INPUT_AMBIGUOUS_PRICE,
                             f"close {close!r} and row {best[2]}'s {best[1]!r} share the latest timestamp")
        return {symbol: close for symbol, (_, close, _) in latest.items()}

    def _master(self, columns: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        master: dict[str, dict[str, Any]] = {}
        for row, security in enumerate(self.data["security_master"]):
            if security["symbol"] in master:
                self.problem("security_master", row, "symbol", INPUT_DUPLICATE_SECURITY,
                             f"{security['symbol']} is listed twice")
            master.setdefault(security["symbol"], {column: security.get(column) for column in columns})
        return master

    def _coverage(self, orders: list[dict[str, Any]], current: dict[str, float], closes: dict[str, float],
                  master: dict[str, dict[str, Any]] | None) -> None:
        """Every ordered symbol and every non-zero position has a price (and a security-master row)."""
        first: dict[str, int] = {}
        for row, order in enumerate(orders):
            first.setdefault(order["symbol"], row)
        for symbol, row in first.items():
            self._covered("orders", row, symbol, closes, master)
        for row, position in enumerate(self.data["positions"]):
            symbol = position["symbol"]
            if position["qty"] != 0 and symbol not in first:
                self._covered("positions", row, symbol, closes, master)

    def _covered(self, table: str, row: int, symbol: str, closes: dict[str, float],
                 master: dict[str, dict[str, Any]] | None) -> None:
        if symbol not in closes:
            self.problem(table, row, "symbol", INPUT_NO_PRICE, f"no price for {symbol}")
        if master is not None and symbol not in master:
            self.problem(table, row, "symbol", INPUT_NOT_IN_SECURITY_MASTER, f"{symbol} is not in the security master")
