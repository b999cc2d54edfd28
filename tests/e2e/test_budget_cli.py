"""`policy-engine budget show` and `policy-engine limits-of`, in-process: the ledger as of a time,
the sizing input, the text form, the stored balance, and every way the arguments can be wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.budget import BudgetStore, RiskBudgetTracker
from tests.e2e.cli_helpers import at_repo_root, cli  # noqa: F401  (fixture used by pytestmark)
from tests.sizing_helpers import manager

ROOT = Path(__file__).resolve().parents[2]
SIZING = "policies/risk/position_sizing.yaml"
CONFIG = "policies/risk/examples/budget.yaml"
NOW = "2025-04-02T16:00:00Z"  # Wednesday, 12:00 in New York


pytestmark = pytest.mark.usefixtures("at_repo_root")


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A ledger: 100,000 stored as the balance; TREND 1,000 at risk, 2 of 5 closed for -300;
    BREAKOUT 400 at risk; yesterday a MEAN_REVERSION loss of 250."""
    path = str(tmp_path / "state.db")
    with BudgetStore(path) as ledger:
        tracker = RiskBudgetTracker.from_policy(ledger, manager().policy, CONFIG)
        tracker.set_account_balance(100_000.0)
        tracker.record_decision("d-0", "2025-04-01T14:00:00Z", 500.0, 1, "MEAN_REVERSION")
        tracker.record_fill("f-0", "d-0", -250.0, "2025-04-01T15:00:00Z")
        tracker.record_decision("d-1", "2025-04-02T14:00:00Z", 1000.0, 5, "TREND", "MSFT")
        tracker.record_fill("f-1", "d-1", -300.0, "2025-04-02T15:00:00Z", quantity=2)
        tracker.record_decision("d-2", "2025-04-02T15:30:00Z", 400.0, 2, "BREAKOUT")
    return path


def budgets(text: str) -> dict[str, dict[str, Any]]:
    return {b["period"]: b for b in json.loads(text)["budgets"]}


def test_budget_show_json(store: str) -> None:
    code, out, err = cli("budget", "show", "--store", store, "--now", NOW, "--config", CONFIG, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["as_of"], data["account_balance"]) == ("2025-04-02T16:00:00.000Z", 100_000.0)
    found = budgets(out)
    # used today: 300 realized + 600 (3 of 5 open) + 400 open = 1,300 of 2,000
    assert {p: (b["used_budget_dollars"], b["remaining_budget_dollars"], b["is_warning"])
            for p, b in found.items()} == {"DAILY": (1300.0, 700.0, False), "WEEKLY": (1550.0, 3450.0, False),
                                           "MONTHLY": (1550.0, 6450.0, False)}
    assert (found["DAILY"]["period_start"], found["DAILY"]["period_end"]) == \
        ("2025-04-02T04:00:00Z", "2025-04-03T04:00:00Z")
    assert [(a["strategy_family"], a["used_pct"]) for a in found["DAILY"]["strategy_allocations"]][:3] == \
        [("TREND", 0.45), ("BREAKOUT", 0.2), ("MEAN_REVERSION", 0.0)]
    assert [u["realized_loss_dollars"] for u in data["usage"]] == [300.0, 550.0, 550.0]
    assert data["sizing_input"] == {"strategy_family": None, "remaining_daily_budget": 700.0,
                                    "remaining_weekly_budget": 3450.0}


def test_budget_show_text(store: str, snapshot: Any) -> None:
    code, out, err = cli("budget", "show", "--store", store, "--now", NOW, "--config", CONFIG, "--family", "TREND")
    assert (code, err) == (0, "")
    # TREND has 40 %: 800 of the day's 2,000 with 900 used, 2,000 of the week's 5,000
    assert out.splitlines()[-1] == \
        "sizing input for TREND: remaining_daily_budget -100.00, remaining_weekly_budget 1,100.00"
    assert out == snapshot


