"""Post-trade aggregates per symbol, per group and for the portfolio, from the live orders.

Computed once per limit (and reused while no limit changes an order), never per order. Sums are
exactly rounded (``math.fsum``), so they do not depend on the order of the input rows
(contract reading 15). Post-trade quantity = current + sum(BUY) - sum(SELL) (reading 5);
exposures use the latest close (reading 3), order notionals the order's own price.

An order *increases exposure* when its symbol's absolute post-trade quantity exceeds the
absolute current one and the order points the same way as the post-trade position; limits with
``allow_reducing`` act on those orders only (reading 8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import fsum
from typing import Any

from policy_engine.limits.book import Book
from policy_engine.limits.tolerance import exceeds, sign


@dataclass(slots=True)
class SymbolState:
    name: str
    close: float
    current: float
    orders: list[int]  # live orders, in input order
    delta: float  # signed sum of the live orders
    post: float
    direction: int  # sign of the post-trade quantity
    increasing: bool  # |post| > |current|
    inc_orders: list[int]  # the orders that increase exposure
    inc_delta: float
    order_notional: float  # sum |qty x order price|

    def item(self, book: Book) -> dict[str, Any]:
        """The ``symbol`` of expressions."""
        close, equity = self.close, book.equity
        row: dict[str, Any] = {
            "name": self.name, "close": close, "current_qty": self.current, "delta": self.delta,
            "post_qty": self.post, "current_notional": self.current * close, "post_notional": self.post * close,
            "current_weight": self.current * close / equity, "post_weight": self.post * close / equity,
            "order_notional": self.order_notional, "order_count": len(self.orders), "direction": self.direction,
            "increasing_delta": self.inc_delta, "reducing_delta": self.delta - self.inc_delta,
        }
        if book.master is not None:
            row.update(book.master[self.name])
        return row


@dataclass(slots=True)
class GroupState:
    key: str
    members: list[SymbolState]
    current_gross: float
    post_gross: float
    post_net: float
    order_notional: float
    order_count: int

    @property
    def increasing(self) -> bool:
        return exceeds(self.post_gross, self.current_gross)

    @property
    def orders(self) -> list[int]:
        return sorted(i for member in self.members for i in member.orders)

    @property
    def inc_orders(self) -> list[int]:
        return sorted(i for member in self.members for i in member.inc_orders) if self.increasing else []

    def item(self, equity: float) -> dict[str, Any]:
        """The ``group`` of expressions."""
        return {
            "key": self.key, "symbol_count": len(self.members), "order_count": self.order_count,
            "order_notional": self.order_notional, "current_gross": self.current_gross,
            "current_gross_weight": self.current_gross / equity, "post_gross": self.post_gross,
            "post_gross_weight": self.post_gross / equity, "post_net": self.post_net,
            "post_net_weight": self.post_net / equity,
        }


def symbol_states(book: Book, qty: list[float], names: Iterable[str] | None = None) -> dict[str, SymbolState]:
    """Every symbol with live orders or a non-zero position, by name (or just ``names``)."""
    states: dict[str, SymbolState] = {}
    for name in sorted(book.by_symbol.keys() | set(book.held)) if names is None else names:
        state = symbol_state(book, qty, name)
        if state is not None:
            states[name] = state
    return states


def symbol_state(book: Book, qty: list[float], name: str) -> SymbolState | None:
    """One symbol's post-trade state from its live orders (qty > 0); None when it has none and holds nothing."""
    orders = [i for i in book.by_symbol.get(name, ()) if qty[i] > 0.0]
    current = book.current.get(name, 0.0)
    if not orders and current == 0.0:
        return None
    signs = book.signs
    deltas = [signs[i] * qty[i] for i in orders]
    delta = fsum(deltas)
    post = current + delta + 0.0
    direction = sign(post, max(abs(delta), abs(current)))
    increasing = exceeds(abs(post), abs(current))
    if increasing:
        inc = [i for i, d in zip(orders, deltas) if (d > 0.0) == (direction > 0)]
        inc_delta = fsum([d for d in deltas if (d > 0.0) == (direction > 0)])
    else:
        inc, inc_delta = [], 0.0
    prices = book.prices
    return SymbolState(name, book.closes[name], current, orders, delta, post, direction, increasing, inc, inc_delta,
                       fsum([qty[i] * prices[i] for i in orders]))


def group_states(states: dict[str, SymbolState], book: Book, column: str) -> dict[str, GroupState]:
    """Groups by a security-master column, by key; each holds all its symbols (held or ordered)."""
    assert book.master is not None
    members: dict[str, list[SymbolState]] = {}
    for state in states.values():
        members.setdefault(str(book.master[state.name][column]), []).append(state)
    groups: dict[str, GroupState] = {}
    for key in sorted(members):
        group = members[key]
        groups[key] = GroupState(
            key, group, fsum([abs(s.current) * s.close for s in group]), fsum([abs(s.post) * s.close for s in group]),
            fsum([s.post * s.close for s in group]), fsum([s.order_notional for s in group]),
            sum(len(s.orders) for s in group))
    return groups


def order_item(i: int, book: Book, qty: float, state: SymbolState) -> dict[str, Any]:
    """The ``order`` of expressions."""
    side_sign = book.signs[i]
    return {"symbol": book.symbols[i], "side": "BUY" if side_sign > 0 else "SELL", "qty": qty,
            "price": book.prices[i], "notional": qty * book.prices[i], "delta": side_sign * qty, "row": i,
            "increasing": state.increasing and side_sign == state.direction}


class PortfolioView(dict):  # type: ignore[type-arg]
    """The ``portfolio`` of expressions: each field computed on first read, then kept."""

    def __init__(self, compute: Callable[[str], Any]):
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> Any:
        value = self[key] = self._compute(key)
        return value


def portfolio_field(key: str, book: Book, qty: list[float], live: list[int],
                    states: Callable[[], dict[str, SymbolState]]) -> float:
    equity, prices = book.equity, book.prices
    if key == "order_count":
        return len(live)
    if key in ("order_notional", "turnover"):
        notional = fsum([qty[i] * prices[i] for i in live])
        return notional / equity if key == "turnover" else notional
    values = list(states().values())
    if key.startswith("current_"):
        exposures = [s.current * s.close for s in values]
    else:
        exposures = [s.post * s.close for s in values]
    total = fsum([abs(e) for e in exposures]) if "gross" in key else fsum(exposures)
    return total / equity if key.endswith("_weight") else total + 0.0
