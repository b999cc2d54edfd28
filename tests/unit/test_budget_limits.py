"""RiskLimits (seed §4.1) from the sizing policy's params: names, dollar amounts, sources,
config_version and a content-addressed limits_id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policy_engine.risk.limits import RiskLimits
from tests.sizing_helpers import manager

NOW = datetime(2025, 4, 2, 14, tzinfo=UTC)


def limits(balance: float = 100_000.0, allocations: dict[str, float] | None = None, **params: object) -> RiskLimits:
    return RiskLimits.from_policy(manager(**params).policy, balance, NOW, allocations)


def test_fields_map_the_params() -> None:
    data = limits().model_dump(mode="json")
    assert {k: data[k] for k in ("account_max_daily_loss", "account_max_daily_loss_pct", "account_max_weekly_loss",
                                 "account_max_drawdown", "per_trade_max_risk_dollars", "account_max_open_positions",
                                 "per_symbol_max_exposure_pct", "per_trade_min_contracts", "per_trade_max_contracts",
                                 "portfolio_max_theta", "min_liquidity_grade", "min_volume")} == {
        "account_max_daily_loss": 2000.0, "account_max_daily_loss_pct": 0.02, "account_max_weekly_loss": 5000.0,
        "account_max_drawdown": 10000.0, "per_trade_max_risk_dollars": 1000.0, "account_max_open_positions": 5,
        "per_symbol_max_exposure_pct": 0.2, "per_trade_min_contracts": 1, "per_trade_max_contracts": 50,
        "portfolio_max_theta": -200.0, "min_liquidity_grade": "FAIR", "min_volume": 100}
    # no param of their own: the tightest limit the policy enforces
    assert (data["per_symbol_max_positions"], data["per_symbol_max_delta"], data["per_symbol_max_contracts"],
            data["per_strategy_max_concurrent"], data["per_strategy_max_allocation_pct"]) == (5, 100.0, 250, 5, 1.0)
    assert data["timestamp_utc"] == "2025-04-02T14:00:00Z"


def test_every_field_names_its_source() -> None:
    record = limits()
    fields = set(RiskLimits.model_fields) - {"limits_id", "timestamp_utc", "config_version", "provenance"}
    assert set(record.provenance.field_sources) == fields
    assert record.provenance.field_sources["account_max_daily_loss"] == "account_balance x params.max_daily_loss_pct"
    assert (record.provenance.policy_id, record.provenance.account_balance_used) == ("risk.position_sizing", 100_000.0)


def test_dollars_are_exact_products() -> None:
    assert limits(balance=88_929.82).account_max_daily_loss == 1778.5964  # 88,929.82 x 0.02, not 1778.5964000000001


def test_config_version_and_id() -> None:
    base = limits()
    info = manager().policy.plan.info
    assert base.config_version == f"1.0.0+{info.content_hash}"
    later = RiskLimits.from_policy(manager().policy, 100_000.0, datetime(2025, 5, 1, tzinfo=UTC))
    assert later.limits_id == base.limits_id  # the same limits, whenever computed
    changed = limits(max_daily_loss_pct=0.03)
    assert changed.config_version != base.config_version and changed.limits_id != base.limits_id
    assert changed.account_max_daily_loss == 3000.0
    assert limits(balance=50_000.0).limits_id != base.limits_id


def test_allocations_give_the_strategy_cap() -> None:
    record = limits(allocations={"TREND": 0.4, "BREAKOUT": 0.2})
    assert record.per_strategy_max_allocation_pct == 0.4
    assert record.provenance.field_sources["per_strategy_max_allocation_pct"].startswith("budget config")


def test_a_policy_without_sizing_params_is_refused() -> None:
    import policy_engine
    from tests.sizing_helpers import ROOT

    other = policy_engine.load(ROOT / "tests" / "fixtures" / "tiny.yaml")
    with pytest.raises(ValueError, match="not a position-sizing policy"):
        RiskLimits.from_policy(other, 100_000.0, NOW)
