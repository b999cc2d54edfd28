"""Scenarios and coverage for the DecisionPolicy kind.

Coverage items: every gate check seen passing and failing; every band of a step table, every
case, the else and every adjustment of a table; every trigger fired and not fired; the outputs
reached. Gate checks, triggers and outputs are read from the case's trace. Which band a table
used is recomputed by the reference interpreter from the same normalized request (only for
tables the fast path computed), so coverage does not depend on how a trace prints a band.
An ``else`` that the input schema makes unreachable (the table looks up an input field whose
enum is entirely covered by the cases) is left out of the universe and listed as such.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from policy_engine.compiler.plan import CompiledExpr, GateNode, Plan, ValueNode
from policy_engine.engine.codegen import MISSING
from policy_engine.engine.interpret import Interpreter
from policy_engine.engine.run import CompiledPolicy
from policy_engine.expr.functions import FUNCTIONS
from policy_engine.source import SourceDoc
from policy_engine.testing.adapters import HIT, CoverageItem, Observation
from policy_engine.testing.scenarios import Case
from policy_engine.trace import CLEAR, COMPUTED, ERROR, FIRED, SKIPPED, TraceStep

_OPS = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}


class DecisionAdapter:
    kind = "DecisionPolicy"

    def run(self, policy: CompiledPolicy, case: Case) -> Observation:
        decision = policy.evaluate(case.input, now=case.now, trace=True)
        steps = decision.trace.steps if decision.trace is not None else ()
        return Observation(decision.outcome, decision.reason, decision.rule, decision.message, dict(decision.values),
                           tuple(f.id for f in decision.fired), tuple(e.type for e in decision.events), steps,
                           {"now": decision.provenance.now_us})

    # --- the universe -----------------------------------------------------------------------
    def coverage_items(self, policy: CompiledPolicy, doc: SourceDoc) -> tuple[list[CoverageItem],
                                                                               list[tuple[CoverageItem, str]]]:
        plan = policy.plan
        items = _all_items(plan, doc)
        unreachable = _unreachable_elses(plan, doc)
        kept = [item for item in items if item.key not in unreachable]
        left_out = [(item, unreachable[item.key]) for item in items if item.key in unreachable]
        return kept, left_out

    # --- one case's sightings -----------------------------------------------------------------
    def sightings(self, policy: CompiledPolicy, case: Case, observation: Observation) -> Mapping[str, str]:
        plan = policy.plan
        if not observation.trace:
            why = f"request invalid ({observation.rule})"
            return {item.key: why for item in _all_items(plan, None)}
        steps = {(step.kind, step.rule): step for step in observation.trace}
        seen: dict[str, str] = {}
        for gate in plan.gates:
            seen.update(_gate_sightings(gate, steps[("gate", gate.id)], observation.rule))
        seen.update(_TableSightings(policy, case, observation, steps).all())
        for trigger in plan.triggers:
            seen.update(_trigger_sightings(trigger.id, steps[("trigger", trigger.id)]))
        if plan.outputs is not None:
            reached = steps[("outputs", "outputs")].status == COMPUTED
            seen["outputs:reached"] = HIT if reached else f"rejected by {observation.rule}"
        return seen


def _all_items(plan: Plan, doc: SourceDoc | None) -> list[CoverageItem]:
    items = [*_gate_items(plan), *_table_items(_tables(plan), doc), *_trigger_items(plan)]
    if plan.outputs is not None:
        items.append(CoverageItem("outputs:reached", "outputs", "outputs", "outputs reached (an approval)",
                                  plan.outputs.line))
    return items


def _gate_label(gate: GateNode, index: int, verb: str) -> str:
    check = gate.checks[index]
    if len(gate.checks) == 1:
        return f"{gate.id} {verb} ({check.reject})" if verb == "fails" else f"{gate.id} {verb}"
    return f"{gate.id} check {index + 1} ({check.reject}) {verb}"


def _gate_items(plan: Plan) -> Iterator[CoverageItem]:
    for gate in plan.gates:
        for index, check in enumerate(gate.checks):
            for outcome, verb in (("pass", "passes"), ("fail", "fails")):
                yield CoverageItem(f"gate:{gate.id}:{index}:{outcome}", "gates", gate.id,
                                   _gate_label(gate, index, verb), check.pass_if.line)


def _line(doc: SourceDoc | None, path: tuple[Any, ...], fallback: int) -> int:
    return doc.source_map.locate(path)[0] if doc is not None else fallback


def _tables(plan: Plan) -> list[ValueNode]:
    return [node for node in plan.values.values() if node.kind == "table"]


def _table_items(nodes: list[ValueNode], doc: SourceDoc | None) -> Iterator[CoverageItem]:
    for node in nodes:
        name = node.name
        for index, band in enumerate(node.bands):
            yield CoverageItem(f"table:{name}:band:{index}", "bands", name,
                               f"{name}: {_OPS[band.kind]} {band.threshold:g} -> {band.value:g}",
                               _line(doc, band.path, node.line))
        for key, value in node.cases:
            yield CoverageItem(f"table:{name}:case:{key}", "bands", name, f"{name}: case {key} -> {value:g}",
                               _line(doc, (*node.path, "cases", key), node.line))
        yield CoverageItem(f"table:{name}:else", "bands", name, f"{name}: else -> {node.else_value!r}",
                           _else_line(doc, node))
        for index, when in enumerate(node.exprs[1:1 + len(node.adjust)]):
            yield CoverageItem(f"table:{name}:adjust:{index}", "bands", name,
                               f"{name}: adjustment when {when.text}", when.line)


def _else_line(doc: SourceDoc | None, node: ValueNode) -> int:
    """The line of the table's ``else``: its key, or its ``{else: ...}`` row among the steps."""
    table: Any = doc.data if doc is not None else None
    for key in node.path:
        if isinstance(table, list) and isinstance(key, int) and key < len(table):
            table = table[key]
        else:
            table = table.get(key) if isinstance(table, dict) else None
    if doc is None or not isinstance(table, dict):
        return node.line
    if "else" in table:
        return _line(doc, (*node.path, "else"), node.line)
    rows = table.get("steps") or []
    index = next((i for i, row in enumerate(rows) if isinstance(row, dict) and "else" in row), None)
    return _line(doc, (*node.path, "steps", index), node.line) if index is not None else node.line


