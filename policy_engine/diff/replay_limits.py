"""Impact replay of a LimitsPolicy: both versions applied to the same recorded limits calls.

A corpus line is one call: ``orders``, ``current_positions`` (or ``positions``), ``prices``,
``equity`` and optionally ``current_equity``, ``peak_equity``, ``security_master`` (tables as lists
of rows, as in ``docs/limits.md``), plus ``params``: the param overrides the call was made with
(``apply_limits(..., params=...)``), applied on top of each version's own params. The call may
also sit under ``input`` (``{"input": {...}, "params": {...}}``, as a scenario case writes it).

Every order of every call gets an outcome on each side: ``passed`` (unchanged), ``reduced`` (kept
with another quantity), ``blocked`` (dropped, by a block or a reduction to zero), or, for the
whole call, ``failed`` (a ``fail`` limit), ``invalid`` (bad input rows), ``error`` (a limit could
not be evaluated). An order flips when its outcome changes (``passed -> blocked``), when both
sides reduce it to different sizes (``size up``, ``size down``), or when the same outcome comes
from other limits (``different limit``). Calls whose limit statuses change without any order
flipping are counted apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policy_engine.diff.records import UNREADABLE
from policy_engine.diff.replay import Example, Flip, Progress, ReplayReport, replay_lines
from policy_engine.diff.steps import first_step_difference
from policy_engine.errors import PolicyError
from policy_engine.limits import CompiledLimits, LimitsEvaluationError, LimitsInputError, LimitsRuleFailure
from policy_engine.trace import Trace, TraceStep

OUTCOMES = ("passed", "reduced", "blocked", "failed", "invalid", "error")
LIMITS_FLIP_ORDER = (*(f"{a} -> {b}" for a in OUTCOMES for b in OUTCOMES if a != b),
                     "size up", "size down", "different limit")
ARGUMENTS = ("orders", "current_positions", "prices", "equity", "current_equity", "peak_equity", "security_master")
REQUIRED = ("orders", "prices", "equity")


@dataclass(frozen=True)
class OrderOutcome:
    outcome: str
    qty: Any  # the quantity after the limits (the original when passed, 0 when blocked)
    rules: tuple[str, ...]  # the limits that changed it, or failed the call
    detail: str = ""  # the call's failure or input problem

    def summary(self) -> str:
        by = f" by {', '.join(self.rules)}" if self.rules else ""
        if self.outcome == "reduced":
            return f"reduced to {_number(self.qty)}{by}"
        if self.outcome == "passed":
            return f"passed ({_number(self.qty)})"
        return f"{self.outcome}{by}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class CallOutcome:
    """One version's answer to one call: an outcome per order, the limit statuses and the trace."""

    orders: tuple[OrderOutcome, ...]
    statuses: tuple[tuple[str, str], ...]
    trace: tuple[TraceStep, ...]


def _number(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (int, float)) else str(value)


