"""RiskLimits (seed 004 §4.1) materialized from the sizing policy's params.

    limits = RiskLimits.from_policy(policy_engine.load("policies/risk/position_sizing.yaml"),
                                    account_balance=100_000.0, now="2025-04-02T14:00:00Z")
    limits.account_max_daily_loss        # 2000.0 = balance x params.max_daily_loss_pct

The policy's params are the one source of every number; this record only names them the way
the seed does, adds the dollar amounts for one account balance and says where each came from
(``provenance.field_sources``). Fields with no param of their own carry the tightest limit the
policy actually enforces on them (e.g. per_symbol_max_positions: no per-symbol count exists, so
the portfolio's max_open_positions); per_strategy_max_allocation_pct is the largest share of
the budget config's strategy_allocations (a fraction of a period's budget), 1.0 without them.

``config_version`` is the policy version + content hash (which covers the input schema and any
``--set`` override); ``limits_id`` is the sha256 of the limit values and that version, so the
same limits always have the same id, whenever they are computed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from policy_engine.decision import ENGINE_VERSION
from policy_engine.risk.models_in import (
    ContractModel,
    Count,
    Fraction,
    Id,
    LiquidityGrade,
    NonNegative,
    Number,
    Timestamp,
)

Name = Annotated[str, Field(min_length=1, max_length=128)]

# RiskLimits field -> the sizing policy's param it is.
PARAM_FIELDS = {
    "account_max_daily_loss_pct": "max_daily_loss_pct",
    "account_max_weekly_loss_pct": "max_weekly_loss_pct",
    "account_max_drawdown_pct": "max_drawdown_pct",
    "account_max_open_positions": "max_open_positions",
    "per_symbol_max_exposure_pct": "max_symbol_concentration_pct",
    "per_trade_max_risk_pct": "per_trade_max_risk_pct",
    "per_trade_min_contracts": "min_position_size",
    "per_trade_max_contracts": "max_position_size",
    "portfolio_max_delta": "max_portfolio_delta",
    "portfolio_max_gamma": "max_portfolio_gamma",
    "portfolio_max_vega": "max_portfolio_vega",
    "portfolio_max_theta": "max_portfolio_theta",
    "min_liquidity_grade": "min_liquidity_grade",
    "max_bid_ask_spread_pct": "max_bid_ask_spread_pct",
    "min_open_interest": "min_open_interest",
    "min_volume": "min_volume",
}
# Dollar field -> the pct param it is account_balance x.
DOLLAR_FIELDS = {
    "account_max_daily_loss": "max_daily_loss_pct",
    "account_max_weekly_loss": "max_weekly_loss_pct",
    "account_max_drawdown": "max_drawdown_pct",
    "per_trade_max_risk_dollars": "per_trade_max_risk_pct",
}
# Fields without a param of their own: the tightest limit the policy enforces on them.
IMPLIED_FIELDS = {
    "per_symbol_max_positions": ("max_open_positions",),
    "per_symbol_max_delta": ("max_portfolio_delta",),
    "per_symbol_max_contracts": ("max_open_positions", "max_position_size"),  # every position in one symbol
    "per_strategy_max_concurrent": ("max_open_positions",),
}
REQUIRED_PARAMS = tuple(sorted({*PARAM_FIELDS.values(), *DOLLAR_FIELDS.values(),
                                *(p for names in IMPLIED_FIELDS.values() for p in names)}))


class LimitsProvenance(ContractModel):
    """Where the limits came from: the policy, the engine, the balance, each field's source."""

    policy_id: Name
    policy_version: Name
    content_hash: Name
    engine_version: Name
    account_balance_used: Annotated[float, Field(strict=True, gt=0)]
    field_sources: dict[str, str]


class RiskLimits(ContractModel):
    """Seed §4.1, field for field."""

    limits_id: Id
    timestamp_utc: Timestamp
    config_version: Name
    account_max_daily_loss: NonNegative
    account_max_daily_loss_pct: Fraction
    account_max_weekly_loss: NonNegative
    account_max_weekly_loss_pct: Fraction
    account_max_drawdown: NonNegative
    account_max_drawdown_pct: Fraction
    account_max_open_positions: Count
    per_symbol_max_exposure_pct: Fraction
    per_symbol_max_positions: Count
    per_symbol_max_delta: Number
    per_symbol_max_contracts: Count
    per_strategy_max_allocation_pct: Fraction
    per_strategy_max_concurrent: Count
    per_trade_max_risk_pct: Fraction
    per_trade_max_risk_dollars: NonNegative
    per_trade_min_contracts: Count
    per_trade_max_contracts: Count
    portfolio_max_delta: Number
    portfolio_max_gamma: Number
    portfolio_max_vega: Number
    portfolio_max_theta: Number
    min_liquidity_grade: LiquidityGrade
    max_bid_ask_spread_pct: NonNegative
    min_open_interest: Count
    min_volume: Count
    provenance: LimitsProvenance

    @classmethod
    def from_policy(cls, policy: Any, account_balance: float, now: datetime,
                    strategy_allocations: Mapping[str, float] | None = None) -> RiskLimits:
        """``policy``: the compiled sizing policy; ``now``: an aware datetime (the injected clock).
        Raises ``ValueError`` naming any param the policy lacks; pydantic's ``ValidationError``
        (a ValueError) if a param's value is outside what the seed's field allows."""
        params, info = policy.plan.params, policy.plan.info
        missing = [name for name in REQUIRED_PARAMS if name not in params]
        if missing:
            raise ValueError(f"{info.id} has no param {', '.join(missing)}: not a position-sizing policy")
        values, sources = _limit_values(params, account_balance, strategy_allocations)
        config_version = f"{info.version}+{info.content_hash}"
        limits_id = hashlib.sha256(json.dumps([config_version, values], sort_keys=True).encode()).hexdigest()
        provenance = LimitsProvenance(
            policy_id=info.id, policy_version=info.version, content_hash=info.content_hash,
            engine_version=ENGINE_VERSION, account_balance_used=float(account_balance), field_sources=sources)
        return cls(limits_id=limits_id, timestamp_utc=now, config_version=config_version, **values,
                   provenance=provenance)


def _limit_values(params: Mapping[str, Any], balance: float,
                  allocations: Mapping[str, float] | None) -> tuple[dict[str, Any], dict[str, str]]:
    values = {name: params[param] for name, param in PARAM_FIELDS.items()}
    sources = {name: f"params.{param}" for name, param in PARAM_FIELDS.items()}
    for name, param in DOLLAR_FIELDS.items():
        values[name] = _times(balance, params[param])
        sources[name] = f"account_balance x params.{param}"
    for name, implied in IMPLIED_FIELDS.items():
        product = 1
        for param in implied:
            product *= params[param]
        values[name] = product
        sources[name] = " x ".join(f"params.{param}" for param in implied) + " (no param of its own)"
    values["per_strategy_max_allocation_pct"] = max(allocations.values(), default=0.0) if allocations else 1.0
    sources["per_strategy_max_allocation_pct"] = (
        "budget config: largest strategy_allocations share" if allocations
        else "no strategy allocations: the whole budget")
    return values, dict(sorted(sources.items()))


def _times(balance: float, pct: Any) -> float:
    """balance x pct computed from their decimal texts: 100,000 x 0.02 is exactly 2,000."""
    if isinstance(pct, bool) or not isinstance(pct, (int, float)):
        raise ValueError(f"expected a number, got {pct!r}")  # noqa: TRY004 (callers report ValueErrors)
    return float(Decimal(repr(float(balance))) * Decimal(repr(float(pct))))
