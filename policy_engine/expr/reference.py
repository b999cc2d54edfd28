"""The reference evaluator: simpleeval itself, configured with the language's functions.

The compiled fast path (``codegen``) must agree with this evaluator on every expression; tests
compare the two on generated inputs. It is also what the engine uses to pinpoint which named
value raised when a compiled decision fails. It is slow on purpose: clarity over speed.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Mapping

from simpleeval import EvalWithCompoundTypes

from policy_engine.expr.codegen import REFERENCE_OPERATORS
from policy_engine.expr.functions import FUNCTIONS


class ReferenceEvaluator(EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval with dict-only attribute access and the language's function table."""

    def __init__(self, names: Mapping[str, Any] | Callable[[ast.Name], Any]):
        super().__init__(operators=dict(REFERENCE_OPERATORS), functions=dict(FUNCTIONS), names=names)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        # Inputs are JSON data: a.b reads a key, never a Python attribute.
        container = self._eval(node.value)
        if isinstance(container, dict):
            return container[node.attr]
        raise TypeError(f"cannot read field '{node.attr}' of {type(container).__name__}")

    def _eval_call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in self.functions:
            raise NameError("unknown function")
        function = self.functions[node.func.id]
        args = [self._eval(arg) for arg in node.args]
        kwargs = {kw.arg: self._eval(kw.value) for kw in node.keywords if kw.arg}
        return function(*args, **kwargs)

    def evaluate(self, tree: ast.Expression) -> Any:
        return self.eval("<compiled>", previously_parsed=tree.body)
