"""A period's usage as the seed's RiskBudget record (§4.2, ``policy_engine.risk.RiskBudget``).

Readings where the seed is silent (docs/budgets.md):
- the ``*_pct`` of RiskBudget are fractions of the account balance, as ``total_budget_pct`` is;
  ``utilization_ratio`` is used / total;
- the ``*_pct`` of a StrategyAllocation are fractions of the period's total budget: the family's
  configured share, what it used and what it has left (the used_pct of all families add up to
  the utilization ratio);
- ``symbol`` is null: the budget is portfolio-level;
- the provenance is the seed's RiskProvenance: the policy and its content hash as a decision's,
  ``exposure_hash`` the hash of the ledger rows counted, ``sizing_algorithm_version`` the budget
  algorithm and its config hash; there is no signal or regime, so their hashes read ``none``.
"""

from __future__ import annotations

import hashlib

from policy_engine.budget.amounts import dollars
from policy_engine.budget.rules import BudgetRules
from policy_engine.budget.usage import FamilyUsage, PeriodUsage
from policy_engine.risk.construct import at
from policy_engine.risk.models_in import StrategyFamily
from policy_engine.risk.models_out import RiskBudget, RiskProvenance, StrategyAllocation

BUDGET_ALGORITHM_VERSION = "seed-004/§4.2"


def budget_id(usage: PeriodUsage) -> str:
    """Stable for a period: every snapshot of the same day (week, month) has the same id."""
    return f"budget:{usage.period.kind.value.lower()}:{usage.period.label}:portfolio"


def risk_budget(rules: BudgetRules, usage: PeriodUsage) -> RiskBudget:
    balance, period = dollars(usage.balance), usage.period
    return RiskBudget(
        budget_id=budget_id(usage), symbol=None, timestamp_utc=at(usage.now), period=period.kind,
        period_start=at(period.start), period_end=at(period.end),
        total_budget_dollars=dollars(usage.total), total_budget_pct=usage.total_pct,
        used_budget_dollars=dollars(usage.used), used_budget_pct=_pct(usage.used, balance),
        remaining_budget_dollars=dollars(usage.remaining),
        remaining_budget_pct=_pct(usage.remaining, balance),
        utilization_ratio=_ratio(usage.used, usage.total),
        strategy_allocations=[_allocation(family, usage.total) for family in usage.families],
        is_exhausted=usage.is_exhausted, is_warning=usage.is_warning(rules.warning_threshold),
        warning_threshold_pct=rules.warning_threshold, provenance=_provenance(rules, usage),
    )


def _pct(micros: int, balance: float) -> float:
    return dollars(micros) / balance


def _ratio(used: int, total: int) -> float:
    return used / total if total > 0 else 1.0  # a zero budget is fully used


def _allocation(family: FamilyUsage, total: int) -> StrategyAllocation:
    return StrategyAllocation(strategy_family=StrategyFamily(family.family), allocated_pct=family.share,
                              used_pct=_of(family.used, total), remaining_pct=_of(family.remaining, total))


def _of(part: int, total: int) -> float:
    if total > 0:
        return part / total
    return 0.0 if part == 0 else 1.0 if part > 0 else -1.0  # a zero budget: all of it, or over it


def _provenance(rules: BudgetRules, usage: PeriodUsage) -> RiskProvenance:
    now = at(usage.now)
    digest = hashlib.sha256(f"{budget_id(usage)}|{usage.now}|{usage.ledger_hash}".encode()).hexdigest()
    return RiskProvenance(
        provenance_id=digest, timestamp_utc=now, processing_started_utc=now, processing_ended_utc=now,
        processing_duration_ms=0, signal_hash="none", signal_timestamp=now, regime_hash="none",
        exposure_hash=usage.ledger_hash, exposure_timestamp=now,
        risk_config_version=f"{rules.policy.policy_id}@{rules.policy.version}",
        limits_config_version=rules.policy.content_hash,
        sizing_algorithm_version=f"{BUDGET_ALGORITHM_VERSION};config={rules.config_hash}",
        account_balance_used=dollars(usage.balance), account_balance_timestamp=now,
        input_ages_ms={}, stale_inputs=[], freshness_ok=True,
    )
