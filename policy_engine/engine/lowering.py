"""Checked expressions -> statements of the generated decision function, each value computed once.

The generated function (``engine/codegen.py``) is straight-line code. At each point of it,
``Facts`` knows which named values are certainly computed already: such a value is read as a
plain local, with no test. A value not yet computed is computed by one statement just before the
expression that needs it (``ensure``). A value needed only on some paths — a branch of
``a if c else b``, the right side of ``and``/``or``, a later link of ``a < b < c`` — is computed
inside that path: the expression is lowered to ``if`` statements (``operand``), so the value is
computed exactly when the reference interpreter computes it, and never otherwise (it may fail,
and must not fail a decision that does not need it). Only inside a comprehension's element or
condition, which run zero or more times, is a value still computed inline, memoized with ``:=``.

A fact carries the conditions it was learned under ("computed whenever ``is_entry`` was not
false"). Expressions are pure, so a later block under the same condition knows it too: the
gates that apply to entries share what earlier entry gates computed, and so do the outputs.
"""

from __future__ import annotations

import ast
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

from policy_engine.compiler.plan import CompiledExpr, Plan, ValueNode
from policy_engine.expr.codegen import _CMP, ExprCodegen, constant_truth, node_value_refs, reads_params_only
from policy_engine.expr.functions import SNAP_DIGITS

# Lowered branches nest ``if`` blocks; Python allows 100 levels of indentation. Below this depth
# what is left is computed inline, which is as correct, only longer.
MAX_INDENT = 80
Atom = tuple[str, str]  # (ast.dump of an expression, TRUE | FALSE | NOT_FALSE), or a unique marker
TRUE, FALSE, NOT_FALSE = "true", "false", "not false"


def value_var(name: str) -> str:
    return f"v_{name}"


def atom(node: ast.AST, truthy: bool | None) -> Atom:
    """The condition "``node`` was truthy" (True), "falsy" (False) or "not False" (None)."""
    while truthy is not None and isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node, truthy = node.operand, not truthy
    return ast.dump(node), NOT_FALSE if truthy is None else TRUE if truthy else FALSE


class Facts:
    """Which values are certainly computed at the current point of the code being emitted."""

    def __init__(self) -> None:
        self._path: list[frozenset[Atom]] = [frozenset()]  # the atoms holding here, per open block
        self._known: dict[str, list[frozenset[Atom]]] = {}  # value -> conditions it was computed under
        self.touched: set[str] = set()  # values that code emitted so far may have computed
        self._markers = 0

    def known(self, name: str) -> bool:
        here = self._path[-1]
        return any(condition <= here for condition in self._known.get(name, ()))

    def learn(self, name: str) -> None:
        self._known.setdefault(name, []).append(self._path[-1])
        self.touched.add(name)

    def enter(self, condition: Atom | None) -> None:
        atoms = set() if condition is None else {condition}
        if condition is not None and condition[1] == TRUE:
            atoms.add((condition[0], NOT_FALSE))  # truthy implies "is not False"
        self._path.append(self._path[-1] | atoms)

    def leave(self) -> None:
        self._path.pop()

    def marker(self) -> Atom:
        """A condition no other block shares: what is learned under it stays inside the block."""
        self._markers += 1
        return f"#{self._markers}", TRUE


class _Names:
    """The expression code generator's NameRenderer: values known here are plain locals."""

    def __init__(self, emitter: "Emitter"):
        self.emitter = emitter
        self.plan = emitter.plan

    def is_input(self, name: str) -> bool:
        return name in self.plan.input_roots

    def is_extra(self, name: str) -> bool:
        return name == "now"

    def extra(self, name: str) -> str:
        return name

    def input_root(self, name: str) -> str:
        self.emitter.roots_used.add(name)
        return f"i_{name}"

    def param(self, name: str) -> str:
        value = self.plan.params[name]
        if value is None or isinstance(value, (bool, int, float, str)):
            return repr(value)
        key = f"P_{name}"
        self.emitter.namespace[key] = tuple(value) if isinstance(value, list) else value
        return key

    def value(self, name: str, conditional: bool) -> str:
        if self.emitter.facts.known(name):
            return value_var(name)
        return self.emitter.inline(name)


