"""Expected vs actual: which stated fields differ, and the first trace step where they part.

Only what a case states is compared. Numbers compare within the case's absolute tolerance
(booleans are not numbers here: ``true`` never equals ``1``); mappings and lists compare item by
item. The parting step is the earliest step of the actual trace that explains a difference: the
gate that rejected when another rule (or an approval) was expected, the expected gate that let
the request through, a trigger that fired or stayed clear against the expectation, the value an
expected value was read from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policy_engine.testing.adapters import Observation
from policy_engine.testing.dotted import MISSING_VALUE, PathError, get_path
from policy_engine.testing.scenarios import Case
from policy_engine.trace import TraceStep


@dataclass(frozen=True)
class Mismatch:
    field: str  # outcome | reason | rule | fired | events | values.<path>
    expected: Any
    actual: Any
    note: str = ""


@dataclass(frozen=True)
class Parting:
    index: int  # 0-based position in the trace
    total: int
    step: TraceStep
    why: str

    def format_text(self, indent: str = "") -> str:
        head = (f"{indent}parted at trace step {self.index + 1}/{self.total}: {self.step.kind} {self.step.rule} "
                f"({self.step.location}) {self.step.status} — {self.why}")
        body = "\n".join(indent + "  " + line for line in self.step.format_text().splitlines())
        return f"{head}\n{body}"


def compare(case: Case, observed: Observation) -> list[Mismatch]:
    mismatches = [Mismatch(name, expected, observed.field(name))
                  for name, expected in case.expect.fields.items() if not _same(expected, observed.field(name), 0.0)]
    for path, expected in case.expect.values.items():
        mismatches += _value_mismatch(path, expected, observed, case.tolerance)
    return mismatches


def _value_mismatch(path: str, expected: Any, observed: Observation, tolerance: float) -> list[Mismatch]:
    if isinstance(expected, dict) and "approx" in expected and set(expected) <= {"approx", "tolerance"}:
        tolerance = float(expected.get("tolerance", tolerance))
        expected = expected["approx"]
    try:
        actual = get_path(observed.values, path)
    except PathError as err:
        return [Mismatch(f"values.{path}", expected, MISSING_VALUE, str(err))]
    if _same(expected, actual, tolerance):
        return []
    note = f"tolerance {tolerance:g}" if _is_number(expected) and _is_number(actual) else ""
    return [Mismatch(f"values.{path}", expected, actual, note)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(expected: Any, actual: Any, tolerance: float) -> bool:
    if _is_number(expected) and _is_number(actual):
        if isinstance(expected, float) and isinstance(actual, float) and math.isnan(expected) and math.isnan(actual):
            return True
        return bool(abs(expected - actual) <= tolerance)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_same(v, actual[k], tolerance) for k, v in expected.items())
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(_same(e, a, tolerance) for e, a in zip(expected, actual))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return type(expected) is type(actual) and bool(expected == actual)


# --- rendering ----------------------------------------------------------------------------------
def show(value: Any) -> str:
    if value is MISSING_VALUE:
        return "<missing>"
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    except ValueError:
        return repr(value)


def format_diff(mismatches: list[Mismatch], indent: str = "") -> str:
    lines = [f"{indent}--- expected", f"{indent}+++ actual"]
    for item in mismatches:
        note = f"    ({item.note})" if item.note else ""
        lines.append(f"{indent}- {item.field}: {show(item.expected)}")
        lines.append(f"{indent}+ {item.field}: {show(item.actual)}{note}")
    return "\n".join(lines)


# --- the parting step ---------------------------------------------------------------------------
def parting_step(case: Case, observed: Observation, mismatches: list[Mismatch]) -> Parting | None:
    """The earliest trace step that explains a mismatch, or None (no trace, nothing to point at)."""
    reasons: dict[str, str] = {}
    fields = {m.field for m in mismatches}
    expected = case.expect.fields
    if fields & {"outcome", "rule", "reason", "events"}:
        _decider_reasons(expected, observed, reasons)
    if "fired" in fields:
        wanted = set(expected["fired"])
        for trigger in wanted.symmetric_difference(observed.fired):
            reasons.setdefault(trigger, f"the case expects it {'to fire' if trigger in wanted else 'to stay clear'}")
    for item in mismatches:
        if item.field.startswith("values."):
            root = item.field.removeprefix("values.").split(".")[0]
            reasons.setdefault(root, f"computes {root}, where the case expects {item.field} = {show(item.expected)}")
    for index, step in enumerate(observed.trace):
        if step.rule in reasons:
            return Parting(index, len(observed.trace), step, reasons[step.rule])
    for index, step in enumerate(observed.trace):  # nothing more specific: the rule that decided
        if step.rule == observed.rule:
            return Parting(index, len(observed.trace), step, f"it decided ({observed.reason})")
    return None


def _decider_reasons(expected: Mapping[str, Any], observed: Observation, reasons: dict[str, str]) -> None:
    wanted_rule = expected.get("rule")
    wanted = (f"{wanted_rule} to decide" if wanted_rule else
              "an approval" if expected.get("outcome") == "approved" else "another answer")
    if observed.rule is not None:
        reasons[observed.rule] = f"it decided ({observed.reason}); the case expects {wanted}"
    if wanted_rule and wanted_rule != observed.rule:
        because = f" ({expected['reason']})" if expected.get("reason") else ""
        reasons[wanted_rule] = f"the case expects it to decide{because}"
