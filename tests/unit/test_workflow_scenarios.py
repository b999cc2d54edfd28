"""Scenario files: reading, resolving inputs, comparing, and the report of a failing case."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.errors import Code, PolicyError
from policy_engine.testing.compare import compare, format_diff
from policy_engine.testing.dotted import MISSING_VALUE, PathError, get_path, lookup, remove_path, set_path
from policy_engine.testing.report import format_text
from policy_engine.testing.runner import ERRORED, FAILED, PASSED, run_scenarios
from policy_engine.testing.scenarios import load_scenario_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "workflow"
PASSING = FIXTURES / "tiny.tests.yaml"
FAILING = FIXTURES / "tiny_failing.tests.yaml"


def _write(tmp_path: Path, text: str, name: str = "x.tests.yaml") -> Path:
    (tmp_path / "tiny.yaml").write_text((ROOT / "tests" / "fixtures" / "tiny.yaml").read_text())
    (tmp_path / "tiny.schema.json").write_text((ROOT / "tests" / "fixtures" / "tiny.schema.json").read_text())
    (tmp_path / "request.json").write_text((FIXTURES / "tiny_request.json").read_text())
    path = tmp_path / name
    path.write_text(text)
    return path


# --- reading ---------------------------------------------------------------------------------
def test_cases_start_from_the_defaults_and_apply_overrides_then_removals(tmp_path: Path) -> None:
    path = _write(tmp_path, """apiVersion: policy-engine/tests/v1
policy: tiny.yaml
defaults:
  input_file: request.json
  overrides: {order.qty: 20}
  params: {max_notional: 500}
cases:
  - name: from the defaults
    expect: {outcome: approved}
  - name: own overrides on top
    overrides: {order.price: 10.0, order.tags.0: ignored}
    remove: [account.drawdown]
    params: {min_balance: 5}
    now: "2025-04-02T10:00:06Z"
    expect: {outcome: rejected}
  - name: inline input replaces the file
    input: {now: "2025-04-02T10:00:00Z"}
    expect: {rule: INPUT_SCHEMA}
""")
    scenario = load_scenario_file(path)
    first, second, third = scenario.cases
    assert scenario.policy_path == str(tmp_path / "tiny.yaml")
    assert (first.line, second.line, third.line) == (8, 10, 16)
    assert first.input["order"]["qty"] == 20 and first.params == {"max_notional": 500}
    assert second.problem == f"{path}:11:36: override 'order.tags.0': cannot set '0' in a list"  # tags is []
    assert second.params == {"max_notional": 500, "min_balance": 5} and second.now == "2025-04-02T10:00:06Z"
    # the defaults' overrides apply to every case's input, and this one has no order
    assert third.problem == f"{path}:5:15: override 'order.qty': no key 'order'"


def test_removal_deletes_a_key(tmp_path: Path) -> None:
    path = _write(tmp_path, """apiVersion: policy-engine/tests/v1
policy: tiny.yaml
cases:
  - name: no drawdown
    input_file: request.json
    remove: [account.drawdown]
    expect: {outcome: rejected, rule: INPUT_SCHEMA, reason: invalid_input}
""")
    case = load_scenario_file(path).cases[0]
    assert case.input["account"] == {"balance": 2000.0}
    summary = run_scenarios([str(path)])
    assert [r.status for r in summary.files[0].cases] == [PASSED]


@pytest.mark.parametrize(("text", "code", "line"), [
    ("apiVersion: policy-engine/tests/v2\ncases: []\n", Code.UNKNOWN_API_VERSION, 1),
    ("apiVersion: policy-engine/tests/v1\ncases:\n  - name: a\n    expected: {outcome: approved}\n",
     Code.UNKNOWN_FIELD, 4),
    ("apiVersion: policy-engine/tests/v1\ncases:\n  - name: a\n    expect: {}\n", Code.INVALID_VALUE, 4),
    ("apiVersion: policy-engine/tests/v1\ncases:\n  - {name: a, expect: {rule: X}}\n  - {name: a, expect: {rule: Y}}\n",
     Code.DUPLICATE_ID, 4),
    ("apiVersion: policy-engine/tests/v1\ncases:\n  - {name: a, expect: {rule: X}, tolerance: -1}\n",
     Code.INVALID_VALUE, 3),
])
def test_a_broken_scenario_file_gets_located_diagnostics(tmp_path: Path, text: str, code: Code, line: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as raised:
        load_scenario_file(path)
    assert (raised.value.diagnostics[0].code, raised.value.diagnostics[0].line) == (code, line)


def test_a_missing_input_file_makes_that_case_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, """apiVersion: policy-engine/tests/v1
policy: tiny.yaml
cases:
  - name: gone
    input_file: nowhere.json
    expect: {outcome: approved}
  - name: fine
    input_file: request.json
    expect: {outcome: approved}