def _trigger_items(plan: Plan) -> Iterator[CoverageItem]:
    for trigger in plan.triggers:
        yield CoverageItem(f"trigger:{trigger.id}:fired", "triggers", trigger.id, f"{trigger.id} fires", trigger.line)
        yield CoverageItem(f"trigger:{trigger.id}:clear", "triggers", trigger.id, f"{trigger.id} stays clear",
                           trigger.line)


def _gate_sightings(gate: GateNode, step: TraceStep, decided_by: str | None) -> dict[str, str]:
    keys = [(f"gate:{gate.id}:{i}:pass", f"gate:{gate.id}:{i}:fail") for i in range(len(gate.checks))]
    if step.status in (ERROR, SKIPPED):
        why = "error" if step.status == ERROR else "skipped (applies_when false)"
        return {key: why for pair in keys for key in pair}
    results = step.result if len(gate.checks) > 1 else (step.result,)
    if all(result is MISSING for result in results):
        why = f"not reached (decided by {decided_by})"
        return {key: why for pair in keys for key in pair}
    seen = {}
    for (passed, failed), result in zip(keys, results):
        if result is True:
            seen[passed], seen[failed] = HIT, "passed"
        elif result is MISSING:
            seen[passed] = seen[failed] = "not evaluated (an earlier check of the gate failed)"
        else:
            seen[passed], seen[failed] = "failed", HIT
    return seen


def _trigger_sightings(trigger: str, step: TraceStep) -> dict[str, str]:
    fired, clear = f"trigger:{trigger}:fired", f"trigger:{trigger}:clear"
    if step.status == FIRED:
        return {fired: HIT, clear: "fired"}
    if step.status == CLEAR:
        return {fired: "clear", clear: HIT}
    why = "error" if step.status == ERROR else "not evaluated"
    return {fired: why, clear: why}