def call_of(record: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(call arguments, param overrides) of a corpus record, or None when it is not a limits call."""
    if not isinstance(record, dict):
        return None
    inner = record.get("input")
    body: dict[str, Any] = inner if isinstance(inner, dict) else record
    params = record.get("params") or {}
    call = {key: value for key, value in body.items() if key != "params"}
    if "positions" in call:
        call["current_positions"] = call.pop("positions")
    if set(call) - set(ARGUMENTS) or any(key not in call for key in REQUIRED) or not isinstance(params, dict):
        return None
    call.setdefault("current_positions", [])
    return call, params


def apply_call(policy: CompiledLimits, call: dict[str, Any]) -> CallOutcome:
    orders = call["orders"] if isinstance(call["orders"], list) else []
    try:
        result = policy.apply(**call)
    except LimitsInputError as bad:
        first = bad.problems[0].code if bad.problems else "invalid_input"
        return CallOutcome(tuple(OrderOutcome("invalid", None, (), first) for _ in orders), (), ())
    except (LimitsRuleFailure, LimitsEvaluationError) as failure:
        outcome, reason = ("failed", failure.reason) if isinstance(failure, LimitsRuleFailure) else ("error", str(failure))
        steps = _steps(failure.trace)
        return CallOutcome(tuple(OrderOutcome(outcome, None, (failure.rule,), reason) for _ in orders),
                           tuple((s.rule, s.status) for s in steps), steps)
    changes: dict[int, list[dict[str, Any]]] = {}
    for record in result.reduced_orders:
        changes.setdefault(record["row"], []).append(record)
    return CallOutcome(tuple(_order_outcome(row, changes.get(index, [])) for index, row in enumerate(orders)),
                       tuple((check["rule"], check["status"]) for check in result.summary["checks"]),
                       result.trace.steps)


def _order_outcome(row: Any, changes: list[dict[str, Any]]) -> OrderOutcome:
    if not changes:
        return OrderOutcome("passed", row.get("qty") if isinstance(row, dict) else None, ())
    final = changes[-1]["new_qty"]
    return OrderOutcome("blocked" if final == 0 else "reduced", final, tuple(dict.fromkeys(c["rule"] for c in changes)))


def _steps(trace: Any) -> tuple[TraceStep, ...]:
    return trace.steps if isinstance(trace, Trace) else tuple(trace or ())


def classify_order(old: OrderOutcome, new: OrderOutcome) -> str | None:
    if old.outcome != new.outcome:
        return f"{old.outcome} -> {new.outcome}"
    if old.outcome == "reduced" and old.qty != new.qty:
        return "size up" if new.qty > old.qty else "size down"
    return "different limit" if old.rules != new.rules else None


class _Versions:
    """Both versions, each compiled once per set of call params."""

    def __init__(self, old: CompiledLimits, new: CompiledLimits):
        self.base = (old, new)
        self.compiled: dict[str, tuple[CompiledLimits, CompiledLimits]] = {}

    def with_params(self, params: Mapping[str, Any]) -> tuple[CompiledLimits, CompiledLimits]:
        if not params:
            return self.base
        key = json.dumps(params, sort_keys=True, default=repr)
        if key not in self.compiled:
            self.compiled[key] = (self.base[0].with_params(params), self.base[1].with_params(params))
        return self.compiled[key]


def replay_limits_corpus(old: CompiledLimits, new: CompiledLimits, corpus: str, examples: int = 3,
                         progress: Progress | None = None) -> ReplayReport:
    """Apply both versions to every call of ``corpus``; see the module docstring. A call whose
    params one version does not accept (a param it lacks) is reported as unreadable."""
    started = time.perf_counter()
    report = ReplayReport(corpus, kind="LimitsPolicy", order=LIMITS_FLIP_ORDER, unit="orders", compared=0,
                          quiet_label="calls whose limit statuses changed without a flip")
    versions = _Versions(old, new)
    shown: dict[str, int] = {}
    replay_lines(corpus, progress, lambda entry: _replay_call(report, versions, entry, shown, examples))
    report.seconds = time.perf_counter() - started
    return report


def _replay_call(report: ReplayReport, versions: _Versions, entry: Any, shown: dict[str, int], examples: int) -> None:
    found = call_of(entry.value) if entry.value is not UNREADABLE else None
    if found is None:
        report.unreadable.append(entry.line)
        return
    call, params = found
    try:
        old_policy, new_policy = versions.with_params(params)
    except PolicyError:
        report.unreadable.append(entry.line)
        return
    old, new = apply_call(old_policy, call), apply_call(new_policy, call)
    report.records += 1
    report.compared = (report.compared or 0) + len(old.orders)
    flipped = False
    for index, (before, after) in enumerate(zip(old.orders, new.orders)):
        category = classify_order(before, after)
        if category is None:
            continue
        flipped = True
        flip = Flip(entry.line, entry.offset, category, before.summary(), after.summary(), _subject(call, index))
        report.flips.append(flip)
        if shown.get(category, 0) < examples:
            shown[category] = shown.get(category, 0) + 1
            report.examples.append(Example(flip, first_step_difference(old.trace, new.trace, ("limit",))))
    report.warnings_changed += not flipped and sorted(old.statuses) != sorted(new.statuses)  # a reorder alone is no change


def _subject(call: dict[str, Any], index: int) -> str:
    row = call["orders"][index] if isinstance(call["orders"], list) else {}
    row = row if isinstance(row, dict) else {}
    name = row.get("order_id") or f"row {index}"
    return f"order {name}" + (f" ({row['symbol']})" if row.get("symbol") else "")
