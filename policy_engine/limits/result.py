"""What a limits call returns: filtered orders, one record per change, a summary and a trace.

Contract reading 16: ``reduced_orders`` holds one entry per order per limit that changed it
(rule, reason, symbol, side, row, order_id, old_qty, new_qty); ``summary`` holds every limit's
status (passed, reduced, blocked, skipped + reason, off) and its metrics, plus the post-trade
exposure of the proposed and of the filtered orders. The trace is built after the fact from the
outcomes the run records anyway: one step per limit, no extra work while the limits run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from math import fsum
from typing import Any

from policy_engine.limits.aggregate import SymbolState, symbol_states
from policy_engine.limits.book import Book
from policy_engine.limits.plan import LimitsPlan
from policy_engine.limits.run import ERROR, OFF, SKIPPED, LimitOutcome, LimitsRun
from policy_engine.limits.tables import orders_out, rows_out
from policy_engine.trace import Trace, TraceStep


@dataclass(frozen=True)
class LimitsResult:
    filtered_orders: Any  # the same type as the orders given: a list of dicts or a DataFrame
    reduced_orders: list[dict[str, Any]]
    summary: dict[str, Any]
    trace: Trace
    _rows: Callable[[], list[dict[str, Any]]] = field(repr=False, compare=False, default=list)

    @cached_property
    def filtered_rows(self) -> list[dict[str, Any]]:
        """The filtered orders as JSON-ready rows (timestamps as text), built when first read."""
        return self._rows()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``policy-engine limits --format json``): plain data, byte-stable."""
        return {"filtered_orders": self.filtered_rows, "reduced_orders": self.reduced_orders, "summary": self.summary}


def build_result(plan: LimitsPlan, book: Book, run: LimitsRun) -> LimitsResult:
    kept = run.live
    new_qty = {i: run.qty[i] for i in kept if run.qty[i] != book.qtys[i]}
    reduced = reduced_records(book, run.outcomes)
    summary = {
        "policy": {"id": plan.info.id, "version": plan.info.version, "content_hash": plan.info.content_hash},
        "orders_in": len(book.qtys), "orders_out": len(kept), "orders_dropped": len(book.qtys) - len(kept),
        "orders_reduced": len(new_qty), "equity": book.equity, "drawdown": drawdown(book),
        "checks": [check_summary(outcome) for outcome in run.outcomes],
        "exposure": {"proposed": exposure(book, run.initial_states or symbol_states(book, book.qtys)),
                     "filtered": exposure(book, run.states())},
    }
    return LimitsResult(orders_out(book.orders, kept, new_qty), reduced, summary,
                        build_trace(plan, run.outcomes, run.call), partial(rows_out, book.orders, kept, new_qty))


def reduced_records(book: Book, outcomes: list[LimitOutcome]) -> list[dict[str, Any]]:
    rows, symbols, signs = book.orders.rows, book.symbols, book.signs
    records = []
    for outcome in outcomes:
        rule, reason = outcome.node.id, outcome.reason
        records += [{"rule": rule, "reason": reason, "symbol": symbols[i], "side": "BUY" if signs[i] > 0 else "SELL",
                     "row": i, "order_id": rows[i].get("order_id"), "old_qty": old, "new_qty": new}
                    for i, old, new in outcome.changes]
    return records


def check_summary(outcome: LimitOutcome) -> dict[str, Any]:
    node = outcome.node
    return {"rule": node.id, "scope": node.scope, "action": node.action, "status": outcome.status,
            "reason": outcome.reason, "metrics": outcome.metrics}


def drawdown(book: Book) -> float | None:
    if book.current_equity is None or book.peak_equity is None:
        return None
    return 1 - book.current_equity / book.peak_equity


def exposure(book: Book, states: dict[str, SymbolState]) -> dict[str, Any]:
    """Post-trade gross, net and per-symbol weights, and the orders' turnover."""
    exposures = {name: s.post * s.close for name, s in states.items()}
    gross, net = fsum([abs(e) for e in exposures.values()]), fsum(exposures.values()) + 0.0
    order_notional = fsum([s.order_notional for s in states.values()])
    equity = book.equity
    return {"gross": gross, "net": net, "gross_weight": gross / equity, "net_weight": net / equity,
            "order_notional": order_notional, "turnover": order_notional / equity,
            "weights": {name: e / equity + 0.0 for name, e in exposures.items()}}


# --- trace ---------------------------------------------------------------------------------
def build_trace(plan: LimitsPlan, outcomes: list[LimitOutcome], call: dict[str, Any]) -> Trace:
    return Trace(tuple(_step(plan, outcome, call) for outcome in outcomes))


def _step(plan: LimitsPlan, outcome: LimitOutcome, call: dict[str, Any]) -> TraceStep:
    node = outcome.node
    reads = tuple((name, plan.params[name[7:]] if name.startswith("params.") else call[name]) for name in node.reads)
    message = outcome.reason or ""
    return TraceStep(node.id, "limit", f"{plan.info.file}:{node.line}", f"{node.scope}: {node.check_text}", reads,
                     _result(outcome), outcome.status, message, _detail(outcome))


def _result(outcome: LimitOutcome) -> Any:
    metrics = outcome.metrics
    if outcome.status in (OFF, SKIPPED, ERROR):
        return None
    if outcome.node.scope == "portfolio":
        return {k: metrics[k] for k in ("measure", "cap", "factor", "breached") if k in metrics}
    return {"checked": metrics.get("checked", 0), "breached": len(metrics.get("breached", {}))}


def _detail(outcome: LimitOutcome) -> str:
    if outcome.status == OFF:
        return "enabled_if is false"
    if outcome.status == SKIPPED:
        return f"skip_if is true: {outcome.reason}"
    if outcome.status == ERROR:
        return str(outcome.metrics["error"])
    metrics, node = outcome.metrics, outcome.node
    if node.scope == "portfolio":
        head = "breached" if metrics.get("breached") else "within the limit"
    else:
        noun = {"symbol": "symbols", "group": f"{node.group_by} groups", "order": "orders"}[node.scope]
        head = f"{len(metrics.get('breached', {}))} of {metrics.get('checked', 0)} {noun} breached"
    changed = metrics.get("orders_changed", 0)
    if not changed:
        return head
    return f"{head}; {changed} order{'s' if changed != 1 else ''} changed, {metrics.get('orders_dropped', 0)} dropped"
