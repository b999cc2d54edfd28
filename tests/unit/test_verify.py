"""Static verification (`policy-engine validate`): seeded faults are caught and located, the shipped
policies verify with exactly their known warnings, and the analysis is sound — every value a real
evaluation computes lies in the range verification claims for it.

Seeded faults are fixtures under tests/fixtures/bad/ (errors) and tests/fixtures/bad/warnings/
(warnings), each starting with ``# expect: [warning ]CODE LINE:COL (why)``.
"""

from __future__ import annotations

import ast
import io
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.cli import main
from policy_engine.compiler.abstract_eval import AbstractEvaluator, Env
from policy_engine.compiler.intervals import Abstract, Interval, add, div, mul, of_schema
from policy_engine.compiler.verify import verify
from policy_engine.errors import Code, Severity
from policy_engine.expr.reference import ReferenceEvaluator
from tests.bench.generator import generate_requests

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad"
EXPECT = re.compile(r"^# expect: (?P<warning>warning )?(?P<code>[A-Z_]+) (?P<line>\d+):(?P<col>\d+)")
SIZING = ROOT / "policies" / "risk" / "position_sizing.yaml"

# The faults the issue names, and where each one's fixture is.
SEEDED = {
    "a gap between bands (two comparisons in one table)": BAD / "table_gap.yaml",
    "an overlap": BAD / "table_overlap.yaml",
    "a multiplier whose steps exceed its bounds": BAD / "table_steps_outside_bounds.yaml",
    "a multiplier whose adjustments exceed its bounds": BAD / "warnings" / "table_adjustment_beyond_bounds.yaml",
    "a combined multiplier its clamp cuts": BAD / "warnings" / "combiner_clamp_cuts.yaml",
    "a band the input schema never reaches": BAD / "warnings" / "table_unreachable_band.yaml",
    "a misspelt case": BAD / "warnings" / "table_unreachable_case.yaml",
    "an adjustment an earlier gate excludes": BAD / "warnings" / "table_adjustment_never_applies.yaml",
    "a gate that can never fail": BAD / "warnings" / "gate_never_fails.yaml",
    "a gate made redundant by an earlier one": BAD / "warnings" / "gate_redundant.yaml",
    "a gate that can never pass": BAD / "warnings" / "gate_never_passes.yaml",
    "a gate that never applies": BAD / "warnings" / "gate_never_applies.yaml",
    "an unreachable state": BAD / "machine_unreachable_state.yaml",
    "a state with no way out": BAD / "warnings" / "machine_dead_end.yaml",
}


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out, io.StringIO())
    return code, out.getvalue()


def _expected(path: Path) -> tuple[Severity, Code, int, int]:
    match = EXPECT.match(path.read_text(encoding="utf-8"))
    assert match, f"{path} has no # expect: header"
    severity = Severity.WARNING if match["warning"] else Severity.ERROR
    return severity, Code[match["code"]], int(match["line"]), int(match["col"])


# --- seeded faults -----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", SEEDED, ids=lambda f: SEEDED[f].stem)
def test_seeded_fault_is_caught_at_its_location(fault: str) -> None:
    path = SEEDED[fault]
    severity, code, line, col = _expected(path)
    first = verify(path).diagnostics[0]
    assert (first.severity, first.code, first.line, first.col) == (severity, code, line, col)
    assert first.file == str(path)
    assert first.source_line == path.read_text(encoding="utf-8").splitlines()[line - 1]


@pytest.mark.parametrize("path", sorted((BAD / "warnings").glob("*.yaml")), ids=lambda p: p.stem)
def test_warnings_do_not_fail_validate_unless_strict(path: Path) -> None:
    _, code, line, col = _expected(path)
    [found] = verify(path).diagnostics  # each fixture holds exactly its one fault
    assert (found.code, found.line, found.col, found.severity) == (code, line, col, Severity.WARNING)
    status, out = _cli("validate", str(path))
    assert status == 0
    assert out.startswith(f"{path}:{line}:{col}: warning[{code.value}]: ")
    assert out.splitlines()[-1] == f"{path}: ok, 1 warning"
    status, out = _cli("validate", "--strict", str(path))
    assert (status, out.splitlines()[-1]) == (1, f"{path}: 1 warning (--strict)")


