"""The compiled limits: every expression checked and turned into a closure, in file order.

A LimitsPlan is frozen and shared by every call (and every thread); per-call state lives in
``run.LimitsRun``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policy_engine.compiler.plan import PolicyInfo
from policy_engine.limits.names import ExprFn


@dataclass(frozen=True)
class LimitExpr:
    """One checked expression of a limit, ready to call."""

    text: str
    fn: ExprFn
    reads: tuple[str, ...]  # params and call scalars it reads, for traces
    source: str  # the generated Python, for tests and debugging


@dataclass(frozen=True)
class LimitNode:
    id: str
    line: int
    description: str
    scope: str  # order | symbol | group | portfolio
    group_by: str | None
    held_too: bool  # symbol scope: also check symbols with a non-zero position and no orders
    enabled_if: LimitExpr | None
    skip_when: LimitExpr | None
    skip_reason: str
    measure: LimitExpr | None
    cap: LimitExpr | None
    comparison: str  # above | at_least | breach_if
    breach_if: LimitExpr | None
    action: str  # pass | reduce | block | fail
    resolver: str | None  # scale | target_qty | target_gross (reduce only)
    resolve: LimitExpr | None
    rounding: str  # none | toward_zero
    allow_reducing: bool
    reason: str
    reads_orders: bool  # some expression reads `orders`: build the scope's order list

    @property
    def check_text(self) -> str:
        if self.breach_if is not None:
            return self.breach_if.text
        assert self.measure is not None and self.cap is not None
        op = ">" if self.comparison == "above" else ">="
        return f"{self.measure.text} {op} {self.cap.text}"

    @property
    def exprs(self) -> tuple[LimitExpr, ...]:
        found = (self.enabled_if, self.skip_when, self.measure, self.cap, self.breach_if, self.resolve)
        return tuple(e for e in found if e is not None)

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(sorted({name for expr in self.exprs for name in expr.reads}))


@dataclass(frozen=True)
class LimitsPlan:
    info: PolicyInfo
    params: dict[str, Any]
    limits: tuple[LimitNode, ...]
    master_columns: tuple[str, ...]  # the security master's columns (group_by and symbol fields)

    def limit(self, rule: str) -> LimitNode:
        return next(node for node in self.limits if node.id == rule)
