"""What a budget is measured against: loss limits per period, the warning threshold, the
per-family allocations and the calendar, read from the sizing policy's params and the budget
config (one source of truth for each number; ``sources`` says which).

    DAILY    params.max_daily_loss_pct     WEEKLY  params.max_weekly_loss_pct
    MONTHLY  config.monthly_max_loss_pct, else params.max_drawdown_pct (a month cannot lose more
             than the drawdown limit allows anyway)
    warning  params.limit_warning_pct (the policy's LIMIT_WARNING threshold, 0.75)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policy_engine.budget.config import BudgetConfig
from policy_engine.budget.periods import TradingCalendar
from policy_engine.risk.models_out import BudgetPeriod

LIMIT_PARAMS = {BudgetPeriod.DAILY: "max_daily_loss_pct", BudgetPeriod.WEEKLY: "max_weekly_loss_pct"}
MONTHLY_FALLBACK_PARAM = "max_drawdown_pct"
WARNING_PARAM = "limit_warning_pct"


class BudgetError(ValueError):
    """The budget cannot be computed or an event cannot be recorded (the message says why)."""


@dataclass(frozen=True)
class PolicyStampInfo:
    """The sizing policy the limits were read from."""

    policy_id: str
    version: str
    content_hash: str

    @property
    def config_version(self) -> str:
        """Policy version + content hash: changes with the file, its input schema and any --set."""
        return f"{self.version}+{self.content_hash}"


@dataclass(frozen=True)
class BudgetRules:
    max_loss_pct: Mapping[BudgetPeriod, float]
    warning_threshold: float
    allocations: Mapping[str, float] | None  # family -> share of each period's budget; None: all share it
    calendar: TradingCalendar
    policy: PolicyStampInfo
    config_hash: str
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_policy(cls, policy: Any, config: BudgetConfig | None = None) -> BudgetRules:
        """``policy``: a compiled DecisionPolicy whose params hold the loss limits (the sizing policy)."""
        config = config or BudgetConfig()
        params, info = policy.plan.params, policy.plan.info
        pcts = {period: _fraction(params, name) for period, name in LIMIT_PARAMS.items()}
        sources = {period.value: f"params.{name}" for period, name in LIMIT_PARAMS.items()}
        if config.monthly_max_loss_pct is not None:
            pcts[BudgetPeriod.MONTHLY] = config.monthly_max_loss_pct
            sources["MONTHLY"] = "config.monthly_max_loss_pct"
        else:
            pcts[BudgetPeriod.MONTHLY] = _fraction(params, MONTHLY_FALLBACK_PARAM)
            sources["MONTHLY"] = f"params.{MONTHLY_FALLBACK_PARAM}"
        sources["warning_threshold"] = f"params.{WARNING_PARAM}"
        return cls(pcts, _fraction(params, WARNING_PARAM), config.allocations(), config.calendar(),
                   PolicyStampInfo(info.id, info.version, info.content_hash), config.content_hash(), sources)

    def allocation(self, family: str) -> float:
        """A family's share of each period's budget: 1.0 without allocations, 0.0 if not listed."""
        if self.allocations is None:
            return 1.0
        return self.allocations.get(family, 0.0)


def _fraction(params: Mapping[str, Any], name: str) -> float:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= 1:
        raise BudgetError(f"the policy's params.{name} must be a fraction in (0, 1], got {value!r}")
    return float(value)