class Emitter:
    """Emits the statements of one generated function, tracking Facts as it goes."""

    def __init__(self, plan: Plan, indent: int):
        self.plan, self.indent = plan, indent
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {}
        self.roots_used: set[str] = set()
        self.sentinels: set[str] = set()  # variables read before they are surely assigned
        self.facts = Facts()
        self.names = _Names(self)
        self._temps = 0
        self._rank = {name: index for index, name in enumerate(plan.values)}
        self._value_names = frozenset(plan.values)

    # --- lines and blocks -----------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    @contextmanager
    def block(self, header: str, condition: Atom | None = None) -> Iterator[None]:
        self.emit(header)
        self.indent += 1
        self.facts.enter(condition)
        try:
            yield
        finally:
            self.facts.leave()
            self.indent -= 1

    def condition(self, node: ast.AST, truthy: bool | None) -> Atom:
        """``atom``, knowing that for a true/false value "not False" means "true"."""
        if truthy is None and self._boolean(node):
            truthy = True
        return atom(node, truthy)

    def _boolean(self, node: ast.AST) -> bool:
        """Surely True or False: a comparison, a ``not``, or and/or/values of those. (Not an
        input declared boolean: it may be null.)"""
        if isinstance(node, ast.Name) and node.id in self._rank:
            value = self.plan.values[node.id]
            return value.kind == "value" and self._boolean(value.exprs[0].tree.body)
        if isinstance(node, ast.BoolOp):
            return all(self._boolean(value) for value in node.values)
        if isinstance(node, ast.Constant):
            return isinstance(node.value, bool)
        return isinstance(node, ast.Compare) or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)

    def temp(self) -> str:
        self._temps += 1
        return f"w_{self._temps}"

    # --- values ----------------------------------------------------------------------------
    def ensure(self, name: str) -> None:
        """Compute a value here, by statements, unless it is certainly computed already."""
        if self.facts.known(name):
            return
        node = self.plan.values[name]
        self.ensure_all(frozenset().union(*(e.always_values for e in node.exprs)))
        var = value_var(name)
        if name in self.facts.touched:  # computed on some earlier path, maybe
            self.sentinels.add(var)
            with self.block(f"if {var} is _M:", self.facts.marker()):
                self._compute(node)
        else:
            self._compute(node)
        self.facts.learn(name)

    def ensure_all(self, names: "set[str] | frozenset[str]") -> None:
        for name in sorted(names, key=self._rank.__getitem__):
            self.ensure(name)

    def _compute(self, node: ValueNode) -> None:
        var = value_var(node.name)
        if node.kind == "value":
            self.operand(node.exprs[0].tree.body, node.exprs[0].node_kinds, into=var)
            return
        # The reference computes expression bounds first, then the table or the combination.
        bounds = [repr(b) if isinstance(b, float) else self.expr(b) for b in node.bounds or ()]
        if node.kind == "combiner":
            parts = [self.expr(e) for e in node.exprs[:len(node.exprs) - node._bound_exprs]]
            joined = {"product": " * ", "sum": " + "}.get(node.op)
            result = f"({joined.join(parts)})" if joined else f"F_{node.op}({', '.join(parts)})"
        else:
            result = self._table(node)
        if not bounds:
            self.emit(f"{var} = {result}")
        elif _constant_bounds(node):
            if not result.isidentifier():
                hold = self.temp()
                self.emit(f"{hold} = {result}")
                result = hold
            low, high = bounds  # clamp() itself, its bounds checked here once
            self.emit(f"{var} = {low} if {result} < {low} else ({high} if {result} > {high} else {result})")
        else:
            self.emit(f"{var} = F_clamp({result}, {', '.join(bounds)})")

    def _table(self, node: ValueNode) -> str:
        looked_up, band = f"t_{node.name}", f"b_{node.name}"
        of = self.expr(node.exprs[0])
        if node.cases:
            key = f"C_{node.name}"
            self.namespace[key] = dict(node.cases)
            self.emit(f"{looked_up} = {of}")
            self.emit(f"{band} = {key}.get({looked_up}, {node.else_value!r})")
        else:
            self.emit(f"{looked_up} = _round({of}, {SNAP_DIGITS})")  # snap(), as bands compare
            self.emit(f"{band} = {_bands(node, looked_up)}")
        for (times, set_to), when in zip(node.adjust, node.exprs[1:]):
            new = f"{band} * {times!r}" if times is not None else repr(set_to)
            self.emit(f"if {self.expr(when)}: {band} = {new}")
        return band

    def inline(self, name: str) -> str:
        """A value computed inside an expression (a comprehension's element), on first read."""
        var = value_var(name)
        self.facts.touched.add(name)
        self.sentinels.add(var)
        return f"({var} if {var} is not _M else ({var} := {self._value_expr(self.plan.values[name])}))"

    def _value_expr(self, node: ValueNode) -> str:
        """A value's computation as one expression (for ``inline``)."""
        if node.kind == "value":
            return self.render(node.exprs[0].tree.body, node.exprs[0].node_kinds)
        bounds = [repr(b) if isinstance(b, float) else self.render(b.tree.body, b.node_kinds)
                  for b in node.bounds or ()]
        parts = [self.render(e.tree.body, e.node_kinds)
                 for e in node.exprs[:len(node.exprs) - node._bound_exprs]]
        if node.kind == "combiner":
            joined = {"product": " * ", "sum": " + "}.get(node.op)
            result = f"({joined.join(parts)})" if joined else f"F_{node.op}({', '.join(parts)})"
            return f"F_clamp({result}, {', '.join(bounds)})" if bounds else result
        return self._table_expr(node, parts, bounds)

    def _table_expr(self, node: ValueNode, parts: list[str], bounds: list[str]) -> str:
        looked_up, band = f"t_{node.name}", f"b_{node.name}"
        of = parts[0] if node.cases else f"_round({parts[0]}, {SNAP_DIGITS})"
        steps = [f"{looked_up} := {of}"]
        if node.cases:
            key = f"C_{node.name}"
            self.namespace[key] = dict(node.cases)
            steps.append(f"{band} := {key}.get({looked_up}, {node.else_value!r})")
        else:
            steps.append(f"{band} := {_bands(node, looked_up)}")
        for (times, set_to), when in zip(node.adjust, parts[1:]):
            new = f"{band} * {times!r}" if times is not None else repr(set_to)
            steps.append(f"{band} := ({new} if {when} else {band})")
        steps.append(f"F_clamp({band}, {', '.join(bounds)})" if bounds else band)
        return f"({', '.join(steps)})[-1]"

    # --- expressions -------------------------------------------------------------------------
    def expr(self, compiled: CompiledExpr, into: str | None = None) -> str:
        return self.operand(compiled.tree.body, compiled.node_kinds, into)

    def render(self, node: ast.AST, kinds: dict[int, str], computed: dict[int, str] | None = None) -> str:
        return ExprCodegen(self.names, kinds, computed).render_node(node)

    def operand(self, node: ast.AST, kinds: dict[int, str], into: str | None = None) -> str:
        """Code for ``node``'s value, after emitting the statements it needs: the values it always
        reads, and its conditional parts lowered to ``if`` statements where they read values not
        computed yet. With ``into``, the value is assigned to that variable."""
        self.ensure_all(node_value_refs(node, self._value_names)[0])
        if self.indent >= MAX_INDENT or not self._needs_lowering(node):  # deep down: ``inline`` (correct too)
            code = self.render(node, kinds)
            if into is None:
                return code
            self.emit(f"{into} = {code}")
            return into
        if isinstance(node, ast.IfExp) and reads_params_only(node.test):
            truth = constant_truth(self.render(node.test, kinds))
            if truth is not None:
                return self.operand(node.body if truth else node.orelse, kinds, into)
        target = into or self.temp()
        if isinstance(node, ast.IfExp):
            test = self.operand(node.test, kinds)
            with self.block(f"if {test}:", atom(node.test, True)):
                self.operand(node.body, kinds, target)
            with self.block("else:", atom(node.test, False)):
                self.operand(node.orelse, kinds, target)
        elif isinstance(node, ast.BoolOp):
            self.operand(node.values[0], kinds, target)
            self._lower_bool(target, node, kinds, 1)
        elif isinstance(node, ast.Compare):
            self._lower_compare(target, node, kinds)
        else:
            computed = {id(child): self.operand(child, kinds) for child in _operands(node)
                        if self._needs_lowering(child)}
            self.emit(f"{target} = {self.render(node, kinds, computed)}")
        return target

    def _lower_bool(self, target: str, node: ast.BoolOp, kinds: dict[int, str], index: int) -> None:
        """``a or b or c``: each further operand is computed only when the previous one decides nothing."""
        if index == len(node.values):
            return
        is_and = isinstance(node.op, ast.And)
        rest = node.values[index:]
        if not any(self._needs_lowering(value) for value in rest):
            joiner = " and " if is_and else " or "
            self.emit(f"if {'' if is_and else 'not '}{target}: {target} = "
                      f"{joiner.join(self.render(value, kinds) for value in rest)}")
            return
        header = f"if {target}:" if is_and else f"if not {target}:"
        with self.block(header, atom(node.values[index - 1], is_and)):
            self.operand(node.values[index], kinds, target)
            self._lower_bool(target, node, kinds, index + 1)

    def _lower_compare(self, target: str, node: ast.Compare, kinds: dict[int, str]) -> None:
        """``a < b < c``: ``b`` is computed once, ``c`` only when ``a < b`` holds."""
        with ExitStack() as blocks:
            left = self.operand(node.left, kinds)
            for index, (op, comparator) in enumerate(zip(node.ops, node.comparators)):
                right = self.operand(comparator, kinds)
                last = index == len(node.ops) - 1
                if not last and not right.isidentifier():
                    hold = self.temp()
                    self.emit(f"{hold} = {right}")
                    right = hold
                self.emit(f"{target} = ({left} {_CMP[type(op)]} {right})")
                if not last:
                    blocks.enter_context(self.block(f"if {target}:", self.facts.marker()))
                left = right

    def _needs_lowering(self, node: ast.AST) -> bool:
        """Whether ``node`` reads, on some path, a value not known to be computed here (reads in
        a comprehension's element are left to ``inline``)."""
        if isinstance(node, ast.Name):
            return node.id in self._rank and not self.facts.known(node.id)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self._needs_lowering(node.generators[0].iter)
        return any(self._needs_lowering(child) for child in _operands(node))


def _operands(node: ast.AST) -> list[ast.AST]:
    """The expressions a node evaluates directly, in order (a comprehension: its iterable)."""
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return [node.generators[0].iter]
    if isinstance(node, ast.Call):
        return [*node.args, *(keyword.value for keyword in node.keywords)]
    if isinstance(node, ast.Dict):
        return [part for pair in zip(node.keys, node.values) for part in pair if part is not None]
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):  # a slice is not a value
        return [node.value, *(p for p in (node.slice.lower, node.slice.upper, node.slice.step) if p is not None)]
    return [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]


def _constant_bounds(node: ValueNode) -> bool:
    low, high = node.bounds or (None, None)
    return isinstance(low, float) and isinstance(high, float) and low <= high


def _bands(node: ValueNode, looked_up: str) -> str:
    ops = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}
    chain = [f"{band.value!r} if {looked_up} {ops[band.kind]} {band.threshold!r} else" for band in node.bands]
    return "(" + " ".join([*chain, repr(node.else_value)]) + ")"
