"""Coverage of a policy by its scenarios: exact counts on small fixture policies, and the reasons."""

from __future__ import annotations

from pathlib import Path

import policy_engine
from policy_engine.testing.adapters import HIT, adapter_for
from policy_engine.testing.coverage import format_coverage
from policy_engine.testing.runner import ScenarioRunner, run_scenarios
from policy_engine.testing.scenarios import load_scenario_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "workflow"
COVER = FIXTURES / "cover.tests.yaml"


def _report(path: Path):  # type: ignore[no-untyped-def]
    summary = run_scenarios([str(path)], coverage=True)
    assert summary.ok
    (report,) = summary.coverage.values()
    return report


def test_every_item_of_the_fixture_policy_is_counted() -> None:
    report = _report(COVER)
    assert [item.key for item in report.items] == [
        "gate:ORDER_GATE:0:pass", "gate:ORDER_GATE:0:fail", "gate:ORDER_GATE:1:pass", "gate:ORDER_GATE:1:fail",
        "gate:URGENT_GATE:0:pass", "gate:URGENT_GATE:0:fail",
        "table:venue_mult:case:LIT", "table:venue_mult:case:DARK", "table:venue_mult:adjust:0",
        "table:size_mult:band:0", "table:size_mult:else",
        "trigger:BIG:fired", "trigger:BIG:clear", "outputs:reached",
    ]
    assert (report.hit_count, len(report.items), round(report.percent, 1), report.cases) == (12, 14, 85.7, 3)
    assert report.by_group() == {"gates": (4, 6), "bands": (5, 5), "triggers": (2, 2), "outputs": (1, 1)}


def test_uncovered_items_say_why() -> None:
    report = _report(COVER)
    assert [(item.key, item.line, why) for item, why in report.uncovered()] == [
        ("gate:ORDER_GATE:1:fail", 29,
         "passed in 2 cases; not evaluated (an earlier check of the gate failed) in 1 case"),
        ("gate:URGENT_GATE:0:pass", 32,
         "failed in 1 case; not reached (decided by ORDER_GATE) in 1 case; skipped (applies_when false) in 1 case"),
    ]


def test_an_else_the_input_schema_cannot_reach_is_left_out() -> None:
    report = _report(COVER)
    assert [(item.key, item.line, why) for item, why in report.left_out] == [
        ("table:venue_mult:else", 17, ("unreachable: the input field order.venue (its schema enum) is always one of "
                                       "LIT, DARK, all of them cases"))]


def test_the_tiny_policy_with_two_cases() -> None:
    report = _report(FIXTURES / "tiny.tests.yaml")
    assert (report.hit_count, len(report.items)) == (7, 12)
    assert report.by_group() == {"gates": (4, 6), "bands": (1, 3), "triggers": (1, 2), "outputs": (1, 1)}
    reasons = {item.key: why for item, why in report.uncovered()}
    assert reasons == {
        "gate:NOTIONAL_GATE:0:fail": "not reached (decided by FRESH_GATE) in 1 case; passed in 1 case",
        "gate:BALANCE_GATE:0:fail": "not reached (decided by FRESH_GATE) in 1 case; passed in 1 case",
        "table:size_mult:band:1": "another row in 1 case; not computed (no rule needed it) in 1 case",
        "table:size_mult:else": "another row in 1 case; not computed (no rule needed it) in 1 case",
        "trigger:BIG_RATIO:fired": "clear in 2 cases",
    }
    text = format_coverage(report)
    assert text.splitlines()[1] == "  gates 4/6  bands 1/3  triggers 1/2  outputs 1/1"
    assert "tests/fixtures/tiny.yaml:36  BALANCE_GATE fails (balance_too_low) — not reached" in text


def test_an_invalid_request_counts_for_nothing_and_says_so() -> None:
    runner = ScenarioRunner(coverage=True)
    scenario = load_scenario_file(COVER)
    adapter = adapter_for("DecisionPolicy")
    assert adapter is not None
    policy = runner.policy(scenario.policy_path, {})
    case = scenario.cases[0]
    broken = type(case)(**{**case.__dict__, "input": {"now": "2025-04-02T10:00:00Z"}})
    observed = adapter.run(policy, broken)
    seen = adapter.sightings(policy, broken, observed)
    assert set(seen.values()) == {"request invalid (INPUT_SCHEMA)"}
    assert HIT not in seen.values() and len(seen) == 15  # every item, the left-out else too


def test_a_value_made_of_literals_makes_an_else_unreachable() -> None:
    report = _report(ROOT / "policies" / "risk" / "volatility_regime.tests.yaml")
    assert [item.key for item, _ in report.left_out] == ["table:atr_multiple:else"]
    assert report.left_out[0][1] == ("unreachable: the value vol_regime is always one of HIGH, LOW, NORMAL, "
                                     "all of them cases")


def test_kinds_without_an_adapter() -> None:
    assert adapter_for("NoSuchPolicy") is None
    assert adapter_for("DecisionPolicy") is not None
    assert policy_engine.load(FIXTURES / "cover.yaml").id == "test.cover"
