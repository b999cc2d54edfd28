"""Output-side models of the position-sizing contract (seed 004 §4).

Names and fields are the seed's. Fields the seed marks REQUIRED that only make sense for an
approved entry (adjustment factors, stop and take-profit plans, post-trade exposure) are
nullable: they are null on a rejection and on an approved exit (readings F). Every key is always
serialized, so the committed decision schema lists every property as required.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import Field

from policy_engine.risk.models_in import (
    CalendarEventType,
    ContractModel,
    Count,
    Direction,
    Flag,
    Fraction,
    Id,
    LiquidityGrade,
    NonNegative,
    Number,
    Price,
    RegimeType,
    StrategyFamily,
    Symbol,
    Timeframe,
    Timestamp,
    Urgency,
    VolatilityState,
)

Text = Annotated[str, Field(max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class PositionDirection(str, Enum):
    LONG = "LONG"
    SHORT = "SHORT"


class QuantityType(str, Enum):
    CONTRACTS = "CONTRACTS"
    SHARES = "SHARES"


class RoundingDirection(str, Enum):
    UP = "UP"
    DOWN = "DOWN"
    NEAREST = "NEAREST"


class StopType(str, Enum):
    FIXED = "FIXED"
    ATR_BASED = "ATR_BASED"
    STRUCTURE_BASED = "STRUCTURE_BASED"


class SoftStopAction(str, Enum):
    ALERT = "ALERT"
    REDUCE_50 = "REDUCE_50"
    REDUCE_25 = "REDUCE_25"


class TargetType(str, Enum):
    FIXED = "FIXED"
    ATR_BASED = "ATR_BASED"
    STRUCTURE_BASED = "STRUCTURE_BASED"
    R_MULTIPLE = "R_MULTIPLE"


class RiskEventType(str, Enum):
    LIMIT_BREACH = "LIMIT_BREACH"
    LIMIT_WARNING = "LIMIT_WARNING"
    MODE_CHANGE = "MODE_CHANGE"
    KILL_SWITCH_ACTIVATED = "KILL_SWITCH_ACTIVATED"
    KILL_SWITCH_DEACTIVATED = "KILL_SWITCH_DEACTIVATED"
    REDUCE_ONLY_ACTIVATED = "REDUCE_ONLY_ACTIVATED"
    STAND_DOWN_ACTIVATED = "STAND_DOWN_ACTIVATED"
    NORMAL_RESTORED = "NORMAL_RESTORED"
    SIZING_REJECTED = "SIZING_REJECTED"
    EXPOSURE_WARNING = "EXPOSURE_WARNING"
    DRAWDOWN_WARNING = "DRAWDOWN_WARNING"
    VOLATILITY_SPIKE = "VOLATILITY_SPIKE"
    DATA_STALE = "DATA_STALE"
    EVENT_BLACKOUT_START = "EVENT_BLACKOUT_START"
    EVENT_BLACKOUT_END = "EVENT_BLACKOUT_END"


class EventSeverity(str, Enum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class BudgetPeriod(str, Enum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


class GateName(str, Enum):
    """The gate a rejection names: INPUT_VALIDATION (contract reading 1), then the 13 of §6.2."""

    INPUT_VALIDATION = "INPUT_VALIDATION"
    KILL_SWITCH_GATE = "KILL_SWITCH_GATE"
    RISK_MODE_GATE = "RISK_MODE_GATE"
    DATA_FRESHNESS_GATE = "DATA_FRESHNESS_GATE"
    REGIME_GATE = "REGIME_GATE"
    DAILY_LOSS_GATE = "DAILY_LOSS_GATE"
    WEEKLY_LOSS_GATE = "WEEKLY_LOSS_GATE"
    DRAWDOWN_GATE = "DRAWDOWN_GATE"
    MAX_POSITIONS_GATE = "MAX_POSITIONS_GATE"
    SYMBOL_CONCENTRATION_GATE = "SYMBOL_CONCENTRATION_GATE"
    GREEK_EXPOSURE_GATE = "GREEK_EXPOSURE_GATE"
    LIQUIDITY_GATE = "LIQUIDITY_GATE"
    EVENT_BLACKOUT_GATE = "EVENT_BLACKOUT_GATE"
    MIN_SIZE_GATE = "MIN_SIZE_GATE"


# --- §4.10 provenance --------------------------------------------------------------------------


class RiskProvenance(ContractModel):
    """Seed §4.10. ``regime_timestamp`` is null when the request had no regime (missing_input)."""

    provenance_id: Id
    timestamp_utc: Timestamp
    processing_started_utc: Timestamp
    processing_ended_utc: Timestamp
    processing_duration_ms: Count
    signal_hash: Name
    signal_timestamp: Timestamp
    regime_hash: Name
    regime_timestamp: Timestamp | None = None
    options_hash: Name | None = None
    options_timestamp: Timestamp | None = None
    exposure_hash: Name
    exposure_timestamp: Timestamp
    risk_config_version: Name
    limits_config_version: Name
    sizing_algorithm_version: Name
    account_balance_used: Number
    account_balance_timestamp: Timestamp
    input_ages_ms: dict[str, int] = Field(default_factory=dict)
    stale_inputs: list[Name] = Field(default_factory=list)
    freshness_ok: Flag


# --- §4.7 adjustment factors -------------------------------------------------------------------


class RiskAdjustmentFactors(ContractModel):
    """Seed §4.7: every multiplier of §7 with the input it was read from."""

    factors_id: Id
    signal_id: Id
    timestamp_utc: Timestamp
    signal_confidence: Fraction
    confidence_multiplier: NonNegative
    regime_type: RegimeType
    regime_confidence: Fraction
    volatility_state: VolatilityState
    regime_multiplier: NonNegative
    liquidity_grade: LiquidityGrade
    spread_pct: NonNegative
    liquidity_multiplier: NonNegative
    urgency: Urgency
    is_squeeze_signal: Flag
    urgency_multiplier: NonNegative
    event_proximity_hours: Count | None = None
    event_type: CalendarEventType | None = None
    event_multiplier: NonNegative
    current_drawdown_pct: NonNegative
    drawdown_multiplier: NonNegative
    recent_win_rate: Fraction | None = None
    streak_multiplier: NonNegative
    combined_multiplier: NonNegative
    combined_multiplier_clamped: NonNegative
    min_multiplier: NonNegative
    max_multiplier: NonNegative
    provenance: RiskProvenance


# --- §4.5 stop loss ----------------------------------------------------------------------------


class StopLossPlan(ContractModel):
    """Seed §4.5. Prices are plain finite numbers: a formula may land outside (0, inf)."""

    plan_id: Id
    signal_id: Id
    symbol: Symbol
    timestamp_utc: Timestamp
    position_direction: PositionDirection
    hard_stop_price: Number
    hard_stop_type: StopType
    hard_stop_distance_pct: NonNegative
    hard_stop_rationale: Text
    soft_stop_price: Number | None = None
    soft_stop_type: StopType | None = None
    soft_stop_action: SoftStopAction | None = None
    time_stop_enabled: Flag
    time_stop_bars: Count | None = None
    time_stop_timestamp: Timestamp | None = None
    time_stop_session_end: Flag
    invalidation_price: Price | None = None
    invalidation_stop_enabled: Flag
    atr_value: NonNegative | None = None
    atr_multiplier: NonNegative | None = None
    structure_level: Number | None = None
    structure_type: Name | None = None
    structure_buffer_pct: NonNegative | None = None
    max_loss_per_contract: NonNegative
    max_loss_total: NonNegative
    max_loss_pct: NonNegative
    trailing_stop_enabled: Flag
    trailing_stop_activation_pct: NonNegative | None = None
    trailing_stop_distance_pct: NonNegative | None = None
    provenance: RiskProvenance


# --- §4.6 take profit --------------------------------------------------------------------------


class ProfitTarget(ContractModel):
    target_number: Annotated[int, Field(strict=True, ge=1)]
    target_price: Number
    target_type: TargetType
    target_distance_pct: NonNegative
    exit_pct: Fraction
    r_multiple: NonNegative | None = None
    structure_type: Name | None = None
    rationale: Text


class PartialExit(ContractModel):
    trigger_pct: Number
    exit_pct: Fraction
    remaining_after: Fraction


class TakeProfitPlan(ContractModel):
    """Seed §4.6."""

    plan_id: Id
    signal_id: Id
    symbol: Symbol
    timestamp_utc: Timestamp
    position_direction: PositionDirection
    targets: Annotated[list[ProfitTarget], Field(min_length=1, max_length=10)]
    trailing_tp_enabled: Flag
    trailing_tp_activation_pct: NonNegative | None = None
    trailing_tp_distance_pct: NonNegative | None = None
    max_hold_bars: Count | None = None
    max_hold_timestamp: Timestamp | None = None
    exit_before_event: Flag
    event_exit_hours_before: Count | None = None
    partial_exit_enabled: Flag
    partial_exit_schedule: Annotated[list[PartialExit], Field(max_length=10)] = Field(default_factory=list)
    r_multiple_1: NonNegative
    r_multiple_2: NonNegative | None = None
    r_multiple_3: NonNegative | None = None
    provenance: RiskProvenance


# --- §4.9 events -------------------------------------------------------------------------------


class RiskEvent(ContractModel):
    """Seed §4.9."""

    event_id: Id
    timestamp_utc: Timestamp
    event_type: RiskEventType
    severity: EventSeverity
    symbol: Symbol | None = None
    description: Text
    current_value: Number | None = None
    limit_value: Number | None = None
    breach_pct: Number | None = None
    action_taken: Text
    requires_attention: Flag
    signal_id: Id | None = None
    decision_id: Id | None = None
    provenance: RiskProvenance


# --- §4.4 exposure -----------------------------------------------------------------------------


class SymbolExposure(ContractModel):
    symbol: Symbol
    position_count: Count
    net_delta: Number
    net_gamma: Number
    net_vega: Number
    net_theta: Number
    exposure_dollars: Number
    exposure_pct: NonNegative


class ExposureSnapshot(ContractModel):
    """Seed §4.4: portfolio exposure, here also the projected post-trade exposure of a decision."""

    snapshot_id: Id
    timestamp_utc: Timestamp
    gross_exposure_dollars: NonNegative
    gross_exposure_pct: NonNegative
    net_exposure_dollars: Number
    net_exposure_pct: Number
    net_exposure_direction: Direction
    total_delta: Number
    total_gamma: Number
    total_vega: Number
    total_theta: Number
    delta_utilization_pct: NonNegative
    gamma_utilization_pct: NonNegative
    vega_utilization_pct: NonNegative
    theta_utilization_pct: NonNegative
    open_positions: Count
    open_positions_long: Count
    open_positions_short: Count
    symbol_exposures: Annotated[list[SymbolExposure], Field(max_length=500)]
    largest_position_pct: NonNegative
    top_3_concentration_pct: NonNegative
    is_within_limits: Flag
    breached_limits: list[Name] = Field(default_factory=list)
    provenance: RiskProvenance


# --- §4.2 budget -------------------------------------------------------------------------------


class StrategyAllocation(ContractModel):
    strategy_family: StrategyFamily
    allocated_pct: NonNegative
    used_pct: NonNegative
    remaining_pct: Number


class RiskBudget(ContractModel):
    """Seed §4.2; ``symbol`` null is the portfolio-level budget."""

    budget_id: Id
    symbol: Symbol | None = None
    timestamp_utc: Timestamp
    period: BudgetPeriod
    period_start: Timestamp
    period_end: Timestamp
    total_budget_dollars: NonNegative
    total_budget_pct: NonNegative
    used_budget_dollars: NonNegative
    used_budget_pct: NonNegative
    remaining_budget_dollars: Number
    remaining_budget_pct: Number
    utilization_ratio: NonNegative
    strategy_allocations: list[StrategyAllocation]
    is_exhausted: Flag
    is_warning: Flag
    warning_threshold_pct: Fraction
    provenance: RiskProvenance


# --- §4.3 the decision -------------------------------------------------------------------------


class PositionSizingDecision(ContractModel):
    """Seed §4.3. On a rejection the sizing numbers are zero and the plans null (readings F)."""

    decision_id: Id
    signal_id: Id
    symbol: Symbol
    timeframe: Timeframe
    timestamp_utc: Timestamp
    is_approved: Flag
    rejection_reason: Name | None = None
    rejection_gate: GateName | None = None
    rejection_detail: Text | None = None
    quantity: Count
    quantity_type: QuantityType
    notional_value: NonNegative
    risk_amount: NonNegative
    risk_pct: NonNegative
    base_size: Count
    adjustment_factors: RiskAdjustmentFactors | None = None
    adjusted_size: NonNegative
    final_size: Count
    size_before_bounds: Count
    min_size_applied: Flag
    max_size_applied: Flag
    rounding_direction: RoundingDirection
    stop_loss_plan: StopLossPlan | None = None
    take_profit_plan: TakeProfitPlan | None = None
    projected_delta_impact: Number
    projected_gamma_impact: Number
    projected_vega_impact: Number
    projected_theta_impact: Number
    post_trade_exposure: ExposureSnapshot | None = None
    provenance: RiskProvenance
    urgency: Urgency
    time_to_act_seconds: Count
    expires_at: Timestamp
    events: Annotated[list[RiskEvent], Field(max_length=50)] = Field(default_factory=list)

    def explain(self) -> str:
        """One or two sentences: which gate decided, and with which numbers."""
        if self.is_approved:
            if self.quantity == 0:
                return f"APPROVED {self.symbol}: exit signal, not sized."
            factors = self.adjustment_factors
            combined = f" x {factors.combined_multiplier_clamped:.4g}" if factors else ""
            return (f"APPROVED {self.symbol}: {self.quantity} {self.quantity_type.value.lower()} "
                    f"(base {self.base_size}{combined} = {self.adjusted_size:.4g}, rounded "
                    f"{self.rounding_direction.value}), risk {self.risk_amount:.2f} = {self.risk_pct:.2%} of the account.")
        gate = self.rejection_gate.value if self.rejection_gate else "ENGINE"
        detail = self.rejection_detail or self.rejection_reason or ""
        return f"{gate}: {detail}" + (f" ({self.rejection_reason})" if detail != self.rejection_reason else "")


__all__ = [
    "BudgetPeriod",
    "EventSeverity",
    "ExposureSnapshot",
    "GateName",
    "PartialExit",
    "PositionDirection",
    "PositionSizingDecision",
    "ProfitTarget",
    "QuantityType",
    "RiskAdjustmentFactors",
    "RiskBudget",
    "RiskEvent",
    "RiskEventType",
    "RiskProvenance",
    "RoundingDirection",
    "SoftStopAction",
    "StopLossPlan",
    "StopType",
    "StrategyAllocation",
    "SymbolExposure",
    "TakeProfitPlan",
    "TargetType",
]
