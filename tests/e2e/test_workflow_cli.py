"""``policy-engine test``, ``diff`` and ``docs``, in process, as CI and reviewers run them."""

from __future__ import annotations

import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from policy_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "workflow"
OLD, NEW, CORPUS = FIXTURES / "diff_old.yaml", FIXTURES / "diff_new.yaml", FIXTURES / "tiny_corpus.jsonl"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str | Path, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err if err is not None else io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


# --- test ---------------------------------------------------------------------------------------
def test_the_shipped_scenarios_pass_with_coverage_over_90_percent() -> None:
    scenario_files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "policies").rglob("*.tests.yaml"))
    code, out, _ = run("test", *(ROOT / f for f in scenario_files), "--coverage", "--threshold", "90",
                       "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"], out
    assert report["summary"]["failed"] == report["summary"]["errors"] == 0
    coverage = {c["policy_id"]: c for c in report["coverage"]}
    assert coverage["risk.position_sizing"]["percent"] >= 90
    assert coverage["risk.position_sizing"]["groups"]["gates"]["covered"] == \
        coverage["risk.position_sizing"]["groups"]["gates"]["total"]
    assert {policy: c["percent"] for policy, c in coverage.items() if policy != "risk.position_sizing"} == {
        "risk.volatility_regime": 100.0, "risk.pre_trade_limits": 100.0, "risk.risk_modes": 100.0,
        "risk.circuit_breaker": 100.0, "hedging.roll_triggers": 100.0, "hedging.assignment": 100.0,
        "ops.controls": 100.0, "ops.escalation": 100.0}


def test_a_passing_file_exits_0() -> None:
    code, out, _ = run("test", FIXTURES / "tiny.tests.yaml")
    lines = out.splitlines()
    assert code == 0 and lines[1] == "  2/2 cases passed"
    assert lines[2].startswith("2 passed, 0 failed, 0 errors in ")


def test_a_policy_path_runs_its_scenario_file() -> None:
    code, out, _ = run("test", FIXTURES / "cover.yaml", "-v")
    assert code == 0 and "  ok     a small lit order  [" in out


def test_a_failing_file_exits_1_with_the_diff() -> None:
    code, out, _ = run("test", FIXTURES / "tiny_failing.tests.yaml")
    assert code == 1
    assert "  FAIL   expects another notional  [" in out
    assert "         - values.notional: 501.0\n         + values.notional: 500.0    (tolerance 1e-09)" in out
    assert "  ERROR  override path leads nowhere  [" in out


def test_json_and_junit_reports() -> None:
    _, out, _ = run("test", FIXTURES / "tiny_failing.tests.yaml", "--format", "json")
    data = json.loads(out)
    case = data["files"][0]["cases"][1]
    assert (case["status"], case["parted_at"]["rule"], case["parted_at"]["status"]) == ("failed", "BALANCE_GATE",
                                                                                           "passed")
    assert case["mismatches"][0] == {"field": "outcome", "expected": "rejected", "actual": "approved", "note": ""}
    _, xml, _ = run("test", FIXTURES / "tiny_failing.tests.yaml", FIXTURES / "tiny.tests.yaml", "--format", "junit")
    root = ET.fromstring(xml)
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == ("testsuites", "6", "3", "1")
    names = [(c.get("name"), [child.tag for child in c]) for c in root.iter("testcase")]
    assert names[:4] == [("expects a notional rejection but the order is stale", ["failure"]),
                         ("expects a rejection the balance gate does not make", ["failure"]),
                         ("expects another notional", ["failure"]), ("override path leads nowhere", ["error"])]
    failure = next(root.iter("failure"))
    assert failure.get("message") == 'reason: expected "notional_too_large", got "stale_order"'
    assert "parted at trace step 1/10: gate FRESH_GATE" in (failure.text or "")


