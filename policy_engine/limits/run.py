"""The limits engine: the limits of a plan in file order, each on the output of the one before.

Per limit: ``enabled_if`` (off unless true), ``skip_if`` (skipped with its reason), then every
item of its scope (the whole portfolio, each symbol, each group, each order) is checked against
the same snapshot of the live orders, and the action applies to the breached items' orders.
Everything per call lives on a ``LimitsRun``; the plan is shared and never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import fsum, isfinite
from typing import Any

from policy_engine.limits.actions import apply_factor, new_quantity, target_gross_factor, target_qty_factor
from policy_engine.limits.aggregate import (
    PortfolioView,
    SymbolState,
    group_states,
    order_item,
    portfolio_field,
    symbol_states,
)
from policy_engine.limits.book import Book
from policy_engine.limits.errors import LimitsEvaluationError, LimitsRuleFailure
from policy_engine.limits.plan import LimitExpr, LimitNode, LimitsPlan
from policy_engine.limits.tolerance import clamp01, exceeds, reaches

PASSED, REDUCED, BLOCKED, SKIPPED, OFF, FAILED, ERROR = (
    "passed", "reduced", "blocked", "skipped", "off", "failed", "error")


@dataclass
class LimitOutcome:
    node: LimitNode
    status: str
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    changes: list[tuple[int, float, float]] = field(default_factory=list)  # (order, old qty, new qty)


@dataclass
class ScopeItem:
    key: str | None  # symbol, group key or order row; None for the portfolio
    item: dict[str, Any] | None  # the scope's object for expressions
    orders: list[int]  # its live orders
    acted: list[int]  # the orders its action touches
    members: list[SymbolState]  # its symbols, for reduce solving


class LimitsRun:
    def __init__(self, plan: LimitsPlan, book: Book):
        self.plan, self.book = plan, book
        self.qty = list(book.qtys)
        self.live = list(range(len(self.qty)))
        self.call = {"equity": book.equity, "current_equity": book.current_equity,
                     "peak_equity": book.peak_equity, "has_security_master": book.master is not None}
        self.outcomes: list[LimitOutcome] = []
        self.initial_states: dict[str, SymbolState] | None = None  # the proposed orders' post-trade states
        self._states: dict[str, SymbolState] | None = None
        self._dirty: set[str] = set()  # symbols whose orders changed since the states were computed

    def run(self) -> list[LimitOutcome]:
        for node in self.plan.limits:
            try:
                outcome = self._limit(node)
            except LimitsEvaluationError as error:
                self.outcomes.append(LimitOutcome(node, ERROR, None, {"error": str(error)}))
                raise
            self.outcomes.append(outcome)
            if outcome.changes:
                self.live = [i for i in self.live if self.qty[i] > 0.0]
                symbols = self.book.symbols
                self._dirty.update({symbols[i] for i, _, _ in outcome.changes})
        return self.outcomes

    def states(self) -> dict[str, SymbolState]:
        """Symbol states of the live orders; only symbols whose orders changed are recomputed."""
        if self._states is None:
            self._states = symbol_states(self.book, self.qty)
            if not self._dirty and len(self.live) == len(self.qty):
                self.initial_states = self._states
        elif self._dirty:
            fresh = symbol_states(self.book, self.qty, sorted(self._dirty))
            self._states = {name: fresh[name] if name in self._dirty else state
                            for name, state in self._states.items() if name in fresh or name not in self._dirty}
        self._dirty = set()
        return self._states

    # --- one limit ----------------------------------------------------------------------
    def _limit(self, node: LimitNode) -> LimitOutcome:
        portfolio = PortfolioView(lambda key: portfolio_field(key, self.book, self.qty, self.live, self.states))
        if node.enabled_if is not None and not self._condition(node, node.enabled_if, portfolio):
            return LimitOutcome(node, OFF)
        if node.skip_when is not None and self._condition(node, node.skip_when, portfolio):
            return LimitOutcome(node, SKIPPED, node.skip_reason)
        breaches: dict[str | None, dict[str, Any]] = {}
        items = self._items(node)
        seen: dict[str, Any] = {}
        for scope_item in items:
            checked = self._check(node, scope_item, portfolio)
            if checked is not None and scope_item.key is None:
                seen = checked[0]
            if checked is not None and checked[1]:
                breaches[scope_item.key] = checked[0]
        if breaches and node.action == "fail":
            self.outcomes.append(LimitOutcome(node, FAILED, node.reason, self._metrics(node, items, breaches, seen)))
            raise LimitsRuleFailure(node.id, node.reason, [str(key) for key in breaches])
        changes: list[tuple[int, float, float]] = []
        if node.action in ("block", "reduce"):
            for scope_item in items:
                if scope_item.key in breaches:
                    changes += self._act(node, scope_item, portfolio, breaches[scope_item.key])
        return self._outcome(node, self._metrics(node, items, breaches, seen), bool(breaches), changes)

    def _outcome(self, node: LimitNode, metrics: dict[str, Any], breached: bool,
                 changes: list[tuple[int, float, float]]) -> LimitOutcome:
        for i, _, new in changes:
            self.qty[i] = new
        metrics.update(orders_changed=len(changes), orders_dropped=sum(1 for _, _, new in changes if new == 0.0))
        if not changes:
            return LimitOutcome(node, PASSED, node.reason if breached else None, metrics)
        dropped_all = all(new == 0.0 for _, _, new in changes)
        status = BLOCKED if node.action == "block" or dropped_all else REDUCED
        return LimitOutcome(node, status, node.reason, metrics, changes)

    @staticmethod
    def _metrics(node: LimitNode, items: list[ScopeItem], breaches: dict[str | None, dict[str, Any]],
                 portfolio_check: dict[str, Any]) -> dict[str, Any]:
        if node.scope == "portfolio":
            return dict(portfolio_check, breached=bool(breaches))
        return {"checked": len(items), "breached": {str(key): values for key, values in breaches.items()}}

    # --- scope items --------------------------------------------------------------------
    def _items(self, node: LimitNode) -> list[ScopeItem]:
        if node.scope == "portfolio":
            return [self._portfolio_item(node)]
        if node.scope == "order":
            return self._order_items(node)
        states = self.states()
        if node.scope == "symbol":
            chosen = [s for s in states.values() if s.orders or (node.held_too and s.current != 0.0)]
            return [ScopeItem(s.name, s.item(self.book), s.orders,
                              s.inc_orders if node.allow_reducing else s.orders, [s]) for s in chosen]
        if self.book.master is None:
            raise LimitsEvaluationError(node.id, self._where(node), f"group_by {node.group_by}", None,
                                        "a group limit needs a security master (declare skip_if)")
        assert node.group_by is not None
        groups = group_states(states, self.book, node.group_by)
        return [ScopeItem(g.key, g.item(self.book.equity), g.orders, g.inc_orders if node.allow_reducing else g.orders,
                          g.members) for g in groups.values() if g.order_count]

    def _portfolio_item(self, node: LimitNode) -> ScopeItem:
        if not (node.allow_reducing or node.resolver == "target_gross"):
            return ScopeItem(None, None, self.live, self.live, [])
        members = list(self.states().values())
        acted = self.live
        if node.allow_reducing:
            increasing = exceeds(fsum([abs(s.post) * s.close for s in members]),
                                 fsum([abs(s.current) * s.close for s in members]))
            acted = sorted(i for s in members for i in s.inc_orders) if increasing else []
        return ScopeItem(None, None, self.live, acted, members)

    def _order_items(self, node: LimitNode) -> list[ScopeItem]:
        states = self.states()
        items = []
        for i in self.live:
            state = states[self.book.symbols[i]]
            item = order_item(i, self.book, self.qty[i], state)
            acted = [i] if item["increasing"] or not node.allow_reducing else []
            items.append(ScopeItem(str(i), item, [i], acted, [state]))
        return items

    # --- checks and actions -------------------------------------------------------------
    def _check(self, node: LimitNode, si: ScopeItem, portfolio: PortfolioView) -> tuple[dict[str, Any], bool] | None:
        """The check's metrics and whether it is breached; None when the item has no cap."""
        orders = self._orders(node, si)
        if node.breach_if is not None:
            hit = self._call(node, node.breach_if, si, orders, portfolio)
            if not isinstance(hit, bool):
                raise self._error(node, node.breach_if, si, f"gave {hit!r}, not true or false")
            return {}, hit
        assert node.measure is not None and node.cap is not None
        measure = self._number(node, node.measure, si, self._call(node, node.measure, si, orders, portfolio))
        cap = self._call(node, node.cap, si, orders, portfolio)
        if isinstance(cap, dict):
            if si.key is None:
                raise self._error(node, node.cap, si, "a map of caps needs a symbol or group scope")
            cap = cap.get(si.key)
            if cap is None:
                return None  # a key the map does not list has no cap
        cap = self._number(node, node.cap, si, cap)
        hit = exceeds(measure, cap) if node.comparison == "above" else reaches(measure, cap)
        return {"measure": measure, "cap": cap}, hit

    def _act(self, node: LimitNode, si: ScopeItem, portfolio: PortfolioView,
             breach: dict[str, Any]) -> list[tuple[int, float, float]]:
        if not si.acted:
            return []
        qty = self.qty
        if node.action == "block":
            return [(i, qty[i], 0.0) for i in si.acted]
        assert node.resolve is not None
        value = self._call(node, node.resolve, si, self._orders(node, si), portfolio,
                           breach.get("cap"), breach.get("measure"))
        value = self._number(node, node.resolve, si, value)
        signs = self.book.signs
        if node.resolver == "target_qty" and node.scope == "order":
            breach["target"] = value
            i = si.acted[0]
            new = new_quantity(qty[i], min(max(value, 0.0), qty[i]), node.rounding)
            return [(i, qty[i], new)] if new != qty[i] else []
        if node.resolver == "scale":
            factor = clamp01(value)
        elif node.resolver == "target_qty":
            factor = target_qty_factor(value, si.members[0], si.acted, signs, qty)
        else:
            factor = target_gross_factor(value, si.members, set(si.acted), signs, qty)
        if node.resolver != "scale":
            breach["target"] = value
        breach["factor"] = factor
        return apply_factor(si.acted, qty, factor, node.rounding)

    # --- expression calls ---------------------------------------------------------------
    def _orders(self, node: LimitNode, si: ScopeItem) -> list[dict[str, Any]] | None:
        if not node.reads_orders:
            return None
        states = self.states()
        return [order_item(i, self.book, self.qty[i], states[self.book.symbols[i]]) for i in si.orders]

    def _condition(self, node: LimitNode, expr: LimitExpr, portfolio: PortfolioView) -> bool:
        empty = ScopeItem(None, None, [], [], [])
        value = self._call(node, expr, empty, None, portfolio)
        if not isinstance(value, bool):
            raise self._error(node, expr, empty, f"gave {value!r}, not true or false")
        return value

    def _call(self, node: LimitNode, expr: LimitExpr, si: ScopeItem, orders: Any, portfolio: PortfolioView,
              cap: Any = None, measure: Any = None) -> Any:
        try:
            return expr.fn(si.item, orders, portfolio, self.call, cap, measure)
        except Exception as exc:  # fail closed: the whole call fails, nothing is applied
            raise self._error(node, expr, si, f"{type(exc).__name__}: {exc}") from exc

    def _number(self, node: LimitNode, expr: LimitExpr, si: ScopeItem, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isfinite(value):
            raise self._error(node, expr, si, f"gave {value!r}, not a finite number")
        return float(value)

    def _where(self, node: LimitNode) -> str:
        return f"{self.plan.info.file}:{node.line}"

    def _error(self, node: LimitNode, expr: LimitExpr, si: ScopeItem, problem: str) -> LimitsEvaluationError:
        return LimitsEvaluationError(node.id, self._where(node), expr.text, si.key, problem)
