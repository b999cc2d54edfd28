"""Abstract interpretation of policy expressions: what an expression may give on a path.

``AbstractEvaluator.eval(node, env)`` walks a checked expression the way the engine runs it
(short-circuit ``and`` / ``or``, lazy ``if``/``else``, values computed when first read) over
abstract values (``intervals``): inputs take what their JSON Schema admits (minimum / maximum,
enum, type, required), params are constants, named values come from the caller's ``compute``.

``assume(node, want, env)`` is the other direction: the paths on which the expression came out
truthy (``want=True``) or falsy, each an ``Env`` recording what that says about the inputs and
values it compared: on the paths where ``regime.regime_type != 'UNKNOWN'`` held, that field's
enum no longer holds UNKNOWN. A list of Envs is a disjunction, one Env per way the condition
can hold; lists are kept short by dropping Envs another one contains, then by merging.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from policy_engine.compiler.abstract_ops import binop, call, compare, narrow, unary
from policy_engine.compiler.intervals import RAISES, TOP, Abstract, join, meet, of_schema
from policy_engine.expr.language import input_path_of

Key = tuple[str, ...]
Local = Mapping[str, Abstract]
MAX_PATHS = 32  # Envs kept for one disjunction before they are merged into one
MAX_ASSUME_DEPTH = 8  # values inlined into a condition, nested
_NO_LOCALS: Local = {}
_NEGATE: dict[type, type] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_MIRROR: dict[type, type] = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Eq: ast.Eq,
                             ast.NotEq: ast.NotEq}


@dataclass(frozen=True)
class Env:
    """What is known on one path through a policy: refined input paths and refined values."""

    inputs: tuple[tuple[Key, Abstract], ...] = ()
    values: tuple[tuple[str, Abstract], ...] = ()

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.inputs, self.values))

    @cached_property
    def input_facts(self) -> dict[Key, Abstract]:
        return dict(self.inputs)

    @cached_property
    def value_facts(self) -> dict[str, Abstract]:
        return dict(self.values)

    def with_input(self, path: Key, value: Abstract) -> Env:
        facts = {**self.input_facts, path: value}
        return Env(tuple(sorted(facts.items(), key=lambda item: item[0])), self.values)

    def with_value(self, name: str, value: Abstract) -> Env:
        facts = {**self.value_facts, name: value}
        return Env(self.inputs, tuple(sorted(facts.items(), key=lambda item: item[0])))

    def project(self, roots: frozenset[str], values: frozenset[str]) -> Env:
        """Only the facts about these inputs and values: what a value computed from them can see."""
        return Env(tuple(f for f in self.inputs if f[0][0] in roots), tuple(f for f in self.values if f[0] in values))

    def leq(self, other: Env) -> bool:
        """Every path self stands for is one other stands for (conservative)."""
        mine_in, mine_values = self.input_facts, self.value_facts
        return all(k in mine_in and mine_in[k].leq(v) for k, v in other.inputs) and \
            all(k in mine_values and mine_values[k].leq(v) for k, v in other.values)


def merge(envs: list[Env]) -> Env:
    """One Env holding every path of several: a fact survives only where all of them have it."""
    first, rest = envs[0], envs[1:]
    inputs = {k: join([v, *(e.input_facts[k] for e in rest)]) for k, v in first.inputs
              if all(k in e.input_facts for e in rest)}
    values = {k: join([v, *(e.value_facts[k] for e in rest)]) for k, v in first.values
              if all(k in e.value_facts for e in rest)}
    return Env(tuple(sorted(inputs.items(), key=lambda i: i[0])), tuple(sorted(values.items(), key=lambda i: i[0])))


def normalize(envs: list[Env], cap: int = MAX_PATHS) -> list[Env]:
    unique = list(dict.fromkeys(envs))
    kept = [e for i, e in enumerate(unique) if not any(j != i and e.leq(f) for j, f in enumerate(unique))]
    return [merge(kept)] if len(kept) > cap else kept


class AbstractEvaluator:
    """Evaluates expressions over Envs; ``compute(name, env)`` gives a named value (plain values,
    tables, combiners). ``reads[name]`` (the input roots and values it reads, transitively) lets a
    value computed on many paths be computed once per distinct set of facts it can see."""

    def __init__(self, inputs: dict[str, Any], required: frozenset[str], params: dict[str, Any],
                 value_trees: dict[str, ast.expr | None], compute: Callable[[str, Env], Abstract],
                 extra: dict[str, Abstract], reads: dict[str, tuple[frozenset[str], frozenset[str]]]):
        self.inputs, self.required, self.params = inputs, required, params
        self.value_trees, self.compute, self.extra, self.reads = value_trees, compute, extra, reads
        self._memo: dict[tuple[str, Env], Abstract] = {}  # by the facts the value can see
        self._seen: dict[tuple[str, Env], Abstract] = {}  # by the whole Env it was asked on

    def value(self, name: str, env: Env) -> Abstract:
        seen = self._seen.get((name, env))
        if seen is not None:
            return seen
        visible = env.project(*self.reads[name])
        key = (name, visible)
        if key not in self._memo:
            computed = self.compute(name, visible)
            fact = visible.value_facts.get(name)
            self._memo[key] = meet(computed, fact) if fact is not None else computed
        self._seen[(name, env)] = self._memo[key]
        return self._memo[key]

    def input(self, path: Key, env: Env) -> Abstract:
        fact = env.input_facts.get(path)
        if fact is not None:
            return fact
        if len(path) == 1:
            root = of_schema(self.inputs[path[0]])
            return root if path[0] in self.required else join([root, Abstract(none=True)])
        return _field(self.input(path[:-1], env), path[-1])

    # --- evaluation ----------------------------------------------------------------------
    def eval(self, node: ast.AST, env: Env, local: Local = _NO_LOCALS) -> Abstract:
        method: Callable[[Any, Env, Local], Abstract] | None = getattr(self, f"_eval_{type(node).__name__}", None)
        if method is None:
            for child in ast.iter_child_nodes(node):
                self.eval(child, env, local)  # values it reads are still computed on this path
            return TOP
        return method(node, env, local)

    def _eval_Expression(self, node: ast.Expression, env: Env, local: Local) -> Abstract:
        return self.eval(node.body, env, local)

    def _eval_Constant(self, node: ast.Constant, env: Env, local: Local) -> Abstract:
        return Abstract.constant(node.value)

    def _eval_Name(self, node: ast.Name, env: Env, local: Local) -> Abstract:
        return self.read((node.id,), env, local)

    def _eval_Attribute(self, node: ast.Attribute, env: Env, local: Local) -> Abstract:
        path = input_path_of(node)
        if path is None:
            self.eval(node.value, env, local)
            return TOP
        return self.read(path, env, local)

    def read(self, path: Key, env: Env, local: Local) -> Abstract:
        """A name as the language resolves it: comprehension variable, param, value, engine name, input."""
        root, rest = path[0], path[1:]
        if root in local:
            return _fields(local[root], rest)
        if root == "params":
            return Abstract.constant(self.params[rest[0]]) if len(rest) == 1 and rest[0] in self.params else TOP
        if root in self.value_trees:
            return _fields(self.value(root, env), rest)
        if root in self.extra:
            return self.extra[root] if not rest else TOP
        return self.input(path, env) if root in self.inputs else TOP

    def _eval_BinOp(self, node: ast.BinOp, env: Env, local: Local) -> Abstract:
        return binop(node.op, self.eval(node.left, env, local), self.eval(node.right, env, local))

    def _eval_UnaryOp(self, node: ast.UnaryOp, env: Env, local: Local) -> Abstract:
        return unary(node.op, self.eval(node.operand, env, local))

    def _eval_BoolOp(self, node: ast.BoolOp, env: Env, local: Local) -> Abstract:
        """``a and b`` gives a when a is falsy, else b (``or``: a when truthy); b runs only then."""
        is_and = isinstance(node.op, ast.And)
        results: list[Abstract] = []
        envs = [env]
        for index, operand in enumerate(node.values):
            last = index == len(node.values) - 1
            following: list[Env] = []
            for path in envs:
                result = self.eval(operand, path, local)
                if last:
                    results.append(result)
                    continue
                results.append(result.falsy_part() if is_and else result.truthy_part())
                results.append(RAISES if result.error else Abstract())
                following += self.assume(operand, is_and, path, local)
            envs = normalize(following)
        return join(results)

    def _eval_Compare(self, node: ast.Compare, env: Env, local: Local) -> Abstract:
        operands = [self.eval(n, env, local) for n in (node.left, *node.comparators)]
        outcomes = [compare(a, op, b) for a, op, b in zip(operands, node.ops, operands[1:])]
        bools = {True} if all(True in o.bools for o in outcomes) else set()
        bools |= {False} if any(False in o.bools for o in outcomes) else set()
        return Abstract(bools=frozenset(bools), error=any(o.error for o in outcomes))

    def _eval_IfExp(self, node: ast.IfExp, env: Env, local: Local) -> Abstract:
        test = self.eval(node.test, env, local)
        parts = [RAISES] if test.error else []
        parts += [self.eval(node.body, path, local) for path in self.assume(node.test, True, env, local)]
        parts += [self.eval(node.orelse, path, local) for path in self.assume(node.test, False, env, local)]
        return join(parts)

    def _eval_Call(self, node: ast.Call, env: Env, local: Local) -> Abstract:
        args = [self.eval(arg, env, local) for arg in node.args]
        keywords = {k.arg: self.eval(k.value, env, local) for k in node.keywords if k.arg}
        return call(node.func.id if isinstance(node.func, ast.Name) else "", args, keywords)

    def _eval_Subscript(self, node: ast.Subscript, env: Env, local: Local) -> Abstract:
        container, index = self.eval(node.value, env, local), self.eval(node.slice, env, local)
        if isinstance(node.slice, ast.Slice):
            return Abstract(other=True, items=container.member_values(), error=True)
        known, position = index.single()
        if container.seq is not None and known and isinstance(position, float) and position.is_integer() \
                and -len(container.seq) <= position < len(container.seq):
            return Abstract.constant(container.seq[int(position)])
        if container.seq is not None or container.items is not None:
            return container.member_values().with_error()
        return TOP

    def _eval_List(self, node: ast.List | ast.Tuple, env: Env, local: Local) -> Abstract:
        elements = [self.eval(element, env, local) for element in node.elts]
        singles = [element.single() for element in elements]
        if all(known for known, _ in singles) and not any(e.error for e in elements):
            return Abstract(other=True, seq=tuple(value for _, value in singles))
        return Abstract(other=True, items=join(elements), error=any(e.error for e in elements))

    _eval_Tuple = _eval_List

    def _eval_Dict(self, node: ast.Dict, env: Env, local: Local) -> Abstract:
        values = [self.eval(value, env, local) for value in node.values]
        return Abstract(other=True, error=any(v.error for v in values))

    def _eval_ListComp(self, node: ast.ListComp | ast.GeneratorExp, env: Env, local: Local) -> Abstract:
        generator = node.generators[0]
        iterable = self.eval(generator.iter, env, local)
        if not isinstance(generator.target, ast.Name):
            return TOP
        inner = {**local, generator.target.id: iterable.member_values().without()}
        conditions = [self.eval(condition, env, inner) for condition in generator.ifs]
        element = self.eval(node.elt, env, inner)
        error = iterable.error or iterable.none or not iterable.other or element.error or any(c.error for c in conditions)
        return Abstract(other=True, items=element.without(), error=error)

    _eval_GeneratorExp = _eval_ListComp

    # --- conditions ----------------------------------------------------------------------
    def assume(self, node: ast.AST, want: bool, env: Env, local: Local = _NO_LOCALS, depth: int = 0) -> list[Env]:
        """The Envs on which ``node`` evaluated, without raising, to a truthy (want) / falsy value."""
        if isinstance(node, ast.Expression):
            node = node.body
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self.assume(node.operand, not want, env, local, depth + 1)
        if depth > MAX_ASSUME_DEPTH:
            envs = [env]
        elif isinstance(node, ast.BoolOp):
            envs = self._assume_boolop(node, want, env, local, depth)
        elif isinstance(node, ast.IfExp):
            envs = [branch for test in (True, False) for path in self.assume(node.test, test, env, local, depth + 1)
                    for branch in self.assume(node.body if test else node.orelse, want, path, local, depth + 1)]
        elif isinstance(node, ast.Compare):
            envs = self._assume_compare(node, want, env, local, depth)
        else:
            envs = self._assume_truth(node, want, env, local, depth)
        return normalize([e for e in envs if self._may_be(node, want, e, local)])

    def _may_be(self, node: ast.AST, want: bool, env: Env, local: Local) -> bool:
        result = self.eval(node, env, local)
        return result.may_be_truthy() if want else result.may_be_falsy()

    def _assume_boolop(self, node: ast.BoolOp, want: bool, env: Env, local: Local, depth: int) -> list[Env]:
        """``and`` is truthy when every operand is, falsy when one is after the ones before were
        truthy (``or``: the other way round)."""
        decides = not isinstance(node.op, ast.And)  # the truth value that stops the chain
        done: list[Env] = []
        running = [env]
        for operand in node.values:
            if want == decides:
                done += [e for path in running for e in self.assume(operand, decides, path, local, depth + 1)]
            running = normalize([e for path in running for e in self.assume(operand, not decides, path, local,
                                                                             depth + 1)])
        return done if want == decides else running

    def _assume_compare(self, node: ast.Compare, want: bool, env: Env, local: Local, depth: int) -> list[Env]:
        if len(node.ops) > 1:
            pairs = [ast.Compare(left=a, ops=[op], comparators=[b])
                     for a, op, b in zip((node.left, *node.comparators), node.ops, node.comparators)]
            return self._assume_boolop(ast.BoolOp(op=ast.And(), values=pairs), want, env, local, depth)  # type: ignore[arg-type]
        op = node.ops[0] if want else _NEGATE[type(node.ops[0])]()
        left, right = node.left, node.comparators[0]
        left_value, right_value = self.eval(left, env, local), self.eval(right, env, local)
        narrowed: Env | None = self._refine(left, narrow(left_value, op, right_value), env, local)
        if narrowed is not None and type(op) in _MIRROR:
            narrowed = self._refine(right, narrow(right_value, _MIRROR[type(op)](), left_value), narrowed, local)
        return [] if narrowed is None else [narrowed]

    def _assume_truth(self, node: ast.AST, want: bool, env: Env, local: Local, depth: int) -> list[Env]:
        path = input_path_of(node)
        if path is None or path[0] in local:
            return [env]
        if len(path) == 1 and self.value_trees.get(path[0]) is not None:
            tree = self.value_trees[path[0]]
            assert tree is not None
            envs = self.assume(tree, want, env, _NO_LOCALS, depth + 1)
        else:
            envs = [env]
        refined = []
        for e in envs:
            value = self.eval(node, e, local)
            narrowed = self._refine(node, value.truthy_part() if want else value.falsy_part(), e, local)
            refined += [narrowed] if narrowed is not None else []
        return refined

    def _refine(self, node: ast.AST, value: Abstract, env: Env, local: Local) -> Env | None:
        """Env with what a held condition says about ``node``; None when nothing is left."""
        if value.is_bottom:
            return None
        path = input_path_of(node)
        if path is None or path[0] in local or path[0] == "params":
            return env
        if path[0] in self.value_trees:
            return env.with_value(path[0], value.without()) if len(path) == 1 else env
        if path[0] not in self.inputs or path[0] in self.extra:
            return env
        for cut in range(1, len(path)):  # reading a field succeeded: its parents are objects
            env = env.with_input(path[:cut], self.input(path[:cut], env).without(none=True))
        return env.with_input(path, value.without())


def _fields(base: Abstract, rest: Key) -> Abstract:
    for name in rest:
        base = _field(base, name)
    return base


def _field(parent: Abstract, name: str) -> Abstract:
    """``parent.name`` on JSON data: raises on None, on a non-object and on an absent field."""
    schema = parent.schema or {}
    props = schema.get("properties")
    if not isinstance(props, dict) or name not in props:
        return TOP
    odd = parent.none or parent.num is not None or parent.strs is None or bool(parent.strs) or bool(parent.bools)
    absent = name not in schema.get("required", ())
    return of_schema(props[name]).with_error(parent.error or odd or absent)
