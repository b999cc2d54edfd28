"""Shared pieces of the risk-budget tests: a store and tracker per test, sizing requests moved
to any time (every timestamp shifted by the same amount), and times as ISO text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_engine.budget import BudgetConfig, BudgetStore, RiskBudgetTracker
from policy_engine.risk.construct import iso
from policy_engine.timestamps import parse_date_time
from tests.sizing_helpers import manager, neutral

BALANCE = 100_000.0  # daily budget 2,000, weekly 5,000, monthly 10,000 (max_drawdown_pct)
US_PER_HOUR = 3_600_000_000


def et(day: str, hhmm: str) -> str:
    """A New York time during US daylight saving time (2025-03-09 to 2025-11-02) as UTC text."""
    hours, minutes = map(int, hhmm.split(":"))
    us = parse_date_time(f"{day}T00:00:00Z")
    assert us is not None
    return iso(us + (hours + 4) * US_PER_HOUR + minutes * 60_000_000)


def tracker(path: Path | str = ":memory:", config: BudgetConfig | None = None,
            balance: float | None = BALANCE) -> RiskBudgetTracker:
    return RiskBudgetTracker.from_policy(BudgetStore(path), manager().policy, config, balance)


def _shift(data: Any, delta: int) -> Any:
    if isinstance(data, dict):
        return {key: _shift(value, delta) for key, value in data.items()}
    if isinstance(data, list):
        return [_shift(value, delta) for value in data]
    if isinstance(data, str) and (us := parse_date_time(data)) is not None:
        return iso(us + delta)
    return data


def request_at(now: str, signal_id: str, family: str = "TREND", stop: float = 48.0,
               budget: dict[str, float] | None = None) -> dict[str, Any]:
    """The neutral worked example (entry 50, 100 per point: risk 100 x (50 - stop) per contract)
    at ``now``, every input as fresh as in the example."""
    request = neutral({"signal.signal_id": signal_id, "signal.strategy_family": family,
                       "signal.stop_loss_zone": {"low": stop, "high": stop}})
    now_us, was = parse_date_time(now), parse_date_time(request["now"])
    assert now_us is not None and was is not None
    moved: dict[str, Any] = _shift(request, now_us - was)
    if budget is not None:
        moved["budget"] = dict(budget)
    return moved
