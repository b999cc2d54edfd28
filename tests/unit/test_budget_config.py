"""The budget config file: defaults, the example file, and located diagnostics for bad files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from policy_engine.budget import BudgetConfig, BudgetRules, load_budget_config
from policy_engine.budget.rules import BudgetError
from policy_engine.errors import Code, PolicyError
from policy_engine.risk.models_out import BudgetPeriod
from tests.sizing_helpers import ROOT, manager

EXAMPLE = ROOT / "policies" / "risk" / "examples" / "budget.yaml"


def test_defaults_are_a_us_desk_and_read_the_policy() -> None:
    rules = BudgetRules.from_policy(manager().policy, BudgetConfig())
    assert (rules.calendar.timezone, rules.calendar.weekend, rules.calendar.week_start) == \
        ("America/New_York", frozenset({5, 6}), 0)
    assert dict(rules.max_loss_pct) == {BudgetPeriod.DAILY: 0.02, BudgetPeriod.WEEKLY: 0.05,
                                        BudgetPeriod.MONTHLY: 0.10}
    assert rules.warning_threshold == 0.75 and rules.allocations is None
    assert rules.sources["MONTHLY"] == "params.max_drawdown_pct"
    assert rules.policy.config_version == f"1.0.0+{manager().policy.plan.info.content_hash}"


def test_the_example_file() -> None:
    config = load_budget_config(EXAMPLE)
    assert date(2025, 4, 18) in config.holidays and config.monthly_max_loss_pct == 0.08
    assert config.allocations() == {"TREND": 0.4, "BREAKOUT": 0.2, "MEAN_REVERSION": 0.2, "LONG_VOL": 0.1,
                                    "SQUEEZE": 0.1}
    rules = BudgetRules.from_policy(manager().policy, config)
    assert (rules.max_loss_pct[BudgetPeriod.MONTHLY], rules.sources["MONTHLY"]) == \
        (0.08, "config.monthly_max_loss_pct")
    assert (rules.allocation("TREND"), rules.allocation("INCOME")) == (0.4, 0.0)  # not listed: none


def test_policy_overrides_move_the_limits() -> None:
    rules = BudgetRules.from_policy(manager(max_daily_loss_pct=0.03, limit_warning_pct=0.5).policy)
    assert rules.max_loss_pct[BudgetPeriod.DAILY] == 0.03 and rules.warning_threshold == 0.5
    assert rules.policy.content_hash != manager().policy.plan.info.content_hash


def test_a_policy_without_the_limits_is_refused() -> None:
    with pytest.raises(BudgetError, match="max_daily_loss_pct"):
        BudgetRules.from_policy(manager(max_daily_loss_pct=1.5).policy)


@pytest.mark.parametrize("text, code, line, col", [
    ("timezone: Mars/Base\n", Code.INVALID_VALUE, 1, 11),
    ("timezone: UTC\nweekday: [MONDAY]\n", Code.UNKNOWN_FIELD, 2, 1),
    ("holidays:\n  - 2025-01-01\n  - 20250101\n", Code.INVALID_VALUE, 3, 5),
    ("holidays: [2025-02-30]\n", Code.INVALID_VALUE, 1, 12),
    ("strategy_allocations: {TREND: 1.5}\n", Code.INVALID_VALUE, 1, 31),
    ("strategy_allocations: {GROWTH: 0.5}\n", Code.INVALID_VALUE, 1, 24),
    ("weekend: [MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY]\n", Code.INVALID_VALUE, 1, 10),
    ("monthly_max_loss_pct: '0.1'\n", Code.WRONG_TYPE, 1, 23),
    ("week_start: MONDAY\nweek_start: FRIDAY\n", Code.YAML_DUPLICATE_KEY, 2, 1),
])
def test_bad_files_are_located(tmp_path: Path, text: str, code: Code, line: int, col: int) -> None:
    path = tmp_path / "budget.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as raised:
        load_budget_config(path)
    first = raised.value.diagnostics[0]
    assert (first.code, first.line, first.col, first.file) == (code, line, col, str(path))


def test_a_list_is_not_a_config(tmp_path: Path) -> None:
    path = tmp_path / "budget.yaml"
    path.write_text("- timezone: UTC\n")
    with pytest.raises(PolicyError) as raised:
        load_budget_config(path)
    assert raised.value.codes == [Code.YAML_FORBIDDEN]  # refused by the source stage, as a policy would be
