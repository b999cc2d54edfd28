"""RiskBudgetTracker: the risk budget of one account over DAILY / WEEKLY / MONTHLY periods.

    store = BudgetStore("state.db")                        # the machines' SQLite file is fine
    tracker = RiskBudgetTracker.from_policy(store, account_balance=100_000.0)
    request = fill_budget(request, tracker)                # request["budget"] from the ledger
    decision = manager.size(request)
    tracker.record_sizing(decision, "TREND")               # an approval consumes its risk_amount
    tracker.record_fill("fill-1", decision.decision_id, realized_pnl=-420.0, at=...)
    tracker.record_cancel("cxl-1", other.decision_id, at=...)
    tracker.snapshot(now)                                  # the seed's RiskBudget (§4.2)

Every write is idempotent by its id (see ``store``); every read is "as of" the ``now`` it is
given (the injected clock: nothing here reads the wall clock). One tracker per thread, as its
store's SQLite connection is.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import policy_engine
from policy_engine.budget.amounts import dollars, share, to_micros
from policy_engine.budget.config import BudgetConfig, load_budget_config
from policy_engine.budget.report import risk_budget
from policy_engine.budget.rules import BudgetError, BudgetRules
from policy_engine.budget.store import CANCEL, FILL, BudgetStore, ClosureRecord, DecisionRecord
from policy_engine.budget.usage import OpenRisk, PeriodUsage, period_usage
from policy_engine.engine.run import now_to_us
from policy_engine.risk.facade import DEFAULT_POLICY
from policy_engine.risk.models_in import StrategyFamily
from policy_engine.risk.models_out import BudgetPeriod, PositionSizingDecision, RiskBudget
from policy_engine.timestamps import parse_date_time

BALANCE_SETTING = "account_balance"
FAMILIES = frozenset(f.value for f in StrategyFamily)
Moment = int | str | datetime  # µs since the epoch, RFC 3339 text with an offset, or an aware datetime


class RiskBudgetTracker:
    def __init__(self, store: BudgetStore, rules: BudgetRules, account_balance: float | None = None):
        self.store, self.rules = store, rules
        self._balance = None if account_balance is None else _balance_micros(account_balance)

    @classmethod
    def from_policy(cls, store: BudgetStore, policy: Any = DEFAULT_POLICY,
                    config: BudgetConfig | str | Path | None = None,
                    account_balance: float | None = None) -> RiskBudgetTracker:
        """``policy``: the sizing policy's path or compiled policy; ``config``: a BudgetConfig or its file."""
        compiled = policy_engine.load(policy) if isinstance(policy, (str, Path)) else policy
        settings = load_budget_config(config) if isinstance(config, (str, Path)) else config
        return cls(store, BudgetRules.from_policy(compiled, settings), account_balance)

    # --- recording ----------------------------------------------------------------------
    def record_decision(self, decision_id: str, at: Moment, risk_amount: float, quantity: int,
                        strategy_family: str, symbol: str | None = None) -> bool:
        """An approved decision consumes ``risk_amount`` from ``at`` until fills or cancels close
        its ``quantity``. False if ``decision_id`` is already recorded with the same content."""
        decision_id = _id(decision_id, "decision")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise BudgetError(f"decision {decision_id}: quantity must be a whole number >= 1, "
                              f"got {quantity!r}")
        risk = _amount(risk_amount, "risk_amount")
        if risk < 0:
            raise BudgetError(f"decision {decision_id}: risk_amount must be >= 0, got {risk_amount}")
        if strategy_family not in FAMILIES:
            raise BudgetError(f"decision {decision_id}: unknown strategy family {strategy_family!r}")
        return self.store.add_decision(DecisionRecord(decision_id, _us(at), risk, quantity,
                                                      strategy_family, symbol))

    def record_sizing(self, decision: PositionSizingDecision, strategy_family: str) -> bool:
        """Record a facade decision: an approved entry consumes its risk; a rejection or an exit
        (quantity 0) consumes nothing and returns False."""
        if not decision.is_approved or decision.quantity < 1:
            return False
        return self.record_decision(decision.decision_id, decision.timestamp_utc, decision.risk_amount,
                                    decision.quantity, strategy_family, decision.symbol)

    def record_fill(self, fill_id: str, decision_id: str, realized_pnl: float, at: Moment,
                    quantity: int | None = None) -> bool:
        """A fill closing ``quantity`` units (None: all still open) of a decision: its open risk
        is released and a loss (``realized_pnl`` < 0) is charged to the periods of ``at``."""
        record = ClosureRecord(FILL, _id(fill_id, "fill"), _id(decision_id, "decision"), _us(at),
                               _closing(quantity), _amount(realized_pnl, "realized_pnl"))
        return self.store.add_closure(record)

    def record_cancel(self, cancel_id: str, decision_id: str, at: Moment,
                      quantity: int | None = None) -> bool:
        """A cancel releasing ``quantity`` units (None: all still open) without P&L."""
        record = ClosureRecord(CANCEL, _id(cancel_id, "cancel"), _id(decision_id, "decision"), _us(at),
                               _closing(quantity))
        return self.store.add_closure(record)

    # --- the account --------------------------------------------------------------------
    def set_account_balance(self, balance: float) -> None:
        """Store the balance budgets are computed from (read by later trackers and the CLI)."""
        self._balance = _balance_micros(balance)
        self.store.set_setting(BALANCE_SETTING, str(self._balance))

    def _balance_at(self, override: float | None) -> int:
        if override is not None:
            return _balance_micros(override)
        if self._balance is not None:
            return self._balance
        stored = self.store.setting(BALANCE_SETTING)
        if stored is None:
            raise BudgetError("no account balance: pass account_balance or call set_account_balance first")
        return int(stored)

    # --- reading ------------------------------------------------------------------------
    def usage(self, now: Moment, period: BudgetPeriod = BudgetPeriod.DAILY,
              account_balance: float | None = None) -> PeriodUsage:
        return self.usages(now, (period,), account_balance)[0]

    def usages(self, now: Moment, periods: Iterable[BudgetPeriod] = tuple(BudgetPeriod),
               account_balance: float | None = None) -> list[PeriodUsage]:
        """The usage of several periods at one time (the open decisions are read once)."""
        us, balance = _us(now), self._balance_at(account_balance)
        open_risk, calendar = OpenRisk.read(self.store, us), self.rules.calendar
        return [period_usage(self.store, self.rules, calendar.period(period, us), us, balance, open_risk)
                for period in periods]

    def snapshot(self, now: Moment, period: BudgetPeriod = BudgetPeriod.DAILY,
                 account_balance: float | None = None) -> RiskBudget:
        return risk_budget(self.rules, self.usage(now, period, account_balance))

    def snapshots(self, now: Moment, account_balance: float | None = None) -> tuple[RiskBudget, ...]:
        usages = self.usages(now, BudgetPeriod, account_balance)
        return tuple(risk_budget(self.rules, usage) for usage in usages)

    def sizing_input(self, now: Moment, strategy_family: str | None = None,
                     account_balance: float | None = None) -> dict[str, float]:
        """The request's ``budget`` object: remaining dollars of the day and of the week, each
        capped by the family's own remaining allocation when a family is named. The request has
        no monthly field, so the monthly budget binds through the weekly one (the smaller is sent)."""
        daily, weekly, monthly = self.usages(now, BudgetPeriod, account_balance)
        return {"remaining_daily_budget": dollars(self._remaining(daily, strategy_family)),
                "remaining_weekly_budget": dollars(min(self._remaining(weekly, strategy_family),
                                                       self._remaining(monthly, strategy_family)))}

    def _remaining(self, usage: PeriodUsage, family: str | None) -> int:
        if family is None:
            return usage.remaining
        found = usage.family(family)
        family_left = found.remaining if found else share(usage.total, self.rules.allocation(family))
        return min(usage.remaining, family_left)