class _TableSightings:
    """Which band, case, else and adjustments each computed table used in one case."""

    def __init__(self, policy: CompiledPolicy, case: Case, observation: Observation,
                 steps: Mapping[tuple[str, str], TraceStep]):
        self.plan, self.steps = policy.plan, steps
        normalized, issues = policy.checker.check(case.input)
        self.interpreter = (Interpreter(self.plan, normalized, observation.details["now"])
                            if not issues and isinstance(normalized, dict) else None)

    def all(self) -> dict[str, str]:
        seen: dict[str, str] = {}
        for node in _tables(self.plan):
            keys = [item.key for item in _table_items([node], None)]
            if self.steps[("table", node.name)].status != COMPUTED or self.interpreter is None:
                seen.update({key: "not computed (no rule needed it)" for key in keys})
                continue
            seen.update({key: "another row" for key in keys})
            seen.update(self._table(node))
        return seen

    def _table(self, node: ValueNode) -> dict[str, str]:
        name = node.name
        seen = {}
        looked_up = self._eval(node.exprs[0])
        seen[_row_key(node, looked_up)] = HIT
        for index, when in enumerate(node.exprs[1:1 + len(node.adjust)]):
            holds = self._eval(when)
            seen[f"table:{name}:adjust:{index}"] = HIT if holds is True else (
                "error" if holds is MISSING else "condition false")
        return seen

    def _eval(self, expr: CompiledExpr) -> Any:
        try:
            return self.interpreter.eval(expr) if self.interpreter is not None else MISSING
        except Exception:  # noqa: BLE001 - an expression that fails here failed in the decision too
            return MISSING


def _row_key(node: ValueNode, looked_up: Any) -> str:
    name = node.name
    if node.cases:
        return f"table:{name}:case:{looked_up}" if looked_up in dict(node.cases) else f"table:{name}:else"
    try:
        x = FUNCTIONS["snap"](looked_up)
        for index, band in enumerate(node.bands):
            if _holds(x, band.kind, band.threshold):
                return f"table:{name}:band:{index}"
    except TypeError:
        pass
    return f"table:{name}:else"


def _holds(x: Any, kind: str, threshold: float) -> bool:
    return bool({"at_least": x >= threshold, "above": x > threshold, "below": x < threshold,
                 "at_most": x <= threshold}[kind])


# --- else rows the input schema makes unreachable ---------------------------------------------
def _unreachable_elses(plan: Plan, doc: SourceDoc | None) -> dict[str, str]:
    if doc is None:
        return {}
    schema = _input_schema(doc)
    found = {}
    for node in _tables(plan):
        if not node.cases:
            continue
        of = node.exprs[0]
        allowed, where = _possible_keys(plan, schema, of)
        if allowed is not None and set(allowed) <= {key for key, _ in node.cases}:
            found[f"table:{node.name}:else"] = (f"unreachable: {where} is always one of "
                                                f"{', '.join(map(str, allowed))}, all of them cases")
    return found


def _possible_keys(plan: Plan, schema: dict[str, Any], of: CompiledExpr) -> tuple[list[Any] | None, str]:
    """What a table's ``of`` can be: the enum of a plain input field, or the literal results of
    a plain value made of conditionals over literals (``'LOW' if ... else 'HIGH'``)."""
    if len(of.input_paths) == 1 and not of.value_refs and of.text == ".".join(of.input_paths[0]):
        return _enum_at(schema, of.input_paths[0]), f"the input field {of.text} (its schema enum)"
    node = plan.values.get(of.text)
    if node is not None and node.kind == "value" and not of.input_paths:
        literals = _literals(node.exprs[0].tree.body)
        return (sorted(literals, key=str) if literals is not None else None), f"the value {of.text}"
    return None, ""


def _literals(tree: ast.AST) -> set[Any] | None:
    if isinstance(tree, ast.Constant) and isinstance(tree.value, str):
        return {tree.value}
    if isinstance(tree, ast.IfExp):
        body, orelse = _literals(tree.body), _literals(tree.orelse)
        return body | orelse if body is not None and orelse is not None else None
    return None


def _input_schema(doc: SourceDoc) -> dict[str, Any]:
    try:
        path = Path(doc.path).parent / doc.data["inputs"]["schema"]
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return schema if isinstance(schema, dict) else {}


def _enum_at(schema: dict[str, Any], path: tuple[str, ...]) -> list[Any] | None:
    node: Any = schema
    for part in path:
        node = _deref(schema, node)
        node = node.get("properties", {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    node = _deref(schema, node)
    enum = node.get("enum") if isinstance(node, dict) else None
    return list(enum) if isinstance(enum, list) and None not in enum else None


def _deref(root: dict[str, Any], node: Any) -> Any:
    for _ in range(16):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return node
        node = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
    return node
