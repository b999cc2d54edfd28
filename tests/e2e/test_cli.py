"""Every core CLI command in-process through ``policy_engine.cli.main(argv, out, err)``: exit codes
and content. One subprocess test runs the installed ``policy-engine`` console script.

Exit codes: 0 approved / valid, 1 policy errors, 2 usage or unreadable file, 3 rejected by a
rule, 4 rejected as invalid input or engine error.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
TINY = FIXTURES / "tiny.yaml"
SIZING = ROOT / "policies" / "risk" / "position_sizing.yaml"
SIZING_EXAMPLE = ROOT / "policies" / "risk" / "examples" / "approved.json"

APPROVED: dict[str, Any] = {"now": "2025-01-01T00:00:05Z", "account": {"balance": 5000.0, "drawdown": 0.15},
            "order": {"qty": 10, "price": 100.0, "placed_at": "2025-01-01T00:00:01Z", "tags": []}}
LOW_BALANCE = {**APPROVED, "account": {"balance": 500.0, "drawdown": 0.15}}
INVALID = {**APPROVED, "order": {**APPROVED["order"], "price": "cheap"}}


def run(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def request_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(data: Any, name: str = "request.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return write


# --- validate ----------------------------------------------------------------------------------------

def test_validate_a_good_file() -> None:
    assert run("validate", TINY) == (0, f"{TINY}: ok\n", "")


def test_validate_a_folder(tmp_path: Path) -> None:
    for name in ("tiny.yaml", "tiny.schema.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "ignored.yaml").write_text("not: a policy\n", encoding="utf-8")
    assert run("validate", tmp_path) == (0, f"{tmp_path / 'tiny.yaml'}: ok\n", "")
    bad = tmp_path / "nested" / "broken.yaml"
    bad.parent.mkdir()
    bad.write_text(TINY.read_text(encoding="utf-8").replace("tiny.schema.json", "../tiny.schema.json")
                   .replace("notional / account.balance", "notional / acount.balance"), encoding="utf-8")
    code, out, _ = run("validate", "--format", "json", tmp_path)
    assert code == 1
    reports = {Path(r["file"]).name: r for r in json.loads(out)}
    assert set(reports) == {"tiny.yaml", "broken.yaml"}
    assert reports["tiny.yaml"]["ok"] is True
    [problem] = reports["broken.yaml"]["diagnostics"]
    assert (problem["name"], problem["line"], problem["col"], problem["hint"]) == (
        "EXPR_UNKNOWN_NAME", 12, 21, "did you mean 'account'?")


def test_validate_text_shows_source_line_and_caret() -> None:
    code, out, _ = run("validate", FIXTURES / "bad" / "expr_unknown_input_field.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == "      notional: order.qty * order.prise"
    assert lines[2] == "    " + " " * 24 + "^"
    assert lines[3] == "    hint: did you mean 'price'?"
    assert lines[-1] == "1 error"


def test_validate_with_nothing_to_validate(tmp_path: Path) -> None:
    assert run("validate", tmp_path)[0] == 1


# --- eval ----------------------------------------------------------------------------------------------

def test_eval_text_approved(request_file: Any) -> None:
    code, out, err = run("eval", TINY, request_file(APPROVED))
    assert (code, err) == (0, "")
    assert out.splitlines()[:4] == ["APPROVED", "  notional = 1000.0", "  combined = 0.5", "  ratio = 0.2"]


def test_eval_text_rejected(request_file: Any) -> None:
    code, out, _ = run("eval", TINY, request_file(LOW_BALANCE))
    assert code == 3
    assert out.startswith("REJECTED by BALANCE_GATE: balance_too_low\n")
    assert "  trigger BIG_RATIO: big_ratio (WARNING)" in out
    assert "  event SIZING_REJECTED [WARNING] from BALANCE_GATE: balance_too_low" in out


def test_eval_json(request_file: Any) -> None:
    code, out, _ = run("eval", TINY, request_file(APPROVED), "--format", "json")
    assert code == 0
    decision = json.loads(out)
    assert (decision["outcome"], decision["values"]) == ("approved", {"combined": 0.5, "notional": 1000.0,
                                                                      "ratio": 0.2})
    assert "trace" not in decision and "duration_us" not in decision["provenance"]


def test_eval_trace_text_and_json(request_file: Any) -> None:
    path = request_file(LOW_BALANCE)
    code, out, _ = run("eval", TINY, path, "--trace")
    assert code == 3
    assert "\ntrace:\n" in out
    assert "     failed  gate     BALANCE_GATE" in out and "not reached  value    dd" in out
    code, out, _ = run("eval", TINY, path, "--trace", "--format", "json")
    trace = json.loads(out)["trace"]
    assert [(s["rule"], s["status"]) for s in trace][:4] == [
        ("FRESH_GATE", "passed"), ("notional", "computed"), ("NOTIONAL_GATE", "passed"), ("BALANCE_GATE", "failed")]


def test_eval_now_overrides_the_request_clock(request_file: Any) -> None:
    path = request_file(APPROVED)
    code, out, _ = run("eval", TINY, path, "--now", "2025-01-01T00:10:00Z", "--format", "json")
    decision = json.loads(out)
    assert (code, decision["rule"], decision["provenance"]["evaluated_at"]) == (3, "FRESH_GATE",
                                                                               "2025-01-01T00:10:00.000Z")
    code, out, _ = run("eval", TINY, path, "--now", "not a time")
    assert code == 4 and "$.now" in out


def test_eval_set_overrides_a_param(request_file: Any) -> None:
    path = request_file(APPROVED)
    code, out, _ = run("eval", TINY, path, "--set", "max_notional=999.5")
    assert code == 3 and out.startswith("REJECTED by NOTIONAL_GATE: notional_too_large — notional 1000.00 > 999.5")
    code, out, _ = run("eval", TINY, path, "--set", "max_notional=999.5", "--set", "max_notional=20000")
    assert code == 0
    code, _, err = run("eval", TINY, path, "--set", "max_notional")
    assert code == 2 and "--set expects PARAM=VALUE" in err


def test_eval_invalid_input_exits_4(request_file: Any) -> None:
    code, out, _ = run("eval", TINY, request_file(INVALID))
    assert code == 4
    assert out.startswith("REJECTED by INPUT_SCHEMA: invalid_input")
    assert "  input error at $.order.price: expected number, got string" in out


def test_eval_engine_error_exits_4(request_file: Any) -> None:
    division = FIXTURES / "bad" / "runtime" / "division.yaml"
    code, out, _ = run("eval", division, request_file({**APPROVED, "order": {**APPROVED["order"], "qty": 0}}))
    assert code == 4
    assert out.startswith("REJECTED by UNIT_PRICE_GATE: engine_error — UNIT_PRICE_GATE: ZeroDivisionError computing "
                          "'unit_price'")


def test_eval_position_sizing_example() -> None:
    code, out, _ = run("eval", SIZING, SIZING_EXAMPLE, "--trace")
    assert code == 0 and "Traceback" not in out
    code, out, _ = run("eval", SIZING, SIZING_EXAMPLE, "--format", "json")
    assert code == 0 and json.loads(out)


@pytest.mark.parametrize("argv, says", [
    (["eval", str(TINY)], "exactly one of INPUT.json or --jsonl"),
    (["eval", str(TINY), "/nonexistent/request.json"], "cannot read /nonexistent/request.json"),
    (["eval", str(TINY), "--jsonl", "/nonexistent/in.jsonl"], "cannot read /nonexistent/in.jsonl"),
])
def test_usage_errors_exit_2(argv: list[str], says: str) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (2, "") and says in err


def test_unreadable_request_exits_2(request_file: Any, tmp_path: Path) -> None:
    not_json = tmp_path / "bad.json"
    not_json.write_text("{nope", encoding="utf-8")
    assert run("eval", TINY, not_json)[0] == 2
    assert run("eval", TINY, request_file([1, 2]))[0] == 2


def test_eval_of_a_bad_policy_prints_diagnostics(request_file: Any) -> None:
    code, out, err = run("eval", FIXTURES / "bad" / "value_cycle.yaml", request_file(APPROVED))
    assert (code, out) == (1, "")
    assert "error[E401]: values depend on each other in a cycle: exposure -> headroom -> exposure" in err


# --- eval --jsonl ------------------------------------------------------------------------------------------

def test_jsonl_decides_every_line_in_order(tmp_path: Path) -> None:
    lines = [json.dumps(APPROVED), '{"now": "2025-01-01T00:00:05Z", "account": {', json.dumps(LOW_BALANCE), "",
             "NaN", json.dumps(INVALID), json.dumps(APPROVED)]
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run("eval", TINY, "--jsonl", batch)
    assert (code, err) == (4, "")  # a line was invalid
    decisions = [json.loads(line) for line in out.splitlines()]
    assert [(d["outcome"], d["reason"]) for d in decisions] == [
        ("approved", None), ("rejected", "invalid_input"), ("rejected", "balance_too_low"),
        ("rejected", "invalid_input"), ("rejected", "invalid_input"), ("approved", None)]
    assert decisions[1]["input_errors"][0]["message"].startswith("line 2: not valid JSON")
    assert decisions[3]["input_errors"][0]["message"] == "line 5: not valid JSON: NaN is not valid JSON"
    assert decisions[4]["input_errors"][0]["json_path"] == "$.order.price"
    assert decisions[0] == decisions[5]


def test_jsonl_of_good_lines_exits_0_even_with_rejections(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text(f"{json.dumps(APPROVED)}\n{json.dumps(LOW_BALANCE)}\n", encoding="utf-8")
    code, out, _ = run("eval", TINY, "--jsonl", batch, "--trace")
    assert code == 0
    assert [len(json.loads(line)["trace"]) for line in out.splitlines()] == [10, 10]


# --- explain and graph --------------------------------------------------------------------------------------

def test_explain_rejection_names_the_rule_and_numbers(request_file: Any) -> None:
    code, out, _ = run("explain", TINY, request_file(LOW_BALANCE))
    assert code == 3
    assert out.splitlines() == [
        "REJECTED by BALANCE_GATE: balance_too_low",
        f"Rule BALANCE_GATE ({TINY}:34) checks: when 'vip' not in order.tags: account.balance >= params.min_balance",
        "  account.balance = 500.0", "  order.tags = []", "  params.min_balance = 1000",
        "Trigger BIG_RATIO fired: big_ratio",
    ]


def test_explain_approval_and_errors(request_file: Any) -> None:
    code, out, _ = run("explain", TINY, request_file(APPROVED))
    assert code == 0 and out.splitlines()[:2] == ["APPROVED", "All 3 gates allowed it (3 passed, 0 did not apply)."]
    code, out, _ = run("explain", TINY, request_file(INVALID))
    assert code == 4 and "The request is invalid at $.order.price: expected number, got string." in out
    division = FIXTURES / "bad" / "runtime" / "division.yaml"
    code, out, _ = run("explain", division, request_file({**APPROVED, "order": {**APPROVED["order"], "price": 1.0}}))
    assert code == 4 and "Rule outputs" in out


def test_graph_mermaid_and_dot() -> None:
    code, out, _ = run("graph", TINY)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "flowchart LR"
    assert '  n3["gate: BALANCE_GATE"]' in lines and "  n1 --> n2" in lines and "  n0 -.-> n2" in lines
    code, out, _ = run("graph", TINY, "--format", "dot")
    lines = out.splitlines()
    assert code == 0 and lines[:2] == ['digraph "test.tiny" {', "  rankdir=LR;"] and lines[-1] == "}"
    assert "  n0 -> n2 [style=dashed];" in lines and '  n7 [label="table: size_mult"];' in lines


def test_graph_of_a_bad_policy_exits_1() -> None:
    code, out, err = run("graph", FIXTURES / "bad" / "expr_syntax.yaml")
    assert (code, out) == (1, "") and "error[E301]" in err


# --- the installed console script ------------------------------------------------------------------------------

def test_console_script(tmp_path: Path) -> None:
    script = shutil.which("policy-engine")
    if script is None:
        pytest.skip("the policy-engine console script is not installed on PATH")
    request = tmp_path / "request.json"
    request.write_text(json.dumps(LOW_BALANCE), encoding="utf-8")
    done = subprocess.run([script, "eval", str(TINY), str(request), "--format", "json"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["rule"] == "BALANCE_GATE"
    done = subprocess.run([script, "validate", str(FIXTURES / "bad" / "expr_syntax.yaml")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 1 and "error[E301]" in done.stdout and "Traceback" not in done.stderr
