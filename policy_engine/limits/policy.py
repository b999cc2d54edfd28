"""A compiled LimitsPolicy: check the inputs, run the limits, build the result.

``CompiledLimits`` is immutable after construction and shared by every call and thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.compiler.plan import PolicyIdentity
from policy_engine.inputs import InputChecker
from policy_engine.limits.book import build_book
from policy_engine.limits.compile import compile_limits_document
from policy_engine.limits.errors import LimitsEvaluationError, LimitsRuleFailure
from policy_engine.limits.plan import LimitsPlan
from policy_engine.limits.result import LimitsResult, build_result, build_trace
from policy_engine.limits.run import LimitsRun
from policy_engine.source import SourceDoc


class CompiledLimits(PolicyIdentity):
    """A limits policy ready to apply. Build it with ``policy_engine.load`` or ``compile_limits_policy``."""

    def __init__(self, plan: LimitsPlan, checker: InputChecker, doc: SourceDoc, overrides: Mapping[str, Any]):
        self.plan, self.checker = plan, checker
        self._doc, self._overrides = doc, dict(overrides)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.plan.params)

    def with_params(self, params: Mapping[str, Any]) -> CompiledLimits:
        """The same policy with more param overrides (recompiled: params are checked like --set)."""
        return compile_limits_policy(self._doc, {**self._overrides, **params})

    def apply(self, orders: Any, current_positions: Any, prices: Any, equity: Any, current_equity: Any = None,
              peak_equity: Any = None, security_master: Any = None) -> LimitsResult:
        """Run every limit in order. Raises LimitsInputError (bad rows), LimitsRuleFailure (a `fail`
        limit breached) or LimitsEvaluationError (an expression failed); nothing is half-applied."""
        book = build_book(self.checker, orders, current_positions, prices, equity, current_equity, peak_equity,
                          security_master, self.plan.master_columns)
        run = LimitsRun(self.plan, book)
        try:
            run.run()
        except (LimitsRuleFailure, LimitsEvaluationError) as failure:
            failure.trace = build_trace(self.plan, run.outcomes, run.call)
            raise
        return build_result(self.plan, book, run)


def compile_limits_policy(doc: SourceDoc, overrides: dict[str, Any]) -> CompiledLimits:
    """The LimitsPolicy kind's compiler (see policy_engine.kinds)."""
    plan, checker = compile_limits_document(doc, overrides)
    return CompiledLimits(plan, checker, doc, overrides)
