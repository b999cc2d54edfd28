"""Static verification: what a policy that compiles can do for every request its schema admits.

``policy-engine validate`` compiles each policy, then verifies it. Verification reports, as
located warnings (``Severity.WARNING``; ``--strict`` makes them fail):

* E209 a table or combiner whose computed range goes past its declared ``bounds`` / ``clamp``:
  the clamp changes what the table says (the format makes bounds a clamp, not a promise);
* E210 a band, case or adjustment that no admitted request reaches;
* E211 a gate check that can never fail (or a gate that never applies), E212 one that never passes;
* E404 a machine state no transition leaves;
* E213 an analysis that could not finish (the policy itself compiles).

and, per file, the range of every table, combiner and ``clamp()`` value, with whether its bounds
are proven to hold. The analysis is an abstract interpretation (``verify_decision``): sound, so a
warning is a fact about every admitted request, and conservative, so silence proves nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from policy_engine.compiler.compile import Locator, _load_inputs
from policy_engine.compiler.intervals import Abstract, Interval, join
from policy_engine.compiler.structure import apply_overrides
from policy_engine.compiler.verify_decision import DecisionAnalysis, ValueRun
from policy_engine.errors import Code, Diagnostic, PolicyError, Severity, sorted_capped
from policy_engine.ir import Path as JsonPath
from policy_engine.ir import PolicySpec, build_ir
from policy_engine.kinds import compile_any
from policy_engine.source import SourceDoc, load_source

# kind -> "module:function(doc) -> (warnings, ranges)"; a kind without an entry has nothing to verify.
KIND_VERIFIERS: dict[str, str] = {
    "DecisionPolicy": "policy_engine.compiler.verify:verify_decision",
    "MachinePolicy": "policy_engine.machine.checks:verify_machine",
}
TOLERANCE = 1e-9  # float noise of a product is not a clamp at work


@dataclass(frozen=True)
class ValueRange:
    """The range of a table, combiner or clamp() value over every path that computes it."""

    file: str
    line: int
    name: str
    kind: str
    computed: Interval  # before its bounds
    result: Interval  # what the decision uses
    bounds: tuple[Interval, Interval] | None

    @property
    def status(self) -> str:
        if self.bounds is None:
            return "no bounds"
        side = _sides(_clamps(self.computed, self.bounds))
        return f"{side} clamp{'' if side.startswith('both') else 's'}" if side else "proven"

    def format_text(self) -> str:
        bounds = f"; bounds {_bounds_text(self.bounds)}" if self.bounds else ""
        return (f"{self.file}:{self.line}: {self.name} ∈ {self.result.format()} "
                f"(computed {self.computed.format()}{bounds}): {self.status}")

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "name": self.name, "kind": self.kind,
                "range": _json(self.result), "computed": _json(self.computed), "status": self.status,
                "bounds": [_json(b) for b in self.bounds] if self.bounds else None}


@dataclass(frozen=True)
class Verification:
    file: str
    diagnostics: tuple[Diagnostic, ...]
    ranges: tuple[ValueRange, ...] = ()

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def ok(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


def verify(path: str | Path) -> Verification:
    """Compile the policy; when it compiles, verify it. Errors and warnings, sorted by location."""
    try:
        doc = load_source(path)
        compile_any(doc, {})
    except PolicyError as problem:
        return Verification(str(path), tuple(problem.diagnostics))
    target = KIND_VERIFIERS.get(doc.data["kind"])
    if target is None:
        return Verification(doc.path, ())
    module, _, function = target.partition(":")
    verifier: Callable[[SourceDoc], tuple[list[Diagnostic], list[ValueRange]]] = \
        getattr(importlib.import_module(module), function)
    try:
        warnings, ranges = verifier(doc)
    except (RecursionError, ArithmeticError, ValueError) as problem:  # a policy beyond the analysis's reach
        line, col = doc.source_map.locate(("kind",))
        return Verification(doc.path, (Diagnostic(doc.path, line, col, Code.VERIFY_INCOMPLETE,
                                                  f"static verification could not finish: {problem!r}", "$.kind",
                                                  severity=Severity.WARNING),))
    return Verification(doc.path, tuple(sorted_capped(warnings)), tuple(sorted(ranges, key=lambda r: r.line)))


def warning(locate: Locator, code: Code, message: str, path: JsonPath, hint: str = "", at_key: bool = False) -> Diagnostic:
    """A located warning, at the value of ``path`` (or at its key: a case's name)."""
    found = replace(locate.diag(code, message, path, hint), severity=Severity.WARNING)
    if not at_key:
        return found
    line, col = locate.doc.source_map.locate(path)
    return replace(found, line=line, col=col, source_line=locate.doc.source_map.line_text(line))


def verify_decision(doc: SourceDoc) -> tuple[list[Diagnostic], list[ValueRange]]:
    locate = Locator(doc)
    spec = build_ir(doc.data)
    params, _ = apply_overrides(spec, {}, locate)
    (_, input_schema), _ = _load_inputs(spec, doc, locate)
    analysis = DecisionAnalysis(spec, params, input_schema).run()
    warnings = [*_gates(spec, analysis, locate), *_rows(spec, analysis, locate), *_bounds(spec, analysis, locate)]
    return warnings, _ranges(spec, analysis, locate)


# --- findings ------------------------------------------------------------------------------------

def _gates(spec: PolicySpec, analysis: DecisionAnalysis, locate: Locator) -> list[Diagnostic]:
    found = []
    for gate, seen in zip(spec.gates, analysis.gates):
        if gate.applies_when is not None and seen.applies and join(seen.applies) == Abstract(bools=frozenset({False})):
            found.append(warning(locate, Code.CHECK_NEVER_FAILS, f"gate {gate.id} never applies: "
                                 f"`{gate.applies_when.text}` is false for every request that reaches it",
                                 gate.applies_when.path, "remove the gate or fix its condition"))
            continue
        for position, results in sorted(seen.checks.items()):
            check, outcome = gate.checks[position], join(results)
            if True not in outcome.bools:
                found.append(warning(locate, Code.CHECK_NEVER_PASSES, f"gate {gate.id}: `{check.pass_if.text}` is "
                                     f"never true for a request that reaches it: every such request is rejected "
                                     f"({check.reject})", check.pass_if.path,
                                     "the rules after it can never run; check the condition and its params"))
            elif outcome == Abstract(bools=frozenset({True})):
                found.append(warning(locate, Code.CHECK_NEVER_FAILS, f"gate {gate.id}: `{check.pass_if.text}` holds "
                                     f"for every request that reaches it (the input schema and the checks before "
                                     f"it allow no other): it can never reject ({check.reject})", check.pass_if.path,
                                     "remove the check, or fix the condition or the params it reads"))
    return found


def _rows(spec: PolicySpec, analysis: DecisionAnalysis, locate: Locator) -> list[Diagnostic]:
    """Bands, cases and adjustments no path reaches. The else is required by the format, so an
    else that cannot be reached is not reported."""
    found = []
    for table in spec.tables:
        runs = analysis.runs[table.id]
        rows, adjusted = set().union(*(r.rows for r in runs)), set().union(*(r.adjustments for r in runs))
        of = _of_text(runs)
        for position, band in enumerate(table.bands):
            if position not in rows:
                found.append(warning(locate, Code.UNREACHABLE_ROW, f"table {table.id}: the band {band.kind} "
                                     f"{band.threshold:g} is never reached ({table.of.text} {of})", band.path,
                                     "an earlier band or the input schema takes every value first"))
        for position, (key, _) in enumerate(table.cases):
            if position not in rows:
                found.append(warning(locate, Code.UNREACHABLE_ROW, f"table {table.id}: the case {key} is never "
                                     f"reached ({table.of.text} {of})", (*table.path, "cases", key),
                                     "a misspelt case, or a value the input schema (or an earlier gate) excludes",
                                     at_key=True))
        for position, adjustment in enumerate(table.adjust):
            if position not in adjusted:
                found.append(warning(locate, Code.UNREACHABLE_ROW, f"table {table.id}: the adjustment when "
                                     f"`{adjustment.when.text}` never applies where the table is computed",
                                     adjustment.when.path, "an earlier gate or the input schema excludes it"))
    return found


def _of_text(runs: list[ValueRun]) -> str:
    of = join(r.of for r in runs if r.of is not None)
    if of.strs is not None and of.num is None and not (of.bools or of.none or of.other):
        return "is one of " + ", ".join(sorted(of.strs))
    return f"∈ {of.num.format()}" if of.num is not None else "never gives a value it can match"


def _bounds(spec: PolicySpec, analysis: DecisionAnalysis, locate: Locator) -> list[Diagnostic]:
    found = []
    bounded = [(t.id, "table", t.path, "bounds") for t in spec.tables if t.bounds] + \
              [(c.id, "combiner", c.path, "clamp") for c in spec.combiners if c.clamp]
    for name, kind, path, key in bounded:
        runs = analysis.runs[name]
        computed, bounds = _computed(runs), _declared(runs)
        if computed is None or bounds is None or not any(_clamps(computed, bounds)):
            continue
        found.append(warning(locate, Code.RANGE_EXCEEDS_BOUNDS, f"{kind} {name} computes {computed.format()} but "
                             f"its {key} {'are' if key == 'bounds' else 'is'} {_bounds_text(bounds)}: the decision uses the clamped number where "
                             f"{_sides(_clamps(computed, bounds))} cut{'' if _clamps(computed, bounds) == (True, True) else 's'} in", path, f"intended (the spec bounds it)? nothing to do; else change "
                             f"the rows, adjustments or inputs, or the {key}"))
    return found


def _sides(clamps: tuple[bool, bool]) -> str:
    return {(True, False): "the lower bound", (False, True): "the upper bound", (True, True): "both bounds"}.get(
        clamps, "")


def _clamps(computed: Interval, bounds: tuple[Interval, Interval]) -> tuple[bool, bool]:
    low, high = bounds
    return computed.low < low.high - TOLERANCE, computed.high > high.low + TOLERANCE


def _computed(runs: list[ValueRun]) -> Interval | None:
    return join(r.raw for r in runs).numeric


def _declared(runs: list[ValueRun]) -> tuple[Interval, Interval] | None:
    bounds = [r.bounds for r in runs if r.bounds is not None]
    if not bounds:
        return None
    lows, highs = [b[0] for b in bounds], [b[1] for b in bounds]
    return (Interval(min(b.low for b in lows), max(b.high for b in lows)),
            Interval(min(b.low for b in highs), max(b.high for b in highs)))


# --- the range report ----------------------------------------------------------------------------

def _ranges(spec: PolicySpec, analysis: DecisionAnalysis, locate: Locator) -> list[ValueRange]:
    named: list[tuple[str, str, JsonPath]] = [(t.id, "table", t.path) for t in spec.tables]
    named += [(c.id, "combiner", c.path) for c in spec.combiners]
    named += [(v.name, "value", v.path) for v in spec.values if analysis.runs[v.name]]
    ranges = []
    for name, kind, path in named:
        runs = analysis.runs[name]
        computed, result = _computed(runs), join(r.result for r in runs).numeric
        if computed is not None and result is not None:
            ranges.append(ValueRange(locate.doc.path, locate.line_of(path), name, kind, computed, result,
                                     _declared(runs)))
    return ranges


def _bounds_text(bounds: tuple[Interval, Interval] | None) -> str:
    if bounds is None:
        return "none"
    return "[" + ", ".join(b.format()[1:-1].split(", ")[0] if b.low == b.high else b.format() for b in bounds) + "]"


def _json(interval: Interval) -> list[float | None]:
    return [v if abs(v) != float("inf") else None for v in (interval.low, interval.high)]