def fill_budget(request: Mapping[str, Any], tracker: RiskBudgetTracker) -> dict[str, Any]:
    """A copy of a sizing request (wire layout) whose ``budget`` comes from the tracker: at the
    request's ``now``, for its signal's strategy family, from its account's balance."""
    filled = copy.deepcopy(dict(request))
    signal, account = filled.get("signal"), filled.get("account")
    family = signal.get("strategy_family") if isinstance(signal, dict) else None
    balance = account.get("account_balance") if isinstance(account, dict) else None
    usable = isinstance(balance, (int, float)) and not isinstance(balance, bool) and balance > 0
    now = filled.get("now")
    if not isinstance(now, str):
        raise BudgetError(f"the request's now is not a time: {now!r}")
    filled["budget"] = tracker.sizing_input(now, family if family in FAMILIES else None,
                                            balance if usable else None)
    return filled


# --- argument checks ------------------------------------------------------------------------
def _us(moment: Any) -> int:
    if isinstance(moment, str):
        us = parse_date_time(moment)
    else:
        us = now_to_us(moment)
    if us is None:
        raise BudgetError(f"not a time: {moment!r} (expected µs since the epoch, RFC 3339 text with "
                          "an offset, or an aware datetime)")
    return us


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 128:
        raise BudgetError(f"{what} id must be text of 1-128 characters, got {value!r}")
    return value


def _closing(quantity: int | None) -> int | None:
    if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1):
        raise BudgetError(f"a fill or cancel closes a whole number >= 1 of units, got {quantity!r}")
    return quantity


def _balance_micros(balance: float) -> int:
    if isinstance(balance, bool) or not isinstance(balance, (int, float)) or not math.isfinite(balance) \
            or balance <= 0:
        raise BudgetError(f"account balance must be a positive number, got {balance!r}")
    return to_micros(balance, "account balance")


def _amount(value: Any, what: str) -> int:
    try:
        return to_micros(value, what)
    except ValueError as problem:
        raise BudgetError(str(problem)) from None