def test_validate_json_marks_warnings_and_strictness() -> None:
    path = BAD / "warnings" / "gate_never_fails.yaml"
    _, out = _cli("validate", "--format", "json", str(path))
    [report] = json.loads(out)
    assert report["ok"] is True
    assert [(d["name"], d["severity"], d["line"]) for d in report["diagnostics"]] == [
        ("CHECK_NEVER_FAILS", "warning", 10)]
    status, out = _cli("validate", "--format", "json", "--strict", str(path))
    assert status == 1 and json.loads(out)[0]["ok"] is False


def test_a_gap_cannot_be_written_without_an_error() -> None:
    """One comparison per table and a required else make the bands a partition of the line, so a
    gap needs two comparisons (E203, the seeded gap) or a missing else (E205)."""
    text = (BAD / "table_gap.yaml").read_text(encoding="utf-8")
    one_kind = text.replace("{at_least: 0.5, value: 0.5}", "{below: 0.5, value: 0.5}")
    assert verify_text(one_kind, BAD / "table_gap.yaml").diagnostics == ()
    no_else = one_kind.replace("      - {else: 0.0}\n", "")
    assert [d.code for d in verify_text(no_else, BAD / "table_gap.yaml").diagnostics] == [Code.TABLE_NO_ELSE]


def verify_text(text: str, beside: Path) -> Any:
    path = beside.parent / "_verify_tmp.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        return verify(path)
    finally:
        path.unlink()