""")
    result = run_scenarios([str(path)]).files[0]
    assert [c.status for c in result.cases] == [ERRORED, PASSED]
    assert result.cases[0].problem.startswith(f"{path}:5:17: cannot read input_file nowhere.json")


# --- running -----------------------------------------------------------------------------------
def test_the_passing_file_passes() -> None:
    summary = run_scenarios([str(PASSING)])
    assert [(c.case.name, c.status) for c in summary.files[0].cases] == [
        ("small order is approved", PASSED), ("stale order", PASSED)]
    assert summary.ok


def test_each_failure_names_its_differences_and_the_trace_step_where_they_part() -> None:
    result = run_scenarios([str(FAILING)]).files[0]
    stale, balance, notional, broken = result.cases
    assert [c.status for c in result.cases] == [FAILED, FAILED, FAILED, ERRORED]
    assert [(m.field, m.expected, m.actual) for m in stale.mismatches] == [
        ("reason", "notional_too_large", "stale_order"), ("rule", "NOTIONAL_GATE", "FRESH_GATE")]
    assert stale.parting is not None and (stale.parting.step.rule, stale.parting.index) == ("FRESH_GATE", 0)
    assert stale.parting.why == "it decided (stale_order); the case expects NOTIONAL_GATE to decide"
    assert balance.parting is not None and (balance.parting.step.rule, balance.parting.step.status) == (
        "BALANCE_GATE", "passed")
    assert [(m.field, m.expected, m.actual, m.note) for m in notional.mismatches] == [
        ("values.notional", 501.0, 500.0, "tolerance 1e-09"), ("values.ratio", 0.2, 0.25, "tolerance 0.01")]
    assert notional.parting is not None and notional.parting.step.rule == "notional"
    assert broken.problem == f"{FAILING}:18:17: override 'order.size.lots': no key 'size'"


def test_the_failure_text_shows_the_diff_and_the_parting_step() -> None:
    text = format_text(run_scenarios([str(FAILING)]))
    diff = [
        "         --- expected",
        "         +++ actual",
        '         - outcome: "rejected"',
        '         + outcome: "approved"',
        '         - rule: "BALANCE_GATE"',
        "         + rule: null",
        "         decision: APPROVED",
    ]
    assert "\n".join(diff) in text
    assert "parted at trace step 4/10: gate BALANCE_GATE (" in text
    assert text.endswith("0 passed, 3 failed, 1 errors in " + text.rsplit(" in ", 1)[1])


def test_a_policy_that_does_not_compile_is_reported_for_its_scenario_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "apiVersion: policy-engine/tests/v1\npolicy: tiny.yaml\n"
                            "cases:\n  - {name: a, input_file: request.json, expect: {outcome: approved}}\n")
    (tmp_path / "tiny.yaml").write_text((tmp_path / "tiny.yaml").read_text().replace("notional <=", "notionl <="))
    summary = run_scenarios([str(path)])
    assert summary.files[0].broken and not summary.ok
    assert [d.code for d in summary.files[0].diagnostics] == [Code.EXPR_UNKNOWN_NAME]


def test_case_params_that_do_not_fit_the_policy_are_a_case_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "apiVersion: policy-engine/tests/v1\npolicy: tiny.yaml\n"
                            "cases:\n  - {name: a, input_file: request.json, params: {max_notionl: 1},"
                            " expect: {outcome: approved}}\n")
    case = run_scenarios([str(path)]).files[0].cases[0]
    assert case.status == ERRORED and "E501" in case.problem and "max_notional" in case.problem


# --- comparing ---------------------------------------------------------------------------------
def test_comparison_rules() -> None:
    scenario = load_scenario_file(PASSING)
    case = scenario.cases[0]
    from policy_engine.testing.adapters import Observation

    def observed(values: dict[str, object]) -> Observation:
        return Observation("approved", None, None, values=values)

    same = {"notional": 500.0 + 1e-12, "combined": 1, "ratio": 0.25}
    assert compare(case, observed(same)) == []
    assert [m.field for m in compare(case, observed({"notional": True, "combined": 1.0, "ratio": 0.25}))] == [
        "values.notional"]
    missing = compare(case, observed({"combined": 1.0, "ratio": 0.25}))
    assert (missing[0].actual, missing[0].note) == (MISSING_VALUE, "'notional': no key 'notional'")
    assert format_diff(missing) == '--- expected\n+++ actual\n- values.notional: 500.0\n+ values.notional: <missing>' \
                                   "    ('notional': no key 'notional')"


# --- dotted paths ---------------------------------------------------------------------------------
def test_dotted_paths() -> None:
    data = {"a": {"b": [1, {"c": 2}]}}
    assert get_path(data, "a.b.1.c") == 2 and lookup(data, "a.x") is MISSING_VALUE
    set_path(data, "a.b.0", 5)
    set_path(data, "a.new", {"k": 1})
    remove_path(data, "a.b.1.c")
    assert data == {"a": {"b": [5, {}], "new": {"k": 1}}}
    for bad in ("a..b", "", "a.b.9", "a.b.x"):
        with pytest.raises(PathError):
            get_path(data, bad)


_keys = st.text(alphabet="abcxyz_", min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(st.lists(_keys, min_size=1, max_size=4), st.one_of(st.integers(), st.text(max_size=5), st.none()))
def test_a_value_set_at_a_path_reads_back(path: list[str], value: object) -> None:
    data: dict[str, object] = {}
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})  # type: ignore[assignment]
        if not isinstance(node, dict):
            return
    set_path(data, ".".join(path), value)
    assert get_path(data, ".".join(path)) == value
