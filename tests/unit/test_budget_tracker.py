"""The budget's lifecycle on an injected clock, through the real position-sizing policy: a day's
decisions consume budget, a fill realizes a loss, a cancel releases open risk, the warning at
75 %, exhaustion at 100 % rejects the next signal, the daily budget refreshes at the day's
boundary and the weekly one does not; the same ids applied twice change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.budget import BudgetConfig, BudgetError, RiskBudgetTracker, fill_budget
from policy_engine.risk import PositionSizingDecision
from policy_engine.risk.models_out import BudgetPeriod
from tests.budget_helpers import et, request_at, tracker
from tests.sizing_helpers import gate_of, manager

WED, THU = "2025-04-02", "2025-04-03"


def size(budget: RiskBudgetTracker, now: str, signal_id: str, family: str = "TREND",
         stop: float = 48.0) -> PositionSizingDecision:
    """Sign a signal at ``now`` with the tracker's budget, and record what was decided."""
    decision = manager().size(fill_budget(request_at(now, signal_id, family, stop), budget))
    budget.record_sizing(decision, family)
    return decision


def state(budget: RiskBudgetTracker, now: str, period: BudgetPeriod = BudgetPeriod.DAILY) -> tuple[float, ...]:
    snap = budget.snapshot(now, period)
    return snap.used_budget_dollars, snap.remaining_budget_dollars, snap.utilization_ratio, snap.is_warning, \
        snap.is_exhausted


def test_budget_lifecycle(tmp_path: Path) -> None:
    budget = tracker(tmp_path / "state.db")  # $100,000: daily 2,000, weekly 5,000
    assert state(budget, et(WED, "09:00")) == (0.0, 2000.0, 0.0, False, False)

    # 10:00 an entry risks 5 x 200 = 1,000 (the per-trade cap): half the day's budget
    a = size(budget, et(WED, "10:00"), "sig-a")
    assert (a.is_approved, a.quantity, a.risk_amount) == (True, 5, 1000.0)
    assert state(budget, et(WED, "10:00")) == (1000.0, 1000.0, 0.5, False, False)
    assert budget.sizing_input(et(WED, "10:05")) == {"remaining_daily_budget": 1000.0,
                                                     "remaining_weekly_budget": 4000.0}

    # 10:30 a tighter stop (150 a contract) fits 6 contracts = 900 in the 1,000 left: 95 %, a warning
    b = size(budget, et(WED, "10:30"), "sig-b", "MEAN_REVERSION", stop=48.5)
    assert (b.is_approved, b.quantity, b.risk_amount) == (True, 6, 900.0)
    assert state(budget, et(WED, "10:30")) == (1900.0, 100.0, 0.95, True, False)

    # 11:00 b is cancelled: its open risk is released
    assert budget.record_cancel("cxl-b", b.decision_id, et(WED, "11:00"))
    assert state(budget, et(WED, "11:00")) == (1000.0, 1000.0, 0.5, False, False)

    # 11:30 a is stopped out for -500: its 1,000 of open risk becomes a 500 realized loss
    assert budget.record_fill("fill-a", a.decision_id, -500.0, et(WED, "11:30"))
    assert state(budget, et(WED, "11:30")) == (500.0, 1500.0, 0.25, False, False)

    # 12:00 another 1,000 of risk: exactly 75 % used, the warning threshold
    c = size(budget, et(WED, "12:00"), "sig-c")
    assert (c.is_approved, c.risk_amount) == (True, 1000.0)
    assert state(budget, et(WED, "12:00")) == (1500.0, 500.0, 0.75, True, False)

    # 12:30 c gaps through its stop for -1,500: 2,000 realized, the day's budget is exhausted
    assert budget.record_fill("fill-c", c.decision_id, -1500.0, et(WED, "12:30"))
    assert state(budget, et(WED, "12:30")) == (2000.0, 0.0, 1.0, True, True)

    # 13:00 the next signal is rejected by the sizing policy's own gate
    d = size(budget, et(WED, "13:00"), "sig-d")
    assert not d.is_approved and gate_of(d) == ("DAILY_LOSS_GATE", "daily_loss_limit_reached")
    assert state(budget, et(WED, "13:00")) == (2000.0, 0.0, 1.0, True, True)  # a rejection consumes nothing

    # Thursday 00:00 ET: the daily budget refreshes, the weekly one keeps Wednesday's losses
    assert state(budget, et(WED, "23:59")) == (2000.0, 0.0, 1.0, True, True)
    assert state(budget, et(THU, "00:00")) == (0.0, 2000.0, 0.0, False, False)
    assert state(budget, et(THU, "00:00"), BudgetPeriod.WEEKLY) == (2000.0, 3000.0, 0.4, False, False)
    e = size(budget, et(THU, "10:00"), "sig-e")
    assert (e.is_approved, e.risk_amount) == (True, 1000.0)
    assert budget.sizing_input(et(THU, "10:00")) == {"remaining_daily_budget": 1000.0,
                                                     "remaining_weekly_budget": 2000.0}


