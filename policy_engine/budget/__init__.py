"""The risk budget (seed 004 §4.2): DAILY / WEEKLY / MONTHLY loss budgets of one account,
consumed by approved decisions and released or realized by fills and cancels, kept in SQLite.

    store = BudgetStore("state.db")
    tracker = RiskBudgetTracker.from_policy(store, config="budget.yaml", account_balance=100_000.0)
    tracker.record_decision("d-1", "2025-04-02T14:00:00Z", risk_amount=1000.0, quantity=5,
                            strategy_family="TREND")
    tracker.snapshot("2025-04-02T15:00:00Z")           # RiskBudget: used, remaining, is_warning, ...
    fill_budget(request, tracker)                      # a sizing request with its `budget` filled in

Modules: ``periods`` (trading calendar, period boundaries), ``config`` (the budget config file),
``rules`` (limits from the sizing policy's params), ``amounts`` (integer micro-dollars),
``store`` (the ledger tables), ``usage`` (one period's usage), ``report`` (the RiskBudget
record), ``tracker`` (the API). Documentation: docs/budgets.md.
"""

from __future__ import annotations

from policy_engine.budget.config import BudgetConfig, load_budget_config
from policy_engine.budget.periods import CalendarError, Period, TradingCalendar
from policy_engine.budget.rules import BudgetError, BudgetRules
from policy_engine.budget.store import BudgetConflict, BudgetStore
from policy_engine.budget.tracker import RiskBudgetTracker, fill_budget
from policy_engine.budget.usage import FamilyUsage, PeriodUsage

__all__ = [
    "BudgetConfig", "BudgetConflict", "BudgetError", "BudgetRules", "BudgetStore", "CalendarError",
    "FamilyUsage", "Period", "PeriodUsage", "RiskBudgetTracker", "TradingCalendar", "fill_budget",
    "load_budget_config",
]
