"""The compiler: a shape-checked policy document -> a frozen Plan, or located Diagnostics.

Compilation is an ordered list of named stages (shape, ir, params, inputs, structure,
expressions, graph). Each stage returns diagnostics instead of raising; compilation stops after
the first stage that reports an error, so later stages can trust what earlier ones checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path as FsPath
from typing import Any

from policy_engine.compiler import structure
from policy_engine.compiler.graph import build_graph, evaluation_order, value_cycles
from policy_engine.compiler.plan import (
    CheckNode, CompiledExpr, GateNode, OutputsNode, Plan, PolicyInfo, TriggerNode, ValueNode,
)
from policy_engine.compiler.reads import InputReads
from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.expr.codegen import conditional_value_refs
from policy_engine.expr.language import ANY, NUM, Scope, analyze
from policy_engine.expr.template import Template, parse_template
from policy_engine.inputs import InputChecker, UnsupportedSchema, compile_input_checker
from policy_engine.ir import Bound, Expr, PolicySpec, build_ir
from policy_engine.ir import Path as JsonPath
from policy_engine.schema import ShapeChecker
from policy_engine.source import SourceDoc

SCHEMA_DIR = FsPath(__file__).resolve().parents[2] / "schemas"
POLICY_SCHEMA_FILE = SCHEMA_DIR / "policy.schema.json"
ENGINE_NAMES = {"now": NUM}

_shape_checker: ShapeChecker | None = None


def policy_shape_checker() -> ShapeChecker:
    global _shape_checker
    if _shape_checker is None:
        _shape_checker = ShapeChecker(json.loads(POLICY_SCHEMA_FILE.read_text(encoding="utf-8")))
    return _shape_checker


class Locator:
    """Turns JSON paths (and offsets inside expressions) into located Diagnostics."""

    def __init__(self, doc: SourceDoc):
        self.doc = doc

    def line_of(self, path: JsonPath) -> int:
        return self.doc.source_map.locate_value(path)[0]

    def diag(self, code: Code, message: str, path: JsonPath, hint: str = "", offset: int | None = None) -> Diagnostic:
        line, col = self.doc.source_map.locate_value(path)
        source_line = self.doc.source_map.line_text(line)
        if offset is not None:
            quoted = source_line[col - 1:col] in ("'", '"')
            col += offset + (1 if quoted else 0)
        from policy_engine.source import format_json_path

        return Diagnostic(self.doc.path, line, col, code, message, format_json_path(path), hint,
                          source_line=source_line)


def check_policy_shape(doc: SourceDoc) -> None:
    """The schema stage, shared by every kind: raise PolicyError on any shape problem."""
    shape = policy_shape_checker().check(doc)
    if shape:
        raise PolicyError(shape)


def compile_document(doc: SourceDoc, overrides: dict[str, Any] | None = None) -> tuple[Plan, InputChecker]:
    """Run every stage; raise PolicyError with all diagnostics of the first failing stage."""
    locate = Locator(doc)
    check_policy_shape(doc)
    spec = build_ir(doc.data)
    params = _stage(structure.apply_overrides(spec, overrides or {}, locate))
    checker, input_schema = _stage(_load_inputs(spec, doc, locate))
    _stage(structure.check(spec, locate))
    builder = _PlanBuilder(spec, params, input_schema, locate)
    plan = _stage(builder.build(_content_hash(doc, input_schema, overrides or {})))
    return plan, checker.for_reads(builder.input_reads())


def _stage(result: tuple[Any, list[Diagnostic]]) -> Any:
    value, diagnostics = result
    if any(d.severity.value == "error" for d in diagnostics):
        raise PolicyError(diagnostics)
    return value


def _content_hash(doc: SourceDoc, input_schema: dict[str, Any], overrides: dict[str, Any]) -> str:
    digest = hashlib.sha256(doc.text.encode("utf-8"))
    digest.update(json.dumps(input_schema, sort_keys=True).encode("utf-8"))
    digest.update(json.dumps(overrides, sort_keys=True, default=str).encode("utf-8"))
    return "sha256:" + digest.hexdigest()


def _load_inputs(spec: PolicySpec, doc: SourceDoc, locate: Locator) -> tuple[Any, list[Diagnostic]]:
    path = ("inputs", "schema")
    schema_file = (FsPath(doc.path).parent / spec.input_schema).resolve()
    try:
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [locate.diag(Code.INPUT_SCHEMA, f"input schema '{spec.input_schema}' not found", path,
                                  "the path is relative to the policy file")]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, [locate.diag(Code.INPUT_SCHEMA, f"input schema '{spec.input_schema}' cannot be read: {err}", path)]
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None, [locate.diag(Code.INPUT_SCHEMA, "the input schema must be an object schema with properties", path)]
    try:
        checker = compile_input_checker(schema)
    except UnsupportedSchema as err:
        return None, [locate.diag(Code.INPUT_SCHEMA, f"input schema uses what the engine cannot check: {err}", path)]
    return (checker, _resolve_refs(schema)), []


def _resolve_refs(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """Inline local $refs so name resolution can walk the schema (cycles were refused earlier)."""
    root = root if root is not None else schema
    if depth > 50:
        return {}
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _resolve_refs(root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}), root, depth + 1)
        return {k: _resolve_refs(v, root, depth + 1) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_resolve_refs(item, root, depth + 1) for item in schema]
    return schema


class _PlanBuilder:
    """Expressions, templates and the graph: everything that needs names resolved."""

    def __init__(self, spec: PolicySpec, params: dict[str, Any], input_schema: dict[str, Any], locate: Locator):
        self.spec, self.params, self.locate = spec, params, locate
        self.inputs: dict[str, dict[str, Any]] = input_schema["properties"]
        self.diagnostics: list[Diagnostic] = []
        self.kinds: dict[str, str] = {v.name: ANY for v in spec.values}
        self.kinds.update({t.id: NUM for t in spec.tables})
        self.kinds.update({c.id: NUM for c in spec.combiners})
        self.reads = InputReads(self.inputs, [*self.kinds, "params", *ENGINE_NAMES])

    def input_reads(self) -> dict[str, Any]:
        """What the policy reads of its inputs (the checker checks only that): what its expressions
        read, and `now`, which the engine takes from the inputs when the caller passes none."""
        if "now" in self.inputs:
            self.reads.add_path(("now",))
        return self.reads.tree

    def build(self, content_hash: str) -> tuple[Plan | None, list[Diagnostic]]:
        values = self._values()
        if self.diagnostics:
            return None, self.diagnostics
        value_graph = build_graph(values, ())
        for cycle in value_cycles(value_graph):
            self.diagnostics.append(self.locate.diag(
                Code.VALUE_CYCLE, "values depend on each other in a cycle: " + " -> ".join([*cycle, cycle[0]]),
                values[cycle[0]].path, "break the cycle: one of these values must not read the others"))
        if self.diagnostics:
            return None, self.diagnostics
        values = self._refine_kinds(values, evaluation_order(value_graph))
        gates = tuple(self._gate(g) for g in self.spec.gates)
        triggers = tuple(sorted((self._trigger(t) for t in self.spec.triggers), key=lambda t: t.priority))
        outputs = self._outputs()
        if self.diagnostics:
            return None, self.diagnostics
        rules = (*gates, *triggers, *((outputs,) if outputs else ()))
        meta = self.spec.metadata
        info = PolicyInfo(meta.id, meta.version, self.spec.kind, self.locate.doc.path, content_hash, meta.owners,
                          meta.description, meta.spec)
        order = evaluation_order(build_graph(values, rules))
        return Plan(info, self.params, tuple(self.inputs), values, gates, triggers, outputs, order,
                    self.spec.on_reject), []

    # --- expressions --------------------------------------------------------------------
    def expr(self, expr: Expr, kinds: dict[str, str] | None = None) -> CompiledExpr:
        scope = Scope(self.inputs, self.params, kinds or self.kinds, ENGINE_NAMES)
        analysis = analyze(expr.text, scope)
        self.reads.add(analysis.tree)
        for issue in analysis.issues:
            self.diagnostics.append(self.locate.diag(issue.code, issue.message, expr.path, issue.hint, issue.col))
        always, sometimes = conditional_value_refs(analysis.tree, set(scope.value_kinds))
        return CompiledExpr(expr.text, expr.path, self.locate.line_of(expr.path), analysis.tree, analysis.node_kinds,
                            analysis.value_refs, analysis.input_paths, analysis.param_refs, frozenset(always),
                            frozenset(sometimes))

    def template(self, text: str | None, path: JsonPath) -> tuple[Template | None, tuple[CompiledExpr, ...]]:
        """A message template and one compiled expression per placeholder (names resolved here)."""
        if text is None:
            return None, ()
        parsed = parse_template(text)
        if isinstance(parsed, str):
            self.diagnostics.append(self.locate.diag(Code.TEMPLATE, parsed, path))
            return None, ()
        return parsed, tuple(self.expr(Expr(path=path, text=name)) for name in parsed.names)

    def _bound(self, bound: Bound) -> float | CompiledExpr:
        return self.expr(bound) if isinstance(bound, Expr) else bound

    # --- nodes --------------------------------------------------------------------------
    def _values(self) -> dict[str, ValueNode]:
        values: dict[str, ValueNode] = {}
        for value in self.spec.values:
            values[value.name] = ValueNode(value.name, "value", value.path, self.locate.line_of(value.path),
                                           (self.expr(value.expr),))
        for table in self.spec.tables:
            bounds = (self._bound(table.bounds[0]), self._bound(table.bounds[1])) if table.bounds else None
            exprs = (self.expr(table.of), *(self.expr(a.when) for a in table.adjust),
                     *(b for b in bounds or () if isinstance(b, CompiledExpr)))
            values[table.id] = ValueNode(
                table.id, "table", table.path, self.locate.line_of(table.path), exprs, table.bands, table.cases,
                table.else_value, tuple((a.times, a.set) for a in table.adjust), bounds, description=table.description)
        for combiner in self.spec.combiners:
            bounds = (self._bound(combiner.clamp[0]), self._bound(combiner.clamp[1])) if combiner.clamp else None
            exprs = (*(self.expr(e) for e in combiner.of), *(b for b in bounds or () if isinstance(b, CompiledExpr)))
            values[combiner.id] = ValueNode(combiner.id, "combiner", combiner.path,
                                            self.locate.line_of(combiner.path), exprs, bounds=bounds, op=combiner.op,
                                            description=combiner.description)
        return values

    def _gate(self, gate: Any) -> GateNode:
        checks = tuple(
            CheckNode(self.expr(c.pass_if), c.reject or "", *self.template(c.message, (*c.path, "message")))
            for c in gate.checks
        )
        applies = self.expr(gate.applies_when) if gate.applies_when else None
        return GateNode(gate.id, gate.path, self.locate.line_of(gate.path), applies, checks, gate.emit,
                        gate.description)

    def _trigger(self, trigger: Any) -> TriggerNode:
        message, message_exprs = self.template(trigger.message, (*trigger.path, "message"))
        return TriggerNode(trigger.id, trigger.path, self.locate.line_of(trigger.path), self.expr(trigger.when),
                           trigger.reason, trigger.priority, trigger.severity, message, trigger.event,
                           trigger.description, message_exprs)

    def _outputs(self) -> OutputsNode | None:
        if not self.spec.outputs:
            return None
        for index, name in enumerate(self.spec.outputs):
            if name not in self.kinds:
                self.diagnostics.append(self.locate.diag(Code.BAD_REFERENCE, f"output '{name}' is not a value",
                                                         ("outputs", index), structure.suggest(name, self.kinds)))
        return OutputsNode(self.spec.outputs, self.locate.line_of(("outputs",)))

    def _refine_kinds(self, values: dict[str, ValueNode], order: tuple[Any, ...]) -> dict[str, ValueNode]:
        """Re-analyze plain values in dependency order so the code generator knows what is numeric."""
        kinds = dict(self.kinds)
        refined = dict(values)
        for step in order:
            if isinstance(step, ValueNode) and step.kind == "value":
                spec_expr = next(v.expr for v in self.spec.values if v.name == step.name)
                compiled = self.expr(spec_expr, kinds)
                kinds[step.name] = analyze(spec_expr.text, Scope(self.inputs, self.params, kinds, ENGINE_NAMES)).kind
                refined[step.name] = ValueNode(step.name, "value", step.path, step.line, (compiled,))
        self.kinds = kinds
        return refined

