"""Evaluating a machine's checked expressions: simpleeval (the reference semantics) over lazy names.

A step is not on a microsecond hot path, so clarity wins: every expression is evaluated by the
language's ``ReferenceEvaluator``. Named values are computed when first read and remembered for
the rest of that evaluation context (``Env``); a new context is built whenever the machine's own
names change (another state in a chain, the names added after the transitions).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from policy_engine.engine.codegen import MISSING
from policy_engine.expr.reference import ReferenceEvaluator
from policy_engine.ir import Path


@dataclass(frozen=True)
class MachineExpr:
    """One checked expression: its text, where it is, its parsed tree and the names it reads."""

    text: str
    path: Path
    location: str  # file:line
    tree: ast.Expression = field(compare=False, repr=False)
    reads: tuple[str, ...] = ()  # dotted names for traces: inputs, machine names, params.X, values
    kind: str = "any"


class ExprFailure(Exception):
    """An expression raised or gave an unusable result; the step turns it into a fail-safe or an error."""

    def __init__(self, rule: str, location: str, message: str):
        self.rule, self.location, self.message = rule, location, message
        super().__init__(f"{location}: {rule}: {message}")


class Env(Mapping[str, Any]):
    """The names one evaluation context reads: fixed names first, then values computed on demand."""

    __slots__ = ("cache", "exprs", "names")

    def __init__(self, names: dict[str, Any], exprs: Mapping[str, MachineExpr]):
        self.names, self.exprs = names, exprs  # fixed names; named values' expressions
        self.cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        if name in self.cache:
            return self.cache[name]
        expr = self.exprs.get(name)
        if expr is None:
            raise KeyError(name)
        value = evaluate(expr, self, name)
        self.cache[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter({**self.names, **dict.fromkeys(self.exprs)})

    def __len__(self) -> int:
        return len(set(self.names) | set(self.exprs))

    def extended(self, extra: dict[str, Any]) -> Env:
        """A context with more fixed names; values already computed stay valid (they cannot read them)."""
        env = Env({**self.names, **extra}, self.exprs)
        env.cache = dict(self.cache)
        return env


def evaluate(expr: MachineExpr, env: Env, rule: str) -> Any:
    """The expression's value; any failure becomes an ExprFailure naming the rule and its location."""
    try:
        value = ReferenceEvaluator(env).evaluate(expr.tree)
    except ExprFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed: whatever an expression raises stops the step
        raise ExprFailure(rule, expr.location, f"{type(exc).__name__}: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprFailure(rule, expr.location, f"'{expr.text}' gave {value!r}, not a finite number")
    return value


def condition(expr: MachineExpr, env: Env, rule: str) -> bool:
    """A condition must be exactly true or false: anything else fails closed."""
    value = evaluate(expr, env, rule)
    if value is not True and value is not False:
        raise ExprFailure(rule, expr.location, f"'{expr.text}' gave {value!r}, not true/false")
    return value


def number(expr: MachineExpr, env: Env, rule: str) -> int | float:
    value = evaluate(expr, env, rule)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprFailure(rule, expr.location, f"'{expr.text}' gave {value!r}, not a number")
    return value


def plain_json(value: Any, rule: str, location: str, depth: int = 0) -> Any:
    """A copy of an expression's result as plain JSON data (lists, string-keyed dicts, finite numbers)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise ExprFailure(rule, location, f"result holds {value!r}, not a finite number")
    if depth > 32:
        raise ExprFailure(rule, location, "result nests too deeply")
    if isinstance(value, (list, tuple)):
        return [plain_json(item, rule, location, depth + 1) for item in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: plain_json(v, rule, location, depth + 1) for k, v in value.items()}
    raise ExprFailure(rule, location, f"result of type {type(value).__name__} is not JSON data")


def lookup(env: Env, params: Mapping[str, Any], dotted: str) -> Any:
    """A read's value as the evaluation saw it, for traces; values never computed show as such."""
    root, *rest = dotted.split(".")
    if root == "params":
        value = params.get(rest[0], MISSING) if rest else MISSING
        rest = rest[1:]
    elif root in env.names:
        value = env.names[root]
    else:
        value = env.cache.get(root, MISSING)
    for part in rest:
        value = value.get(part, MISSING) if isinstance(value, dict) else MISSING
    return value
