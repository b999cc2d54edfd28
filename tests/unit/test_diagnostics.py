"""One bad-policy fixture per diagnostic code of the compiler stages: code, line and column,
through the API and through ``policy-engine validate`` (text and JSON).

Each fixture in tests/fixtures/bad/ starts with ``# expect: CODE LINE:COL (why)``: the first
diagnostic (they are sorted by location) must be exactly that. The source-stage codes
(E001-E006) are tested in test_source.py; here only one of them goes through the CLI.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import policy_engine
from policy_engine.cli import main
from policy_engine.errors import Code, Diagnostic, PolicyError

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad"
TINY = ROOT / "tests" / "fixtures" / "tiny.yaml"
EXPECT = re.compile(r"^# expect: (?P<code>[A-Z_]+) (?P<line>\d+):(?P<col>\d+)")

# Every code the compiler stages (schema, structure, expressions, graph) produce for a
# DecisionPolicy; PARAM_OVERRIDE needs --set and is tested below on tiny.yaml.
COMPILER_CODES = {
    Code.UNKNOWN_API_VERSION, Code.UNKNOWN_FIELD, Code.WRONG_TYPE, Code.MISSING_FIELD, Code.INVALID_VALUE,
    Code.DUPLICATE_ID, Code.GATE_WITHOUT_REASON, Code.TABLE_UNORDERED, Code.TABLE_OVERLAP, Code.TABLE_NO_ELSE,
    Code.BAD_BOUNDS, Code.BAD_REFERENCE, Code.INPUT_SCHEMA,
    Code.EXPR_SYNTAX, Code.EXPR_UNKNOWN_NAME, Code.EXPR_UNSAFE, Code.EXPR_TOO_COMPLEX, Code.TEMPLATE,
    Code.VALUE_CYCLE,
}


@dataclass(frozen=True)
class Expected:
    path: Path
    code: Code
    line: int
    col: int


def _expected(path: Path) -> Expected | None:
    match = EXPECT.match(path.read_text(encoding="utf-8"))
    if match is None:
        return None
    return Expected(path, Code[match["code"]], int(match["line"]), int(match["col"]))


FIXTURES = [e for p in sorted(BAD.glob("*.yaml")) if not p.name.startswith("src_") and (e := _expected(p))]


def _diagnostics(path: Path, params: dict[str, object] | None = None) -> list[Diagnostic]:
    with pytest.raises(PolicyError) as caught:
        policy_engine.load(path, params)
    return caught.value.diagnostics


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_every_compiler_code_has_a_fixture() -> None:
    assert COMPILER_CODES <= {e.code for e in FIXTURES}
    names = {e.path.name for e in FIXTURES}
    # the variants the issue asks for by name
    assert {"duplicate_rule_id.yaml", "duplicate_value_name.yaml", "input_schema_missing.yaml",
            "input_schema_unreadable.yaml", "input_schema_unsupported.yaml", "expr_unknown_input_field.yaml",
            "expr_unknown_param.yaml", "expr_unknown_value.yaml"} <= names


@pytest.mark.parametrize("expected", FIXTURES, ids=lambda e: e.path.stem)
def test_api_reports_code_line_and_column(expected: Expected) -> None:
    first = _diagnostics(expected.path)[0]
    assert (first.code, first.line, first.col) == (expected.code, expected.line, expected.col)
    assert first.file == str(expected.path)
    assert first.source_line == expected.path.read_text(encoding="utf-8").splitlines()[expected.line - 1]


@pytest.mark.parametrize("expected", FIXTURES, ids=lambda e: e.path.stem)
def test_validate_prints_location_and_exits_1(expected: Expected) -> None:
    code, out, _ = _cli("validate", str(expected.path))
    assert code == 1
    head = f"{expected.path}:{expected.line}:{expected.col}: error[{expected.code.value}]: "
    assert out.splitlines()[0].startswith(head)
    assert "Traceback" not in out


@pytest.mark.parametrize("expected", FIXTURES, ids=lambda e: e.path.stem)
def test_validate_json_carries_the_same_diagnostic(expected: Expected) -> None:
    code, out, _ = _cli("validate", "--format", "json", str(expected.path))
    assert code == 1
    [report] = json.loads(out)
    assert report["file"] == str(expected.path) and report["ok"] is False
    first = report["diagnostics"][0]
    assert (first["code"], first["name"], first["line"], first["col"]) == (
        expected.code.value, expected.code.name, expected.line, expected.col)
    assert first["severity"] == "error" and first["json_path"].startswith("$")


def test_validate_folder_reports_every_bad_file() -> None:
    code, out, _ = _cli("validate", "--format", "json", str(BAD))
    assert code == 1
    reports = {Path(r["file"]).name: r for r in json.loads(out)}
    for expected in FIXTURES:
        assert reports[expected.path.name]["diagnostics"][0]["code"] == expected.code.value


# --- what the fixtures say beyond code and place ----------------------------------------------

@pytest.mark.parametrize("fixture, path, hint", [
    ("expr_unknown_input_field.yaml", "$.values.notional", "did you mean 'price'?"),
    ("expr_unknown_param.yaml", "$.gates[0].pass_if", "did you mean 'max_notional'?"),
    ("expr_unknown_value.yaml", "$.gates[0].pass_if", "did you mean 'notional'?"),
    ("bad_reference_output.yaml", "$.outputs[1]", "did you mean 'notional'?"),
    ("schema_unknown_field.yaml", "$.gates[0].rejct", "did you mean 'reject'?"),
])
def test_name_errors_suggest_the_closest_name(fixture: str, path: str, hint: str) -> None:
    first = _diagnostics(BAD / fixture)[0]
    assert (first.json_path, first.hint) == (path, hint)


def test_value_cycle_names_the_cycle() -> None:
    [cycle] = _diagnostics(BAD / "value_cycle.yaml")
    assert cycle.code is Code.VALUE_CYCLE
    assert cycle.message.endswith("exposure -> headroom -> exposure")


@pytest.mark.parametrize("fixture, says", [
    ("input_schema_missing.yaml", "not found"),
    ("input_schema_unreadable.yaml", "cannot be read"),
    ("input_schema_unsupported.yaml", "'pattern'"),
])
def test_input_schema_problems_say_which(fixture: str, says: str) -> None:
    [problem] = _diagnostics(BAD / fixture)
    assert problem.code is Code.INPUT_SCHEMA and problem.json_path == "$.inputs.schema"
    assert says in problem.message


def test_diagnostics_are_sorted_and_all_reported() -> None:
    text = TINY.read_text(encoding="utf-8").replace("notional / account.balance", "notionl / account.balanse")
    with pytest.raises(PolicyError) as caught:
        policy_engine.loads(text, str(TINY))
    found = [(d.code, d.line, d.col) for d in caught.value.diagnostics]
    assert found == [(Code.EXPR_UNKNOWN_NAME, 12, 10), (Code.EXPR_UNKNOWN_NAME, 12, 20)]


# --- PARAM_OVERRIDE: --set of an unknown param or of another type ------------------------------

@pytest.mark.parametrize("params, line, col, hint", [
    ({"max_notionl": 5}, 6, 3, "did you mean 'max_notional'?"),
    ({"max_notional": "big"}, 6, 17, ""),
    ({"max_age_ms": True}, 7, 15, ""),
])
def test_param_override_is_refused_at_the_param(params: dict[str, object], line: int, col: int, hint: str) -> None:
    [problem] = _diagnostics(TINY, params)
    assert (problem.code, problem.line, problem.col, problem.hint) == (Code.PARAM_OVERRIDE, line, col, hint)


@pytest.mark.parametrize("setting, line, col", [("max_notionl=5", 6, 3), ("max_notional=big", 6, 17)])
def test_param_override_through_the_cli(setting: str, line: int, col: int, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text("{}", encoding="utf-8")
    code, out, err = _cli("eval", str(TINY), str(request), "--set", setting)
    assert code == 1 and out == ""
    assert err.startswith(f"{TINY}:{line}:{col}: error[{Code.PARAM_OVERRIDE.value}]: --set ")


def test_param_override_of_the_same_type_compiles() -> None:
    policy = policy_engine.load(TINY, {"max_notional": 2.5, "min_balance": 0})
    assert policy.plan.params["max_notional"] == 2.5


# --- one source-stage code through the CLI --------------------------------------------------------

def test_source_errors_reach_the_cli_located() -> None:
    code, out, _ = _cli("validate", str(BAD / "cli_duplicate_key.yaml"))
    assert code == 1
    assert out.startswith(f"{BAD / 'cli_duplicate_key.yaml'}:8:3: error[{Code.YAML_DUPLICATE_KEY.value}]: ")


def test_missing_file_is_a_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, out, _ = _cli("validate", str(missing))
    assert code == 1
    assert f"error[{Code.FILE_NOT_FOUND.value}]" in out


def test_a_table_value_outside_its_own_bounds_is_located() -> None:
    """Verification of a seeded fault: a step its bounds would silently clamp."""
    tiny = Path("tests/fixtures/tiny.yaml")
    text = tiny.read_text().replace("      - {below: 0.2, value: 0.5}", "      - {below: 0.2, value: 1.5}")
    text = text.replace("      - {else: 0.0}", "      - {else: 0.0}\n    bounds: [0.0, 1.0]")
    with pytest.raises(PolicyError) as raised:
        policy_engine.loads(text, str(tiny))
    [diagnostic] = raised.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.col) == (Code.BAD_BOUNDS, 18, 9)
    assert "1.5" in diagnostic.message
