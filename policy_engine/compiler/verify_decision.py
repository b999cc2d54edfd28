"""Abstract run of a DecisionPolicy: every path a request can take, and what each rule sees there.

The walk follows the engine's order. Gates run in file order; a request reaches gate n only when
every gate before it was skipped (``applies_when`` exactly false) or passed every check, so the
paths (``Env``s) reaching gate n carry what those checks proved about the inputs. Triggers run
whatever the gates decided (from the request as the schema admits it); outputs only when no gate
rejected. Named values are computed when a rule first reads them, on the path that reads them,
and every computation of a table or combiner is recorded: its ``of``, the rows it could reach,
the adjustments that could apply, its range before and after its bounds.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from policy_engine.compiler.abstract_eval import AbstractEvaluator, Env, normalize
from policy_engine.compiler.abstract_ops import call, may_equal
from policy_engine.compiler.intervals import BOTTOM, INF, REALS, Abstract, Interval, add, join, mul
from policy_engine.expr.functions import snap
from policy_engine.expr.language import parse
from policy_engine.expr.template import parse_template
from policy_engine.ir import Band, Bound, CombinerSpec, Expr, PolicySpec, TableSpec

MAX_CONTEXTS = 64  # paths kept between two gates before they are merged


@dataclass
class ValueRun:
    """One computation of a table, a combiner or a clamp() value on one path."""

    of: Abstract | None  # a table: what it looks up
    raw: Abstract  # before its bounds (a table: after its adjustments)
    result: Abstract  # what the policy uses
    bounds: tuple[Interval, Interval] | None
    rows: set[int] = field(default_factory=set)  # table rows it could reach (the else is -1)
    adjustments: set[int] = field(default_factory=set)  # adjustments that could apply


@dataclass
class GateSeen:
    applies: list[Abstract] = field(default_factory=list)
    checks: dict[int, list[Abstract]] = field(default_factory=dict)


class DecisionAnalysis:
    """Walks a DecisionPolicy over abstract requests; read ``runs`` and ``gates`` afterwards."""

    def __init__(self, spec: PolicySpec, params: dict[str, Any], input_schema: dict[str, Any]):
        self.spec = spec
        self.tables = {t.id: t for t in spec.tables}
        self.combiners = {c.id: c for c in spec.combiners}
        self.plain = {v.name: _tree(v.expr.text) for v in spec.values}
        trees: dict[str, ast.expr | None] = {name: tree for name, tree in self.plain.items()}
        trees.update({name: None for name in (*self.tables, *self.combiners)})
        self._trees: dict[str, ast.expr] = {}
        self.evaluator = AbstractEvaluator(input_schema["properties"], frozenset(input_schema.get("required", ())),
                                           params, trees, self._compute, {"now": REALS}, self._reads(trees))
        self.runs: dict[str, list[ValueRun]] = {name: [] for name in trees}
        self.gates: list[GateSeen] = [GateSeen() for _ in spec.gates]

    def tree(self, text: str) -> ast.expr:
        if text not in self._trees:
            self._trees[text] = _tree(text)
        return self._trees[text]

    def _reads(self, names: dict[str, Any]) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
        """Per value, the input roots and values it reads, directly or through other values."""
        direct: dict[str, set[str]] = {}
        for name in names:
            texts = [v.expr.text for v in self.spec.values if v.name == name]
            if name in self.tables:
                table = self.tables[name]
                texts = [table.of.text, *(a.when.text for a in table.adjust), *_bound_texts(table.bounds)]
            elif name in self.combiners:
                texts = [e.text for e in self.combiners[name].of] + _bound_texts(self.combiners[name].clamp)
            direct[name] = {n.id for text in texts for n in ast.walk(self.tree(text)) if isinstance(n, ast.Name)}
        reads: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        for name in names:
            seen, todo = {name}, [name]
            while todo:
                for read in direct[todo.pop()]:
                    if read in direct and read not in seen:
                        seen.add(read)
                        todo.append(read)
            roots = {read for value in seen for read in direct[value]} - set(direct)
            reads[name] = (frozenset(roots), frozenset(seen))
        return reads

    def run(self) -> DecisionAnalysis:
        paths = [Env()]
        for index, gate in enumerate(self.spec.gates):
            paths = normalize([after for env in paths for after in self._gate(index, gate, env)], MAX_CONTEXTS)
        for trigger in self.spec.triggers:
            tree = self.tree(trigger.when.text)
            self.evaluator.eval(tree, Env())
            for fired in self.evaluator.assume(tree, True, Env()):
                self._message(trigger.message, fired)
        for env in paths:
            for name in self.spec.outputs:
                self.evaluator.value(name, env)
        for name, runs in self.runs.items():
            if not runs and name not in self.plain:
                self.evaluator.value(name, Env())  # read by no rule: its range over the whole schema
        return self

    def _gate(self, index: int, gate: Any, env: Env) -> list[Env]:
        """The paths that leave the gate without a rejection: skipped, or every check passed."""
        seen, skipped, running = self.gates[index], [], [env]
        if gate.applies_when is not None:
            tree = self.tree(gate.applies_when.text)
            applies = self.evaluator.eval(tree, env)
            seen.applies.append(applies)
            skipped = self.evaluator.assume(tree, False, env)
            only_bools = applies == Abstract(bools=applies.bools)
            running = self.evaluator.assume(tree, True, env) if only_bools else [env]
        for position, check in enumerate(gate.checks):
            tree = self.tree(check.pass_if.text)
            for path in running:
                seen.checks.setdefault(position, []).append(self.evaluator.eval(tree, path))
                self._message(check.message, path)
            running = normalize([after for path in running for after in self.evaluator.assume(tree, True, path)])
        return [*skipped, *running]

    def _message(self, text: str | None, env: Env) -> None:
        template = parse_template(text) if text else None
        if template is not None and not isinstance(template, str):
            for name in template.names:
                self.evaluator.eval(self.tree(name), env)

    # --- named values --------------------------------------------------------------------
    def _compute(self, name: str, env: Env) -> Abstract:
        if name in self.tables:
            run = self._table(self.tables[name], env)
        elif name in self.combiners:
            run = self._combiner(self.combiners[name], env)
        else:
            tree = self.plain[name]
            result = self.evaluator.eval(tree, env)
            if not _is_clamp(tree):
                return result
            assert isinstance(tree, ast.Call)
            raw, low, high = (self.evaluator.eval(arg, env) for arg in tree.args)
            run = ValueRun(None, raw, result, (_interval(low), _interval(high)))
        self.runs[name].append(run)
        return run.result

    def _table(self, table: TableSpec, env: Env) -> ValueRun:
        of = self.evaluator.eval(self.tree(table.of.text), env)
        rows, value = _band_rows(table.bands, of) if table.bands else _case_rows(table, of)
        if -1 in rows and table.else_value is not None:
            value = join([value, Abstract(num=Interval.point(table.else_value))])
        error, adjustments = value.error, set()
        for position, adjustment in enumerate(table.adjust):
            when = self.evaluator.eval(self.tree(adjustment.when.text), env)
            if adjustment.times is not None:
                changed = Abstract(num=mul(value.num, Interval.point(adjustment.times))) if value.num else value
            else:
                changed = Abstract(num=Interval.point(adjustment.set if adjustment.set is not None else 0.0))
            value = join([*([changed] if when.may_be_truthy() else []), *([value] if when.may_be_falsy() else [])])
            error = error or when.error
            adjustments |= {position} if when.may_be_truthy() else set()
        return self._bounded(value.with_error(error), table.bounds, env, of, rows, adjustments)

    def _combiner(self, combiner: CombinerSpec, env: Env) -> ValueRun:
        parts = [self.evaluator.eval(self.tree(part.text), env) for part in combiner.of]
        if combiner.op in ("product", "sum"):
            value = parts[0]
            for part in parts[1:]:
                value = _arithmetic(combiner.op, value, part)
        else:
            value = call(combiner.op, parts, {})
        return self._bounded(value, combiner.clamp, env, None)

    def _bounded(self, raw: Abstract, bounds: tuple[Bound, Bound] | None, env: Env, of: Abstract | None,
                 rows: set[int] | None = None, adjustments: set[int] | None = None) -> ValueRun:
        if bounds is None:
            return ValueRun(of, raw, raw, None, rows or set(), adjustments or set())
        low, high = (self._bound(b, env) for b in bounds)
        result = call("clamp", [raw, low, high], {})
        return ValueRun(of, raw, result, (_interval(low), _interval(high)), rows or set(), adjustments or set())

    def _bound(self, bound: Bound, env: Env) -> Abstract:
        if isinstance(bound, Expr):
            return self.evaluator.eval(self.tree(bound.text), env)
        return Abstract(num=Interval.point(bound))


def _band_rows(bands: tuple[Band, ...], of: Abstract) -> tuple[set[int], Abstract]:
    """Rows a snapped number in ``of`` can reach: each band takes what the ones before left."""
    numbers = of.numeric.map(snap) if of.numeric is not None else None
    rows, values = set(), [Abstract(error=of.error or not of.is_number)]
    for position, band in enumerate(bands):
        if numbers is None:
            break
        side = Interval(-INF, band.threshold) if band.kind in ("below", "at_most") else Interval(band.threshold, INF)
        rest = Interval(band.threshold, INF) if band.kind in ("below", "at_most") else Interval(-INF, band.threshold)
        if numbers.meet(side) is not None and _strictly(band, numbers):
            rows.add(position)
            values.append(Abstract(num=Interval.point(band.value)))
        numbers = numbers.meet(rest)
    if numbers is not None:
        rows.add(-1)
    return rows, join(values)


def _strictly(band: Band, numbers: Interval) -> bool:
    """A strict band edge the numbers only touch is not reached: ``below: 0`` of [0, 1]."""
    if band.kind == "below":
        return numbers.low < band.threshold
    return numbers.high > band.threshold if band.kind == "above" else True


def _case_rows(table: TableSpec, of: Abstract) -> tuple[set[int], Abstract]:
    rows = {i for i, (key, _) in enumerate(table.cases) if may_equal(of, Abstract.constant(key))}
    values = [Abstract(num=Interval.point(table.cases[i][1])) for i in sorted(rows)]
    keys = tuple(key for key, _ in table.cases)
    covered = of.strs is not None and of.strs <= set(keys) and of == Abstract(strs=of.strs, error=of.error)
    return rows | (set() if covered else {-1}), join(values).with_error(of.error or of.other)


def _arithmetic(op: str, a: Abstract, b: Abstract) -> Abstract:
    if a.numeric is None or b.numeric is None:
        return BOTTOM.with_error()
    numbers = mul(a.numeric, b.numeric) if op == "product" else add(a.numeric, b.numeric)
    return Abstract(num=numbers, error=a.error or b.error or not (a.is_number and b.is_number))


def _bound_texts(bounds: tuple[Bound, Bound] | None) -> list[str]:
    return [b.text for b in bounds or () if isinstance(b, Expr)]


def _interval(value: Abstract) -> Interval:
    return value.numeric if value.numeric is not None else Interval(-INF, INF)


def _is_clamp(tree: ast.expr) -> bool:
    return isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "clamp" \
        and len(tree.args) == 3 and not tree.keywords


def _tree(text: str) -> ast.expr:
    """The checked expression's tree (compilation already refused any that does not parse)."""
    parsed = parse(text)
    return parsed.body if isinstance(parsed, ast.Expression) else ast.Constant(None)