def test_the_same_ids_twice_change_nothing(tmp_path: Path) -> None:
    budget = tracker(tmp_path / "state.db")
    a = manager().size(fill_budget(request_at(et(WED, "10:00"), "sig-a"), budget))
    assert budget.record_sizing(a, "TREND")
    assert budget.record_fill("fill-a", a.decision_id, -300.0, et(WED, "11:00"), quantity=2)
    before = budget.snapshot(et(WED, "12:00"))
    assert not budget.record_sizing(a, "TREND")
    assert not budget.record_decision(a.decision_id, a.timestamp_utc, a.risk_amount, a.quantity, "TREND", "MSFT")
    assert not budget.record_fill("fill-a", a.decision_id, -300.0, et(WED, "11:00"), quantity=2)
    reopened = tracker(tmp_path / "state.db")  # and after a restart
    assert not reopened.record_fill("fill-a", a.decision_id, -300.0, et(WED, "11:00"), quantity=2)
    assert reopened.snapshot(et(WED, "12:00")) == budget.snapshot(et(WED, "12:00")) == before
    # 300 realized + 3 of 5 contracts still open (600 of the 1,000)
    assert (before.used_budget_dollars, before.remaining_budget_dollars) == (900.0, 1100.0)


def test_snapshots_are_as_of_their_time() -> None:
    budget = tracker()
    budget.record_decision("d-1", et(WED, "10:00"), 1000.0, 5, "TREND")
    budget.record_fill("f-1", "d-1", -400.0, et(WED, "14:00"))
    assert budget.snapshot(et(WED, "09:59")).used_budget_dollars == 0.0  # not decided yet
    assert budget.snapshot(et(WED, "13:59")).used_budget_dollars == 1000.0  # open
    assert budget.snapshot(et(WED, "14:00")).used_budget_dollars == 400.0  # realized
    assert budget.snapshot(et(THU, "09:00")).used_budget_dollars == 0.0


def test_open_risk_counts_until_closed_across_days() -> None:
    budget = tracker()
    budget.record_decision("d-1", et(WED, "15:00"), 1000.0, 4, "TREND")
    budget.record_cancel("c-1", "d-1", et(THU, "10:00"), quantity=1)
    assert budget.snapshot(et(THU, "09:00")).used_budget_dollars == 1000.0  # yesterday's position can lose today
    assert budget.snapshot(et(THU, "10:00")).used_budget_dollars == 750.0  # 3 of 4 contracts still open
    budget.record_fill("f-1", "d-1", 120.0, et(THU, "11:00"))  # a profit closes the rest
    thursday = budget.snapshot(et(THU, "11:00"))
    # the profit does not refill the budget beyond its total
    assert (thursday.used_budget_dollars, thursday.remaining_budget_dollars) == (0.0, 2000.0)


def test_strategy_allocations() -> None:
    config = BudgetConfig.model_validate({"strategy_allocations": {"TREND": 0.4, "MEAN_REVERSION": 0.3}})
    budget = tracker(config=config)
    budget.record_decision("d-1", et(WED, "10:00"), 500.0, 5, "TREND")
    snap = budget.snapshot(et(WED, "10:00"))
    assert [(a.strategy_family.value, a.allocated_pct, a.used_pct, a.remaining_pct)
            for a in snap.strategy_allocations] == [("TREND", 0.4, 0.25, 0.15), ("MEAN_REVERSION", 0.3, 0.0, 0.3)]
    # TREND has 800 of the day's 2,000, 500 used; a family without an allocation has none
    assert budget.sizing_input(et(WED, "10:00"), "TREND") == {"remaining_daily_budget": 300.0,
                                                              "remaining_weekly_budget": 1500.0}
    assert budget.sizing_input(et(WED, "10:00"), "INCOME") == {"remaining_daily_budget": 0.0,
                                                               "remaining_weekly_budget": 0.0}
    assert budget.sizing_input(et(WED, "10:00")) == {"remaining_daily_budget": 1500.0,
                                                     "remaining_weekly_budget": 4500.0}
    rejected = manager().size(fill_budget(request_at(et(WED, "10:30"), "sig-i", "INCOME"), budget))
    assert gate_of(rejected) == ("DAILY_LOSS_GATE", "daily_loss_limit_reached")