def test_junit_file_and_coverage_under_the_threshold(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    code, out, _ = run("test", FIXTURES / "tiny.tests.yaml", "--threshold", "90", "--junit", target)
    assert code == 1
    assert out.rstrip().endswith("coverage of test.tiny is 58.3 %, under the threshold of 90 %")
    suites = {s.get("name"): s for s in ET.parse(target).getroot().iter("testsuite")}
    assert suites["coverage"].get("failures") == "1"
    assert [p.get("value") for p in suites["coverage"].iter("property")] == ["58.3"]
    assert run("test", FIXTURES / "tiny.tests.yaml", "--threshold", "50")[0] == 0


def test_usage_errors() -> None:
    assert run("test", "no/such/dir")[0] == 2
    code, out, _ = run("test", FIXTURES / "tiny_request.json")
    assert code == 1 and "error[E101]" in out  # not a scenario file: reported with its diagnostics
    assert run("test", ROOT / "schemas")[0] == 2  # a folder without scenario files


# --- diff --------------------------------------------------------------------------------------------
def test_diff_text_and_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run("diff", "tests/fixtures/workflow/diff_old.yaml", "tests/fixtures/workflow/diff_new.yaml",
                         "--replay", "tests/fixtures/workflow/tiny_corpus.jsonl", "--examples", "1")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[:4] == [
        ("policy test.diffed 1.0.0 -> 1.1.0: tests/fixtures/workflow/diff_old.yaml -> "
         "tests/fixtures/workflow/diff_new.yaml"),
        "rules:",
        "  + gate TAGS_GATE: position 3  (line 29)",
        "  - gate BALANCE_GATE: was position 3  (line 28 of the old version)",
    ]
    assert "  flips: 5 (71.43 %)" in lines
    assert "    approved -> rejected   2" in lines


def test_fail_on_flip_and_json() -> None:
    code, out, _ = run("diff", OLD, NEW, "--replay", CORPUS, "--fail-on-flip", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert (data["replay"]["flips"], data["replay"]["by_category"]["different gate"]) == (5, 1)
    assert run("diff", OLD, OLD, "--replay", CORPUS, "--fail-on-flip")[0] == 0


def test_progress_on_a_terminal() -> None:
    terminal = _Terminal()
    code, _, _ = run("diff", OLD, NEW, "--replay", CORPUS, err=terminal)
    assert code == 0
    assert terminal.getvalue().endswith("replay [" + "#" * 30 + "] 9/9 records  " +
                                        terminal.getvalue().rsplit("records  ", 1)[1])
    assert run("diff", OLD, NEW, "--replay", CORPUS)[2] == ""  # not a terminal: no progress bar


def test_diff_errors() -> None:
    assert run("diff", OLD, "nowhere.yaml")[0] == 2
    assert run("diff", OLD, NEW, "--replay", "nowhere.jsonl")[0] == 2
    code, _, err = run("diff", OLD, FIXTURES / "tiny_failing.tests.yaml")
    assert code == 1 and "error[E101]" in err  # not a policy: located diagnostics


# --- diff --replay for machines and limits ---------------------------------------------------------------
def _edited_copy(tmp_path: Path, policy: str, schema: str, old: str, new: str) -> tuple[Path, Path]:
    (tmp_path / "schemas").mkdir()
    shutil.copy(ROOT / "schemas" / schema, tmp_path / "schemas")
    (tmp_path / "policies" / "risk").mkdir(parents=True)
    text = (ROOT / "policies" / "risk" / policy).read_text()
    before, after = tmp_path / "policies" / "risk" / "old.yaml", tmp_path / "policies" / "risk" / "new.yaml"
    before.write_text(text)
    after.write_text(text.replace(old, new))
    return before, after


def test_diff_replays_a_machine_log_and_fails_on_flip(tmp_path: Path) -> None:
    old, new = _edited_copy(tmp_path, "risk_modes.yaml", "risk_modes.observation.schema.json",
                            "reduce_loss_used_pct: 0.75 ", "reduce_loss_used_pct: 0.80 ")
    log = ROOT / "policies" / "risk" / "examples" / "risk_modes.observations.jsonl"
    code, out, err = run("diff", old, new, "--replay", log, "--fail-on-flip", "--format", "json")
    data = json.loads(out)["replay"]
    assert (code, err) == (1, "")
    assert (data["kind"], data["unit"], data["flips"], data["by_category"]) == (
        "MachinePolicy", "steps", 6, {"mode changed": 4, "transitions changed": 2})
    assert data["flipped"][0] == {"line": 2, "subject": "step 2", "category": "mode changed",
                                  "old": "REDUCE_ONLY (NORMAL -> REDUCE_ONLY by DAILY_LOSS_WARNING)",
                                  "new": "NORMAL, no move"}
    assert run("diff", old, old, "--replay", log, "--fail-on-flip")[0] == 0
    terminal = _Terminal()
    assert run("diff", old, new, "--replay", log, err=terminal)[0] == 0
    assert terminal.getvalue().count("\n") == 1 and "] 10/10 records  " in terminal.getvalue()
    code, _, err = run("diff", old, new, "--replay", log, "--value", "risk_mode")
    assert code == 2 and "--value applies to DecisionPolicy" in err


def test_diff_replays_recorded_limits_calls(tmp_path: Path) -> None:
    old, new = _edited_copy(tmp_path, "pre_trade_limits.yaml", "pre_trade_limits.inputs.schema.json",
                            "  de_risk_scale: 0.0 ", "  de_risk_scale: 0.25")
    code, out, _ = run("diff", old, new, "--replay", FIXTURES / "limits_calls.jsonl", "--examples", "1")
    lines = out.splitlines()
    assert code == 0
    assert "  flips: 2 (15.38 %)" in lines and "    blocked -> reduced     2" in lines
    assert [line for line in lines if line.startswith("    line ")] == [
        ("    line 4 order o-1 (AAPL) [blocked -> reduced]: blocked by drawdown_de_risking  =>  "
        "reduced to 25.0 by drawdown_de_risking")]


# --- docs ---------------------------------------------------------------------------------------------------
def test_docs_of_one_policy_to_standard_output_and_to_a_file(tmp_path: Path) -> None:
    code, out, _ = run("docs", FIXTURES / "cover.yaml")
    assert code == 0 and out.splitlines()[2].startswith("# ") and "## Gates" in out
    page = tmp_path / "cover.md"
    assert run("docs", FIXTURES / "cover.yaml", "-o", page)[0] == 0
    assert "](" in page.read_text()  # a page that knows where it lives links to its policy
    assert run("docs", FIXTURES / "cover.yaml", "-o", page, "--check") == (0, f"{page}: up to date\n", "")


def test_docs_of_a_folder_write_pages_and_an_index_and_check_them(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for policy, schema in (("risk_modes", "risk_modes.observation"), ("pre_trade_limits", "pre_trade_limits.inputs")):
        (tmp_path / "policies" / "risk" / "examples").mkdir(parents=True, exist_ok=True)
        (tmp_path / "schemas").mkdir(exist_ok=True)
        shutil.copy(ROOT / "policies" / "risk" / f"{policy}.yaml", tmp_path / "policies" / "risk")
        shutil.copy(ROOT / "policies" / "risk" / f"{policy}.tests.yaml", tmp_path / "policies" / "risk")
        shutil.copy(ROOT / "schemas" / f"{schema}.schema.json", tmp_path / "schemas")
    (tmp_path / "policies" / "risk" / "examples" / "not_a_policy.yaml").write_text("a: 1\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("docs", "policies", "-o", "site")
    assert (code, out) == (0, "3 of 3 pages written, the others up to date\n")
    assert sorted(p.as_posix() for p in Path("site").rglob("*.md")) == [
        "site/README.md", "site/risk/pre_trade_limits.md", "site/risk/risk_modes.md"]
    assert run("docs", "policies", "-o", "site", "--check")[0] == 0
    policy = Path("policies/risk/risk_modes.yaml")
    policy.write_text(policy.read_text().replace("reduce_loss_used_pct: 0.75 ", "reduce_loss_used_pct: 0.80 "))
    Path("site/risk/old_policy.md").write_text("gone\n")
    code, out, _ = run("docs", "policies", "-o", "site", "--check")
    assert code == 1 and out.splitlines() == ["site/risk/risk_modes.md: stale",
                                              "site/risk/old_policy.md: no policy makes this page",
                                              "regenerate: policy-engine docs policies -o site"]


def test_docs_errors() -> None:
    assert run("docs", "no/such.yaml")[0] == 2
    code, _, err = run("docs", ROOT / "policies")
    assert code == 2 and "-o is required for a folder" in err
    code, _, err = run("docs", FIXTURES / "tiny_failing.tests.yaml")
    assert code == 1 and "error[E101]" in err