def test_a_policy_beyond_the_analysis_is_a_warning_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def too_deep(self: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("policy_engine.compiler.verify_decision.DecisionAnalysis.run", too_deep)
    path = ROOT / "tests" / "fixtures" / "tiny.yaml"
    [found] = verify(path).diagnostics
    assert (found.code, found.severity, found.line) == (Code.VERIFY_INCOMPLETE, Severity.WARNING, 2)
    assert _cli("validate", str(path))[0] == 0


# --- the shipped policies ----------------------------------------------------------------------

SHIPPED_WARNINGS = {
    # the lower bound 0.25 lifts EXTREME x CHOPPY (0.2) and EXTREME x confidence < 0.4 (0.224): seed §7.2
    ("position_sizing.yaml", "RANGE_EXCEEDS_BOUNDS", "$.tables[1]"),
    # REGIME_GATE rejects every UNKNOWN regime before any rule reads the multiplier
    ("position_sizing.yaml", "UNREACHABLE_ROW", "$.tables[1].adjust[1].when"),
    # the lower bound lifts ILLIQUID with a spread > 0.15 (0.25 x 0.8 x 0.6 = 0.12): seed §7.3
    ("position_sizing.yaml", "RANGE_EXCEEDS_BOUNDS", "$.tables[2]"),
    # with min_position_size 1 and allow_below_minimum false, size_below_minimum always says it first
    ("position_sizing.yaml", "CHECK_NEVER_FAILS", "$.gates[13].checks[1].pass_if"),
}


def test_shipped_policies_verify_with_their_known_warnings() -> None:
    found = set()
    for path in sorted((ROOT / "policies").rglob("*.yaml")):
        if path.name.endswith(".tests.yaml") or "examples" in path.parts:
            continue
        result = verify(path)
        assert result.errors == [], path
        found |= {(path.name, d.code.name, d.json_path) for d in result.warnings}
    assert found == SHIPPED_WARNINGS


@cache
def sizing_ranges() -> dict[str, Any]:
    return {r.name: r for r in verify(SIZING).ranges}


def test_combined_multiplier_is_proven_within_its_clamp() -> None:
    ranges = sizing_ranges()
    clamped = ranges["combined_multiplier_clamped"]
    assert clamped.bounds == (Interval(0.25, 0.25), Interval(1.5, 1.5))
    assert clamped.result.within(Interval(0.25, 1.5)) and clamped.result.low == 0.25
    assert clamped.result.high == pytest.approx(1.32)  # 1.2 x 1.1: the upper clamp never acts
    assert (ranges["combined_multiplier"].computed.low, ranges["combined_multiplier"].status) == (0.0, "no bounds")
    assert {n: r.status for n, r in ranges.items() if r.kind == "table" and r.bounds} == {
        "confidence_multiplier": "proven", "regime_multiplier": "the lower bound clamps",
        "liquidity_multiplier": "the lower bound clamps", "urgency_multiplier": "proven",
        "drawdown_multiplier": "proven", "streak_multiplier": "proven"}
    assert ranges["regime_multiplier"].computed.low == pytest.approx(0.2)


def test_validate_verbose_and_json_report_ranges() -> None:
    fixture = BAD / "warnings" / "combiner_clamp_cuts.yaml"
    status, out = _cli("validate", "-v", str(fixture))
    assert status == 0
    assert out.splitlines()[-3:] == [
        f"  {fixture}:9: confidence_mult ∈ [0.5, 1.5] (computed [0.5, 1.5]): no bounds",
        f"  {fixture}:14: qty_mult ∈ [0.5, 1.5] (computed [0.5, 1.5]): no bounds",
        f"  {fixture}:20: combined ∈ [0.5, 1.2] (computed [0.25, 2.25]; bounds [0.5, 1.2]): both bounds clamp"]
    _, out = _cli("validate", "--format", "json", str(fixture))
    [report] = json.loads(out)
    combined = next(r for r in report["ranges"] if r["name"] == "combined")
    assert (combined["range"], combined["computed"], combined["bounds"], combined["kind"]) == (
        [0.5, 1.2], [0.25, 2.25], [[0.5, 0.5], [1.2, 1.2]], "combiner")


# --- soundness -------------------------------------------------------------------------------------

def test_every_computed_multiplier_lies_in_its_verified_range() -> None:
    ranges = {name: r.result for name, r in sizing_ranges().items()}
    policy = policy_engine.load(SIZING)
    approved = 0
    for request in generate_requests(400, seed=11):
        decision = policy.evaluate(request)
        factors = decision.values.get("factors") if decision.outcome == "approved" else None
        for name, value in (factors or {}).items():
            if name in ranges:
                assert ranges[name].contains(value), (name, value)
        approved += factors is not None
    assert approved > 50


SCHEMA: dict[str, Any] = {"type": "object", "required": ["x", "y", "z", "s", "f"], "properties": {
    "x": {"type": "number", "minimum": -5, "maximum": 5}, "y": {"type": "integer", "minimum": 0, "maximum": 10},
    "z": {"type": ["number", "null"], "minimum": 0, "maximum": 1}, "s": {"type": "string", "enum": ["A", "B", "C"]},
    "f": {"type": "boolean"}}}
NUMBERS = st.sampled_from(["x", "y", "z", "0", "1", "2.5", "-0.5", "coalesce(z, 0.5)"])
CONDITIONS = st.sampled_from(["f", "s == 'A'", "s in ['A', 'B']", "z is None", "z is not None", "s != 'C'"])


def _numeric(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    calls = st.tuples(st.sampled_from(["abs", "floor", "snap", "round_half_up"]), children).map(lambda t: f"{t[0]}({t[1]})")
    pairs = st.tuples(st.sampled_from(["min", "max"]), children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
    clamp = children.map(lambda c: f"clamp({c}, -1, 1)")
    choice = st.tuples(children, _condition(children), children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})")
    return st.one_of(binary, calls, pairs, clamp, choice)


def _condition(numbers: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    compared = st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers).map(" ".join)
    combined = st.tuples(CONDITIONS, st.sampled_from(["and", "or"]), compared).map(lambda t: f"({' '.join(t)})")
    return st.one_of(CONDITIONS, compared, combined, compared.map(lambda c: f"not ({c})"))


EXPRESSIONS = st.recursive(NUMBERS, _numeric, max_leaves=6)
REQUESTS = st.fixed_dictionaries({
    "x": st.one_of(st.sampled_from([-5.0, 0.0, 5.0, 0.1]), st.floats(-5, 5)), "y": st.integers(0, 10),
    "z": st.one_of(st.none(), st.floats(0, 1)), "s": st.sampled_from(["A", "B", "C"]), "f": st.booleans()})


def _evaluator() -> AbstractEvaluator:
    return AbstractEvaluator(SCHEMA["properties"], frozenset(SCHEMA["required"]), {}, {}, lambda n, e: Abstract(),
                             {}, {})


def _admits(abstract: Abstract, value: Any) -> bool:
    if isinstance(value, bool):
        return value in abstract.bools
    if isinstance(value, (int, float)):
        return abstract.num is not None and abstract.num.contains(value)
    if isinstance(value, str):
        return abstract.strs is None or value in abstract.strs
    return abstract.none if value is None else abstract.other


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.one_of(EXPRESSIONS, _condition(EXPRESSIONS)), REQUESTS)
def test_abstract_evaluation_contains_the_reference_result(text: str, request: dict[str, Any]) -> None:
    tree = ast.parse(text, mode="eval")
    abstract = _evaluator().eval(tree, Env())
    try:
        value = ReferenceEvaluator(request).evaluate(tree)
    except Exception:  # noqa: BLE001 - any failure must have been foreseen
        assert abstract.error, text
        return
    if isinstance(value, float) and not math.isfinite(value):
        return  # the engine refuses non-finite results itself
    assert _admits(abstract, value), (text, request, value, abstract)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(_condition(EXPRESSIONS), REQUESTS)
def test_assume_keeps_every_request_that_satisfies_the_condition(text: str, request: dict[str, Any]) -> None:
    tree = ast.parse(text, mode="eval")
    try:
        holds = bool(ReferenceEvaluator(request).evaluate(tree))
    except Exception:  # noqa: BLE001 - a condition that raises decides nothing
        return
    paths = _evaluator().assume(tree, holds, Env())
    assert any(all(_admits(fact, request[path[0]]) for path, fact in env.inputs) for env in paths), (text, request)


# --- the interval arithmetic --------------------------------------------------------------------

def test_bounds_round_outwards() -> None:
    total = add(Interval.point(0.1), Interval.point(0.2))
    assert total.low < 0.1 + 0.2 <= total.high  # 0.30000000000000004 is not exact: widened
    assert add(Interval.point(0.5), Interval.point(0.25)) == Interval.point(0.75)  # exact: kept
    product = mul(Interval(0.25, 1.2), Interval(0.5, 1.1))
    assert product.low == 0.125 and product.high >= 1.2 * 1.1


def test_division_by_an_interval_holding_zero_is_unbounded() -> None:
    assert div(Interval(1.0, 2.0), Interval(-1.0, 1.0)) is None
    assert div(Interval(1.0, 2.0), Interval(0.5, 4.0)) == Interval(0.25, 4.0)


def test_schema_ranges_become_intervals() -> None:
    assert of_schema({"type": "number", "minimum": 0, "maximum": 1}).num == Interval(0.0, 1.0)
    assert of_schema({"type": ["number", "null"], "exclusiveMinimum": 0}) == Abstract(num=Interval(0.0, math.inf),
                                                                                       none=True)
    assert of_schema({"type": "string", "enum": ["LOW", "HIGH"]}).strs == frozenset({"LOW", "HIGH"})
