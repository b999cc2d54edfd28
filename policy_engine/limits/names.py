"""The names a limit's expressions may read, and the closures they compile to.

Every expression of a limit is checked once with ``expr.language.analyze`` against a Scope that
holds exactly the names its evaluation provides, then rendered by ``ExprCodegen`` into one small
Python function with the same signature for every expression::

    def f(item, orders, portfolio, call, cap, measure): return <rendered expression>

``item`` is the scope's object (``order``, ``symbol`` or ``group``: a dict), ``orders`` the
scope's live orders (built only for limits that read ``orders``), ``portfolio`` a lazily filled
dict of portfolio aggregates, ``call`` the per-call scalars (equity, ...), and ``cap`` /
``measure`` the check's values for the item, read by the reduce expressions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policy_engine.expr.codegen import HELPERS, ExprCodegen
from policy_engine.expr.functions import FUNCTIONS
from policy_engine.expr.language import ANY, BOOL, NUM, Analysis, Scope

NUMBER: dict[str, Any] = {"type": "number"}
INTEGER: dict[str, Any] = {"type": "integer"}
STRING: dict[str, Any] = {"type": "string"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}

ORDER_FIELDS: dict[str, dict[str, Any]] = {
    "symbol": STRING, "side": STRING, "qty": NUMBER, "price": NUMBER,
    "notional": NUMBER,  # qty x the order's own price
    "delta": NUMBER,  # signed qty: + BUY, - SELL
    "row": INTEGER,  # 0-based position in the orders given
    "increasing": BOOLEAN,  # the order increases its symbol's absolute exposure
}
SYMBOL_FIELDS: dict[str, dict[str, Any]] = {
    "name": STRING, "close": NUMBER, "current_qty": NUMBER, "delta": NUMBER, "post_qty": NUMBER,
    "current_notional": NUMBER, "post_notional": NUMBER, "current_weight": NUMBER, "post_weight": NUMBER,
    "order_notional": NUMBER, "order_count": INTEGER, "direction": INTEGER,
    "increasing_delta": NUMBER, "reducing_delta": NUMBER,
}
GROUP_FIELDS: dict[str, dict[str, Any]] = {
    "key": STRING, "symbol_count": INTEGER, "order_count": INTEGER, "order_notional": NUMBER,
    "current_gross": NUMBER, "current_gross_weight": NUMBER, "post_gross": NUMBER, "post_gross_weight": NUMBER,
    "post_net": NUMBER, "post_net_weight": NUMBER,
}
PORTFOLIO_FIELDS: dict[str, dict[str, Any]] = {
    "order_count": INTEGER, "order_notional": NUMBER, "turnover": NUMBER,
    "current_gross": NUMBER, "current_net": NUMBER, "post_gross": NUMBER, "post_net": NUMBER,
    "post_gross_weight": NUMBER, "post_net_weight": NUMBER,
}
CALL_NAMES = {"equity": NUM, "current_equity": ANY, "peak_equity": ANY, "has_security_master": BOOL}
CHECK_NAMES = {"cap": NUM, "measure": NUM}
SCOPE_ROOT = {"order": "order", "symbol": "symbol", "group": "group", "portfolio": None}

ExprFn = Callable[[Any, Any, Any, Any, Any, Any], Any]


def _object(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "object", "properties": fields}


def limit_scope(scope: str, params: dict[str, Any], master_columns: tuple[str, ...], *,
                item: bool, check_names: tuple[str, ...] = ()) -> Scope:
    """The names of one expression: ``item`` false for enabled_if / skip_if (no scope object)."""
    inputs: dict[str, dict[str, Any]] = {"portfolio": _object(PORTFOLIO_FIELDS)}
    if item:
        root = SCOPE_ROOT[scope]
        if root == "symbol":
            columns = {name: NULLABLE_STRING for name in master_columns if name != "symbol"}
            inputs["symbol"] = _object({**SYMBOL_FIELDS, **columns})
        elif root is not None:
            inputs[root] = _object(ORDER_FIELDS if root == "order" else GROUP_FIELDS)
        if scope != "order":
            inputs["orders"] = {"type": "array", "items": _object(ORDER_FIELDS)}
    extra = dict(CALL_NAMES)
    extra.update({name: CHECK_NAMES[name] for name in check_names})
    return Scope(inputs, params, {}, extra)


class _Renderer:
    """The NameRenderer of ``ExprCodegen`` for limit closures."""

    def __init__(self, scope: Scope, namespace: dict[str, Any]):
        self.scope, self.namespace = scope, namespace

    def is_input(self, name: str) -> bool:
        return name in self.scope.inputs

    def is_extra(self, name: str) -> bool:
        return name in self.scope.extra

    def input_root(self, name: str) -> str:
        return name if name in ("orders", "portfolio") else "item"

    def extra(self, name: str) -> str:
        return f"call[{name!r}]" if name in CALL_NAMES else name

    def param(self, name: str) -> str:
        # A name, not a literal: `params.x is not None` must not become `0.1 is not None`.
        value = self.scope.params[name]
        key = f"P_{name}"
        self.namespace[key] = tuple(value) if isinstance(value, list) else value
        return key

    def value(self, name: str, conditional: bool) -> str:
        raise AssertionError(f"limits have no named values ('{name}')")  # refused by analyze


def build_closure(analysis: Analysis, scope: Scope, label: str) -> tuple[ExprFn, str]:
    """One checked expression -> a Python function and its source (for tests and debugging)."""
    namespace: dict[str, Any] = {f"F_{name}": fn for name, fn in FUNCTIONS.items()}
    namespace.update(HELPERS)
    body = ExprCodegen(_Renderer(scope, namespace), analysis.node_kinds).render(analysis.tree)
    source = f"def f(item, orders, portfolio, call, cap, measure):\n    return {body}\n"
    namespace["__builtins__"] = {}
    exec(compile(source, f"<limit {label}>", "exec"), namespace)  # noqa: S102 - rendered from a checked tree
    function: ExprFn = namespace["f"]
    return function, source


def reads_of(analysis: Analysis) -> tuple[str, ...]:
    """The per-call names an expression reads, for traces: params and the call's scalars."""
    names = {f"params.{name}" for name in analysis.param_refs}
    names |= {path[0] for path in analysis.input_paths if path[0] in CALL_NAMES}
    return tuple(sorted(names))


def reads_root(analysis: Analysis, root: str) -> bool:
    return any(path[0] == root for path in analysis.input_paths)
