"""Checked expression trees -> Python source, for the compiled fast path.

Only trees that passed ``language.analyze`` reach this module, so every node is on the
whitelist and every name is resolved. The generated text is built from the tree's own nodes and
from names this module invents; constants are emitted with ``repr`` (numbers, strings, booleans,
None), never spliced from policy text. Inputs are JSON data, so ``a.b`` becomes ``a['b']``:
attribute access never reaches Python objects.

Arithmetic whose operands are not both proven numbers goes through guarded helpers that bound
string and list repetition and powers (the only ways a short expression can build a huge value).
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from policy_engine.expr.functions import SNAP_DIGITS, US_PER_HOUR, US_PER_MINUTE, US_PER_MS
from policy_engine.expr.language import MAX_POWER, MAX_SEQUENCE, NUM, input_path_of


class NameRenderer(Protocol):
    """How the caller wants names read: values, inputs, params and engine names."""

    def is_input(self, name: str) -> bool: ...
    def is_extra(self, name: str) -> bool: ...
    def value(self, name: str, conditional: bool) -> str: ...
    def input_root(self, name: str) -> str: ...
    def param(self, name: str) -> str: ...
    def extra(self, name: str) -> str: ...


def _check_size(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_SEQUENCE:
        raise ValueError(f"result of {len(value)} items exceeds the limit {MAX_SEQUENCE}")
    return value


def safe_mul(a: Any, b: Any) -> Any:
    if type(a) is float or type(b) is float:  # no repetition (a sequence times a float fails as it is)
        return a * b
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
            if len(seq) * max(count, 0) > MAX_SEQUENCE:
                raise ValueError(f"repetition to {len(seq) * count} items exceeds the limit {MAX_SEQUENCE}")
    return a * b


def safe_pow(a: Any, b: Any) -> Any:
    if isinstance(b, (int, float)) and abs(b) > MAX_POWER:
        raise ValueError(f"power {b} exceeds the limit {MAX_POWER}")
    if isinstance(a, (int, float)) and abs(a) > 1e15:
        raise ValueError("base of a power is too large")
    return a**b


def safe_mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        raise ValueError("string formatting with % is not allowed")
    return a % b


def safe_add(a: Any, b: Any) -> Any:
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):  # a number, or a TypeError
        return a + b
    return _check_size(a + b)


HELPERS: dict[str, Callable[..., Any]] = {
    "_mul": safe_mul, "_pow": safe_pow, "_mod": safe_mod, "_add": safe_add,
    "_round": round, "_minimum": min, "_maximum": max,  # see _direct_call
}

_BINOP = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
}
_GUARDED = {ast.Mult: "_mul", ast.Pow: "_pow", ast.Mod: "_mod", ast.Add: "_add"}
_CMP = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}
_UNARY = {ast.Not: "not ", ast.USub: "-", ast.UAdd: "+"}

# Operators for the reference evaluator, with the same guards as the generated code.
REFERENCE_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: safe_add, ast.Sub: operator.sub, ast.Mult: safe_mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: safe_mod, ast.Pow: safe_pow,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not, ast.Not: operator.not_, ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


@dataclass
class ExprCodegen:
    """Renders one checked tree. ``node_kinds`` comes from the analysis of the same tree;
    ``computed`` maps nodes (by id) to code the caller has already emitted for them (a temporary
    holding the node's value), so a caller can lower parts of a tree into statements."""

    names: NameRenderer
    node_kinds: dict[int, str]
    computed: dict[int, str] | None = None

    def render(self, tree: ast.Expression, conditional: bool = False) -> str:
        return self.render_node(tree.body, conditional)

    def render_node(self, node: ast.AST, conditional: bool = False) -> str:
        """One node of a checked tree (outside any comprehension)."""
        self._locals: list[set[str]] = []
        self._iterables = 0
        return self._emit(node, conditional)

    def _emit(self, node: ast.AST, cond: bool) -> str:
        if self.computed and id(node) in self.computed:
            return self.computed[id(node)]
        method: Callable[[Any, bool], str] = getattr(self, f"_emit_{type(node).__name__}")
        return method(node, cond)

    def _emit_Constant(self, node: ast.Constant, cond: bool) -> str:
        return repr(node.value)

    def _emit_Name(self, node: ast.Name, cond: bool) -> str:
        return self._path((node.id,), cond)

    def _emit_Attribute(self, node: ast.Attribute, cond: bool) -> str:
        path = input_path_of(node)
        assert path is not None  # guaranteed by the checker
        return self._path(path, cond)

    def _path(self, path: tuple[str, ...], cond: bool) -> str:
        root, rest = path[0], path[1:]
        if any(root in frame for frame in self._locals):
            base = f"l_{root}"
        elif root == "params":
            return self.names.param(rest[0])
        elif self.names.is_extra(root):
            base = self.names.extra(root)
        elif self.names.is_input(root):
            base = self.names.input_root(root)
        else:
            base = self.names.value(root, cond)
        return base + "".join(f"[{part!r}]" for part in rest)

    def _emit_BinOp(self, node: ast.BinOp, cond: bool) -> str:
        left, right = self._emit(node.left, cond), self._emit(node.right, cond)
        op_type = type(node.op)
        numeric = self.node_kinds.get(id(node.left)) == NUM and self.node_kinds.get(id(node.right)) == NUM
        # Unguarded only for literal ** literal: a computed base can be huge (the guard bounds it).
        small_power = (op_type is ast.Pow and all(isinstance(n, ast.Constant) and type(n.value) in (int, float)
                                                  for n in (node.left, node.right))
                       and abs(node.right.value) <= MAX_POWER and abs(node.left.value) <= 1e15)
        if op_type in _GUARDED and not (numeric and op_type is not ast.Pow) and not small_power:
            return f"{_GUARDED[op_type]}({left}, {right})"
        return f"({left} {_BINOP[op_type]} {right})"

    def _emit_UnaryOp(self, node: ast.UnaryOp, cond: bool) -> str:
        return f"({_UNARY[type(node.op)]}{self._emit(node.operand, cond)})"

    def _emit_BoolOp(self, node: ast.BoolOp, cond: bool) -> str:
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        parts = [self._emit(value, cond or index > 0) for index, value in enumerate(node.values)]
        return "(" + joiner.join(parts) + ")"

    def _emit_Compare(self, node: ast.Compare, cond: bool) -> str:
        parts = [self._emit(node.left, cond)]
        for index, (op, comparator) in enumerate(zip(node.ops, node.comparators)):
            # In a chain a < b < c, c is only evaluated when a < b holds.
            parts.append(f"{_CMP[type(op)]} {self._emit(comparator, cond or index > 0)}")
        return "(" + " ".join(parts) + ")"

    def _emit_IfExp(self, node: ast.IfExp, cond: bool) -> str:
        test = self._emit(node.test, cond)
        truth = constant_truth(test) if reads_params_only(node.test) else None
        if truth is not None:  # decided by params alone (``params.rounding_direction == 'DOWN'``)
            return self._emit(node.body if truth else node.orelse, cond)
        return f"({self._emit(node.body, True)} if {test} else {self._emit(node.orelse, True)})"

    def _emit_Call(self, node: ast.Call, cond: bool) -> str:
        assert isinstance(node.func, ast.Name)
        args = [self._emit(arg, cond) for arg in node.args]
        keywords = [(kw.arg, self._emit(kw.value, cond)) for kw in node.keywords]
        folded = _fold_call(node.func.id, args, keywords) or _direct_call(node.func.id, args, keywords)
        if folded is not None:
            return folded
        rendered = args + [f"{name}={value}" for name, value in keywords]
        return f"F_{node.func.id}({', '.join(rendered)})"

    def _emit_Subscript(self, node: ast.Subscript, cond: bool) -> str:
        return f"{self._emit(node.value, cond)}[{self._emit(node.slice, cond)}]"

    def _emit_Slice(self, node: ast.Slice, cond: bool) -> str:
        parts = [self._emit(p, cond) if p is not None else "" for p in (node.lower, node.upper, node.step)]
        return ":".join(parts).rstrip(":") or ":"

    def _emit_List(self, node: ast.List, cond: bool) -> str:
        return "[" + ", ".join(self._emit(element, cond) for element in node.elts) + "]"

    def _emit_Tuple(self, node: ast.Tuple, cond: bool) -> str:
        inner = ", ".join(self._emit(element, cond) for element in node.elts)
        return f"({inner},)" if len(node.elts) == 1 else f"({inner})"

    def _emit_Dict(self, node: ast.Dict, cond: bool) -> str:
        pairs = [f"{self._emit(k, cond)}: {self._emit(v, cond)}" for k, v in zip(node.keys, node.values) if k]
        return "{" + ", ".join(pairs) + "}"

    def _emit_ListComp(self, node: ast.ListComp | ast.GeneratorExp, cond: bool) -> str:
        generator = node.generators[0]
        assert isinstance(generator.target, ast.Name)
        iterable = self._emit(generator.iter, cond)
        self._locals.append({generator.target.id})
        try:
            element = self._emit(node.elt, True)
            conditions = "".join(f" if {self._emit(c, True)}" for c in generator.ifs)
        finally:
            self._locals.pop()
        prelude = ""
        if ":=" in iterable:
            # Python forbids := in a comprehension's iterable, so a value computed lazily there is
            # computed just before the comprehension: the same moment, the same laziness.
            temp = f"it_{self._iterables}"
            self._iterables += 1
            prelude, iterable = f"{temp} := {iterable}, ", temp
        body = f"{element} for l_{generator.target.id} in {iterable}{conditions}"
        comprehension = f"[{body}]" if isinstance(node, ast.ListComp) else f"({body})"
        return f"({prelude}{comprehension})[-1]" if prelude else comprehension

    _emit_GeneratorExp = _emit_ListComp


_FOLDABLE = (int, float, str, bool, type(None))
_CONSTANT_NODES = (ast.Expression, ast.Constant, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Tuple, ast.List,
                   ast.Load, ast.cmpop, ast.boolop, ast.unaryop)


def reads_params_only(node: ast.AST) -> bool:
    """No name but ``params`` in the tree: once params are inlined, it may be a constant."""
    return all(not isinstance(n, ast.Name) or n.id == "params" for n in ast.walk(node))


def constant_truth(code: str) -> bool | None:
    """The truth of rendered code made of literals and comparisons only (params inlined), or
    None when it is anything else or fails (then it is left to run, and fail, at decision time).
    Every operator here is pure, so deciding it once at compile time changes nothing but cost."""
    tree = ast.parse(code, mode="eval")
    if not all(isinstance(n, _CONSTANT_NODES) for n in ast.walk(tree)):
        return None
    try:  # literals, comparisons and not/and/or only, checked above; no builtins
        return bool(eval(compile(tree, "<constant>", "eval"), {"__builtins__": {}}))
    except Exception:  # noqa: BLE001 - not decidable here: keep the test
        return None


def _fold_call(name: str, args: list[str], keywords: list[tuple[str | None, str]]) -> str | None:
    """A call whose arguments are all constants (literals, inlined params) is computed once at
    compile time: ``ms(params.max_signal_age_ms)`` becomes ``60000000``. Every function of the
    language is pure, so this changes nothing but the cost; a call that would fail, or whose
    result is not a plain scalar, is left to run (and fail closed) at decision time."""
    from policy_engine.expr.functions import FUNCTIONS

    try:
        values = [ast.literal_eval(arg) for arg in args]
        named = {key: ast.literal_eval(value) for key, value in keywords if key}
        if not all(isinstance(v, _FOLDABLE) for v in (*values, *named.values())):
            return None
        result = FUNCTIONS[name](*values, **named)
    except Exception:  # noqa: BLE001 - not foldable: keep the call
        return None
    if isinstance(result, float) and result != result or isinstance(result, float) and abs(result) == float("inf"):
        return None
    return repr(result) if isinstance(result, _FOLDABLE) else None


_DURATION_UNITS = {"in_hours": US_PER_HOUR, "in_minutes": US_PER_MINUTE, "in_ms": US_PER_MS}


def _direct_call(name: str, args: list[str], keywords: list[tuple[str | None, str]]) -> str | None:
    """A call of a function whose table entry is a thin wrapper, rendered as what the wrapper
    does for these arguments (the same operations, one Python call fewer): ``snap(x)`` is
    ``round(x, 9)``, ``min(a, b)`` the builtin, ``in_hours(d)`` a division."""
    if keywords:
        default = keywords[0][1]
        if name in ("min", "max") and len(args) == 1 and _is_literal(default) \
                and ast.literal_eval(default) is not None:
            return f"_{name}imum({args[0]}, default={default})"  # the wrapper's own empty-list case
        return None
    if name == "snap" and len(args) == 1:
        return f"_round({args[0]}, {SNAP_DIGITS})"
    if name == "round" and len(args) == 2:
        return f"_round({args[0]}, {args[1]})"
    if name in ("min", "max") and len(args) >= 2:
        return f"_{name}imum({', '.join(args)})"
    if name in _DURATION_UNITS and len(args) == 1:
        return f"({args[0]} / {_DURATION_UNITS[name]})"
    if name == "clamp" and len(args) == 3 and args[0].isidentifier() and all(map(_is_number, args[1:])):
        low, high = args[1], args[2]
        if ast.literal_eval(low) <= ast.literal_eval(high):
            return f"({low} if {args[0]} < {low} else ({high} if {args[0]} > {high} else {args[0]}))"
    return None


def _is_literal(code: str) -> bool:
    try:
        ast.literal_eval(code)
    except (ValueError, SyntaxError):
        return False
    return True


def _is_number(code: str) -> bool:
    return _is_literal(code) and type(ast.literal_eval(code)) in (int, float)


def conditional_value_refs(tree: ast.Expression, value_names: set[str] | frozenset[str]) -> tuple[set[str], set[str]]:
    """Split the values an expression reads into (always read, only read on some paths)."""
    return node_value_refs(tree.body, value_names)


def node_value_refs(root: ast.AST, value_names: set[str] | frozenset[str]) -> tuple[set[str], set[str]]:
    """``conditional_value_refs`` of one node of a tree (outside any comprehension)."""
    always: set[str] = set()
    sometimes: set[str] = set()

    def walk(node: ast.AST, cond: bool) -> None:
        if isinstance(node, ast.Name) and node.id in value_names:
            (sometimes if cond else always).add(node.id)
            return
        if isinstance(node, ast.IfExp):
            walk(node.test, cond)
            walk(node.body, True)
            walk(node.orelse, True)
        elif isinstance(node, ast.BoolOp):
            for index, value in enumerate(node.values):
                walk(value, cond or index > 0)
        elif isinstance(node, ast.Compare):
            walk(node.left, cond)
            for index, comparator in enumerate(node.comparators):
                walk(comparator, cond or index > 0)
        elif isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            # The iterable runs with the comprehension; the element and conditions maybe never.
            for generator in node.generators:
                walk(generator.iter, cond)
                for condition in generator.ifs:
                    walk(condition, True)
            walk(node.elt, True)
        else:
            for child in ast.iter_child_nodes(node):
                walk(child, cond)

    walk(root, False)
    return always, sometimes - always