def test_the_monthly_budget_binds_through_the_weekly_input() -> None:
    budget = tracker(config=BudgetConfig(monthly_max_loss_pct=0.03))  # 3,000 a month, 5,000 a week
    budget.record_decision("d-1", et("2025-04-01", "10:00"), 1000.0, 1, "TREND")
    budget.record_fill("f-1", "d-1", -2500.0, et("2025-04-01", "11:00"))
    assert budget.sizing_input(et(WED, "10:00")) == {"remaining_daily_budget": 2000.0,
                                                     "remaining_weekly_budget": 500.0}
    monthly = budget.snapshot(et(WED, "10:00"), BudgetPeriod.MONTHLY)
    assert (monthly.total_budget_dollars, monthly.used_budget_dollars, monthly.is_warning) == (3000.0, 2500.0, True)


def test_amounts_accumulate_exactly() -> None:
    budget = tracker()
    for index in range(10):
        budget.record_decision(f"d-{index}", et(WED, "10:00"), 0.1, 1, "TREND")
    assert budget.snapshot(et(WED, "10:00")).used_budget_dollars == 1.0  # not 0.9999999999999999
    assert budget.usage(et(WED, "10:00")).used == 1_000_000  # micro-dollars


def test_the_account_balance() -> None:
    budget = tracker(balance=None)
    with pytest.raises(BudgetError, match="no account balance"):
        budget.snapshot(et(WED, "10:00"))
    budget.set_account_balance(50_000.0)
    assert budget.snapshot(et(WED, "10:00")).total_budget_dollars == 1000.0
    later = RiskBudgetTracker(budget.store, budget.rules)  # reads the stored balance
    assert later.snapshot(et(WED, "10:00")).total_budget_dollars == 1000.0
    assert later.snapshot(et(WED, "10:00"), account_balance=80_000.0).total_budget_dollars == 1600.0


def test_fill_budget_reads_the_request() -> None:
    budget = tracker(config=BudgetConfig.model_validate({"strategy_allocations": {"TREND": 0.5}}), balance=None)
    request = request_at(et(WED, "10:00"), "sig-a")
    request["account"]["account_balance"] = 300_000.0  # half of 6,000 a day, half of 15,000 a week
    filled = fill_budget(request, budget)
    assert filled["budget"] == {"remaining_daily_budget": 3000.0, "remaining_weekly_budget": 7500.0}
    assert request["budget"] == {"remaining_daily_budget": 2000.0, "remaining_weekly_budget": 5000.0}  # a copy
    with pytest.raises(BudgetError, match="not a time"):
        fill_budget({**request, "now": "yesterday"}, budget)


@pytest.mark.parametrize("call, message", [
    (lambda t: t.record_decision("", et(WED, "10:00"), 1.0, 1, "TREND"), "id must be text"),
    (lambda t: t.record_decision("d", et(WED, "10:00"), 1.0, 0, "TREND"), "quantity"),
    (lambda t: t.record_decision("d", et(WED, "10:00"), -1.0, 1, "TREND"), "risk_amount must be >= 0"),
    (lambda t: t.record_decision("d", et(WED, "10:00"), float("nan"), 1, "TREND"), "finite"),
    (lambda t: t.record_decision("d", et(WED, "10:00"), 1.0, 1, "GROWTH"), "unknown strategy family"),
    (lambda t: t.record_decision("d", "2025-04-02 10:00", 1.0, 1, "TREND"), "not a time"),
    (lambda t: t.record_fill("f", "d", -1.0, et(WED, "10:00"), quantity=0), "whole number"),
    (lambda t: t.record_fill("f", "nope", -1.0, et(WED, "10:00")), "no decision nope"),
])
def test_bad_events_are_refused(call: object, message: str) -> None:
    budget = tracker()
    with pytest.raises(BudgetError, match=message):
        call(budget)  # type: ignore[operator]
    assert budget.store.decisions() == [] and budget.store.closures() == []