def test_one_period_and_another_balance(store: str) -> None:
    code, out, _ = cli("budget", "show", "--store", store, "--now", "2025-04-03T14:00:00Z", "--period", "WEEKLY",
                       "--balance", "50000", "--format", "json")
    assert code == 0
    assert budgets(out)["WEEKLY"]["total_budget_dollars"] == 2500.0  # no config: the policy's 5 % of 50,000
    # Thursday: 1,000 a day at 50,000, all taken by Wednesday's still open risk (600 + 400)
    assert json.loads(out)["sizing_input"]["remaining_daily_budget"] == 0.0


def test_budget_show_on_a_machine_state_file(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    log = "policies/risk/examples/risk_modes.observations.jsonl"
    code, _, _ = cli("replay", "policies/risk/risk_modes.yaml", log, "--state", state)
    assert code == 0
    code, out, err = cli("budget", "show", "--store", state, "--now", NOW, "--balance", "100000", "--format", "json")
    assert (code, err) == (0, "")
    assert budgets(out)["DAILY"]["used_budget_dollars"] == 0.0
    assert cli("state", "show", "--state", state)[0] == 0  # the machines are still readable


@pytest.mark.parametrize("extra, message", [
    (["--now", "yesterday"], "--now 'yesterday'"),
    (["--policy", "tests/fixtures/tiny.yaml"], "max_daily_loss_pct"),
    (["--policy", "policies/risk/risk_modes.yaml"], "is not a DecisionPolicy"),
])
def test_usage_errors(store: str, extra: list[str], message: str) -> None:
    code, out, err = cli("budget", "show", "--store", store, "--now", NOW, *extra)
    assert (code, out) == (2, "") and message in err


def test_no_store_and_no_balance(tmp_path: Path) -> None:
    code, _, err = cli("budget", "show", "--store", str(tmp_path / "missing.db"), "--now", NOW)
    assert code == 2 and "no state file" in err
    BudgetStore(tmp_path / "empty.db").close()
    code, _, err = cli("budget", "show", "--store", str(tmp_path / "empty.db"), "--now", NOW)
    assert code == 2 and "no account balance" in err


def test_a_bad_config_is_located(store: str, tmp_path: Path) -> None:
    config = tmp_path / "budget.yaml"
    config.write_text("timezone: UTC\nholidays: [2025-13-01]\n")
    code, out, err = cli("budget", "show", "--store", store, "--now", NOW, "--config", str(config))
    assert (code, out) == (1, "")
    assert err.startswith(f"{config}:2:12: error[E105]")


def test_limits_of() -> None:
    code, out, err = cli("limits-of", SIZING, "--balance", "100000", "--now", NOW, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["account_max_daily_loss"], data["per_trade_max_risk_dollars"], data["timestamp_utc"]) == \
        (2000.0, 1000.0, NOW)
    assert data["config_version"].startswith("1.0.0+sha256:")
    code, text, _ = cli("limits-of", SIZING, "--balance", "100000", "--now", NOW, "--config", CONFIG)
    assert code == 0 and text.splitlines()[3] == f"  timestamp_utc   {NOW}"
    assert "  per_strategy_max_allocation_pct             0.4  budget config: largest strategy_allocations share" \
        in text.splitlines()
    code, changed, _ = cli("limits-of", SIZING, "--balance", "100000", "--now", NOW, "--set",
                           "max_daily_loss_pct=0.03", "--format", "json")
    assert code == 0 and json.loads(changed)["account_max_daily_loss"] == 3000.0
    assert json.loads(changed)["config_version"] != data["config_version"]


@pytest.mark.parametrize("argv, code, message", [
    (["limits-of", "tests/fixtures/tiny.yaml", "--balance", "1"], 2, "not a position-sizing policy"),
    (["limits-of", SIZING, "--balance", "0"], 2, "account_balance_used"),
    (["limits-of", SIZING], 2, ""),
    (["limits-of", SIZING, "--balance", "1", "--set", "max_daily_loss_pct=2"], 2, "account_max_daily_loss_pct"),
])
def test_limits_of_errors(argv: list[str], code: int, message: str) -> None:
    found, out, err = cli(*argv, "--now", NOW) if "--balance" in argv else cli(*argv)
    assert (found, out) == (code, "") and message in err
