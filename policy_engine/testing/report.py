"""How a scenario run is shown: text for people, JSON for tools, JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from policy_engine.testing.compare import format_diff, show
from policy_engine.testing.coverage import format_coverage
from policy_engine.testing.dotted import MISSING_VALUE
from policy_engine.testing.runner import ERRORED, FAILED, PASSED, CaseResult, FileResult, RunSummary

_LABEL = {PASSED: "ok", FAILED: "FAIL", ERRORED: "ERROR"}


# --- text -------------------------------------------------------------------------------------
def format_text(summary: RunSummary, verbose: bool = False, threshold: float | None = None) -> str:
    lines: list[str] = []
    for result in summary.files:
        lines += _file_text(result, verbose)
    if summary.unscenarioed:
        lines.append("policies without a scenario file: " + ", ".join(summary.unscenarioed))
    for report in summary.coverage.values():
        lines.append(format_coverage(report))
    lines.append(summary_line(summary, threshold))
    return "\n".join(lines)


def summary_line(summary: RunSummary, threshold: float | None = None) -> str:
    broken = sum(1 for f in summary.files if f.broken)
    parts = [f"{summary.count(PASSED)} passed", f"{summary.count(FAILED)} failed", f"{summary.count(ERRORED)} errors"]
    if broken:
        parts.append(f"{broken} scenario file{'s' if broken != 1 else ''} unusable")
    text = ", ".join(parts) + f" in {summary.seconds:.2f} s"
    for report in summary.under(threshold):
        text += f"\ncoverage of {report.policy_id} is {report.percent:.1f} %, under the threshold of {threshold:g} %"
    return text


def _file_text(result: FileResult, verbose: bool) -> list[str]:
    policy = f" -> {result.policy}" + (f" ({result.policy_id})" if result.policy_id else "") if result.policy else ""
    lines = [f"{result.scenario}{policy}"]
    lines += [f"  {d.format_text()}".replace("\n", "\n  ") for d in result.diagnostics]
    if result.problem:
        lines.append(f"  ERROR  {result.problem}")
    for case in result.cases:
        if verbose or case.status != PASSED:
            lines += case_text(case)
    if result.cases and not verbose:
        passed = sum(1 for c in result.cases if c.status == PASSED)
        lines.append(f"  {passed}/{len(result.cases)} cases passed")
    return lines


def case_text(result: CaseResult, width: int = 9) -> list[str]:
    """The headline of a case, then (indented by ``width``) its problem, diff and parting step."""
    case = result.case
    lines = [f"  {_LABEL[result.status]:<6} {case.name}  [{case.location}]"]
    indent = " " * width
    if result.problem:
        lines += [indent + line for line in result.problem.splitlines()]
    if result.mismatches:
        lines.append(format_diff(list(result.mismatches), indent))
        observed = result.observation
        if observed is not None:
            said = f"{observed.outcome.upper()}" + (f" by {observed.rule}: {observed.reason}" if observed.rule else "")
            if observed.message and observed.message != observed.reason:
                said += f" — {observed.message}"
            lines.append(f"{indent}decision: {said}")
    if result.parting is not None:
        lines.append(result.parting.format_text(indent))
    return lines


# --- JSON -------------------------------------------------------------------------------------
def to_json(summary: RunSummary, threshold: float | None = None) -> str:
    data = {
        "ok": summary.ok and not summary.under(threshold),
        "summary": {"passed": summary.count(PASSED), "failed": summary.count(FAILED),
                    "errors": summary.count(ERRORED), "seconds": round(summary.seconds, 3)},
        "files": [_file_dict(result) for result in summary.files],
        "coverage": [report.to_dict() for report in summary.coverage.values()],
        "threshold": threshold,
        "policies_without_scenarios": summary.unscenarioed,
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=repr)


def _file_dict(result: FileResult) -> dict[str, Any]:
    return {"scenario": result.scenario, "policy": result.policy, "policy_id": result.policy_id,
            "kind": result.kind, "problem": result.problem,
            "diagnostics": [d.to_dict() for d in result.diagnostics],
            "cases": [_case_dict(case) for case in result.cases]}


def _case_dict(result: CaseResult) -> dict[str, Any]:
    data: dict[str, Any] = {"name": result.case.name, "location": result.case.location, "status": result.status}
    if result.problem:
        data["problem"] = result.problem
    if result.mismatches:
        data["mismatches"] = [{"field": m.field, "expected": _plain(m.expected), "actual": _plain(m.actual),
                               "note": m.note} for m in result.mismatches]
    if result.parting is not None:
        step = result.parting.step
        data["parted_at"] = {"index": result.parting.index, "rule": step.rule, "kind": step.kind,
                             "location": step.location, "status": step.status, "why": result.parting.why}
    return data


def _plain(value: Any) -> Any:
    return "<missing>" if value is MISSING_VALUE else value


# --- JUnit XML ----------------------------------------------------------------------------------
def to_junit(summary: RunSummary, threshold: float | None = None) -> str:
    root = ET.Element("testsuites", name="policy-engine test", tests=str(sum(len(f.cases) for f in summary.files)),
                      failures=str(summary.count(FAILED)), errors=str(summary.count(ERRORED)),
                      time=f"{summary.seconds:.3f}")
    for result in summary.files:
        _suite(root, result)
    if summary.coverage:
        _coverage_suite(root, summary, threshold)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _suite(root: ET.Element, result: FileResult) -> None:
    failures = sum(1 for c in result.cases if c.status == FAILED)
    errors = sum(1 for c in result.cases if c.status == ERRORED) + (1 if result.broken else 0)
    suite = ET.SubElement(root, "testsuite", name=result.scenario, tests=str(len(result.cases) + result.broken),
                          failures=str(failures), errors=str(errors), skipped="0",
                          time=f"{sum(c.seconds for c in result.cases):.3f}")
    classname = result.policy_id or result.scenario
    if result.broken:
        case = ET.SubElement(suite, "testcase", classname=classname, name="(scenario file)", file=result.scenario)
        text = "\n".join([*(d.format_text() for d in result.diagnostics), result.problem]).strip()
        ET.SubElement(case, "error", message=text.splitlines()[0]).text = text
    for item in result.cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=item.case.name, file=item.case.file,
                             line=str(item.case.line), time=f"{item.seconds:.4f}")
        if item.status == FAILED:
            first = item.mismatches[0]
            message = f"{first.field}: expected {show(first.expected)}, got {show(first.actual)}"
            ET.SubElement(case, "failure", message=message).text = "\n".join(case_text(item, 0)[1:])
        elif item.status == ERRORED:
            ET.SubElement(case, "error", message=item.problem.splitlines()[0]).text = item.problem


def _coverage_suite(root: ET.Element, summary: RunSummary, threshold: float | None) -> None:
    under = summary.under(threshold)
    suite = ET.SubElement(root, "testsuite", name="coverage", tests=str(len(summary.coverage)),
                          failures=str(len(under)), errors="0", skipped="0", time="0")
    properties = ET.SubElement(suite, "properties")
    for report in summary.coverage.values():
        ET.SubElement(properties, "property", name=f"coverage.{report.policy_id}", value=f"{report.percent:.1f}")
    for report in summary.coverage.values():
        case = ET.SubElement(suite, "testcase", classname="coverage", name=report.policy_id, file=report.policy_file)
        if report in under:
            ET.SubElement(case, "failure", message=f"{report.percent:.1f} % < {threshold:g} %").text = \
                format_coverage(report)
