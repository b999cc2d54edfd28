"""``policy-engine test`` and ``policy-engine diff``, in process, as CI and reviewers run them."""

from __future__ import annotations

import io
import json
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
