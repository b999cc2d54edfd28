"""Request-side models of the position-sizing contract (seed 004 §3, contract request layout).

Wire layout: ``../shared/contracts/position_sizing.md``; the committed JSON Schema
``schemas/position_sizing.request.schema.json`` describes the same shapes and a drift test keeps
the two in step. Every model refuses unknown fields, NaN/inf and type coercions (``"5"`` is not
5), and is immutable. Timestamps must carry an offset and are normalized to UTC.

The shared building blocks (base class, constrained scalar types) live here too, so the
output-side module can reuse them without a third module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

# --- building blocks -------------------------------------------------------------------------------


class ContractModel(BaseModel):
    """Base of every risk contract model: closed, immutable, finite numbers only."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        use_enum_values=False,
        # Outputs always carry every key, so fields with defaults are still required on the wire.
        json_schema_serialization_defaults_required=True,
    )

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: enums as values, datetimes as ISO 8601 with ``Z``."""
        return self.model_dump(mode="json")


def _timestamp_text_only(value: object) -> object:
    # Pydantic would read a bare number as Unix time; the wire format only has ISO strings.
    if isinstance(value, (int, float)):
        raise PydanticCustomError("timestamp_type", "a timestamp must be an ISO 8601 string with an offset")
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_text_only), AfterValidator(_to_utc)]
Number = Annotated[float, Field(strict=True)]
Price = Annotated[float, Field(strict=True, gt=0)]
NonNegative = Annotated[float, Field(strict=True, ge=0)]
Fraction = Annotated[float, Field(strict=True, ge=0, le=1)]
Count = Annotated[int, Field(strict=True, ge=0)]
Flag = StrictBool
Id = Annotated[str, Field(min_length=1, max_length=128)]
Symbol = Annotated[str, Field(min_length=1, max_length=32)]
Timeframe = Annotated[str, Field(min_length=1, max_length=16)]


# --- enums (seed §3, readings B) ----------------------------------------------------------------


class SignalType(str, Enum):
    ENTRY_LONG = "ENTRY_LONG"
    ENTRY_SHORT = "ENTRY_SHORT"
    EXIT_PARTIAL = "EXIT_PARTIAL"
    EXIT_FULL = "EXIT_FULL"
    STAND_DOWN = "STAND_DOWN"
    SQUEEZE_FAST_RELEASE = "SQUEEZE_FAST_RELEASE"
    SQUEEZE_CONFIRMED_RELEASE = "SQUEEZE_CONFIRMED_RELEASE"


class Direction(str, Enum):
    LONG = "LONG"
    SHORT = "SHORT"
    NEUTRAL = "NEUTRAL"


class StrategyFamily(str, Enum):
    TREND = "TREND"
    BREAKOUT = "BREAKOUT"
    MEAN_REVERSION = "MEAN_REVERSION"
    LONG_VOL = "LONG_VOL"
    SHORT_VOL = "SHORT_VOL"
    SQUEEZE = "SQUEEZE"
    INCOME = "INCOME"
    OTHER = "OTHER"


class Urgency(str, Enum):
    IMMEDIATE = "IMMEDIATE"
    STANDARD = "STANDARD"
    LOW = "LOW"


class LifecycleState(str, Enum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    TRIGGERED = "TRIGGERED"
    EXPIRED = "EXPIRED"
    INVALIDATED = "INVALIDATED"
    CANCELLED = "CANCELLED"


class RegimeType(str, Enum):
    TRENDING_UP = "TRENDING_UP"
    TRENDING_DOWN = "TRENDING_DOWN"
    RANGING = "RANGING"
    BREAKOUT = "BREAKOUT"
    BREAKDOWN = "BREAKDOWN"
    CHOPPY = "CHOPPY"
    VOLATILE_EXPANSION = "VOLATILE_EXPANSION"
    VOLATILE_CONTRACTION = "VOLATILE_CONTRACTION"
    UNKNOWN = "UNKNOWN"


class VolatilityState(str, Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    EXTREME = "EXTREME"


class LiquidityGrade(str, Enum):
    EXCELLENT = "EXCELLENT"
    GOOD = "GOOD"
    FAIR = "FAIR"
    POOR = "POOR"
    ILLIQUID = "ILLIQUID"


class RiskMode(str, Enum):
    NORMAL = "NORMAL"
    REDUCE_ONLY = "REDUCE_ONLY"
    STAND_DOWN = "STAND_DOWN"


class CalendarEventType(str, Enum):
    EARNINGS = "EARNINGS"
    DIVIDEND = "DIVIDEND"
    SPLIT = "SPLIT"
    FOMC = "FOMC"
    CPI = "CPI"
    JOBS = "JOBS"
    OTHER = "OTHER"


# --- request models --------------------------------------------------------------------------------


class PriceRange(ContractModel):
    """A price zone; position sizing reads its midpoint (contract reading 12)."""

    low: Price
    high: Price


class SignalIntent(ContractModel):
    """Seed §3.1, the fields the contract carries plus the seed-only ones as optional extras."""

    signal_id: Id
    symbol: Symbol
    timeframe: Timeframe
    timestamp_utc: Timestamp
    signal_type: SignalType
    direction: Direction
    strategy_id: Id
    strategy_family: StrategyFamily
    strategy_score: Number
    confidence: Fraction
    urgency: Urgency
    time_to_act_seconds: Count
    ttl_seconds: Count
    expiry_timestamp_utc: Timestamp
    lifecycle_state: LifecycleState
    invalidation_price: Price | None
    entry_price_zone: PriceRange
    stop_loss_zone: PriceRange | None
    target_zones: Annotated[list[PriceRange], Field(max_length=10)]
    flags: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=50)]
    # Seed-only fields, produced upstream and not read by sizing: opaque pass-through.
    confidence_breakdown: dict[str, Any] | None = None
    recommended_structures: Annotated[list[dict[str, Any]], Field(max_length=20)] | None = None
    provenance: dict[str, Any] | None = None
    rationale: Annotated[str, Field(max_length=2000)] | None = None


class SetupCandidate(ContractModel):
    """Seed §3.5, the parts sizing reads: structure stop and targets."""

    stop_zone: PriceRange | None
    target_zones: Annotated[list[PriceRange], Field(max_length=10)]
    confidence: Fraction


class RegimeClassification(ContractModel):
    """Seed §3.3, the parts sizing reads."""

    regime_type: RegimeType
    regime_confidence: Fraction
    volatility_state: VolatilityState
    timestamp_utc: Timestamp


class OptionsLiquiditySnapshot(ContractModel):
    """Seed §3.4. Spreads are fractions of the mid price."""

    avg_bid_ask_spread_pct: NonNegative
    atm_spread_pct: NonNegative
    total_open_interest: Count
    atm_open_interest: Count
    avg_volume: Count
    liquidity_grade: LiquidityGrade
    timestamp_utc: Timestamp


class OptionGreeksSnapshot(ContractModel):
    """Seed §3.4 for one contract, per contract in the limits' units (contract reading 5)."""

    delta: Number
    gamma: Number
    vega: Number
    theta: Number
    iv: NonNegative
    timestamp_utc: Timestamp


class Quote(ContractModel):
    timestamp_utc: Timestamp
    bid: Price
    ask: Price


class AccountConfig(ContractModel):
    """Seed §3.7; the balance is config-driven, not live."""

    account_balance: Price
    buying_power: NonNegative
    margin_used: NonNegative
    currency: Annotated[str, Field(min_length=3, max_length=3)]


class RiskState(ContractModel):
    """The request's view of the risk state (contract): mode, kill switch, limit utilization."""

    risk_mode: RiskMode
    kill_switch_active: Flag
    daily_loss_used_pct: NonNegative
    weekly_loss_used_pct: NonNegative
    current_drawdown_pct: NonNegative


class SymbolExposureInput(ContractModel):
    symbol: Symbol
    position_count: Count
    exposure_pct: NonNegative


class ExposureInput(ContractModel):
    """Current portfolio exposure as the request carries it (totals signed, per contract units)."""

    open_positions: Count
    total_delta: Number
    total_gamma: Number
    total_vega: Number
    total_theta: Number
    symbol_exposures: Annotated[list[SymbolExposureInput], Field(max_length=500)]


class RiskBudgetInput(ContractModel):
    """Remaining risk budget in dollars; negative when a period is overdrawn."""

    remaining_daily_budget: Number
    remaining_weekly_budget: Number


class EventCalendarEntry(ContractModel):
    """Seed §3.8; ``symbol`` null means a market-wide event (FOMC, CPI, ...)."""

    symbol: Symbol | None
    event_type: CalendarEventType
    event_timestamp_utc: Timestamp
    is_before_market: Flag
    is_after_market: Flag


class PositionSizingRequest(ContractModel):
    """One sizing request. ``regime``, ``liquidity``, ``greeks`` and ``quote`` may be null: exits do
    not need them, and an entry without one is refused as ``missing_input: <name>``."""

    now: Timestamp
    signal: SignalIntent
    setup: SetupCandidate | None
    regime: RegimeClassification | None
    liquidity: OptionsLiquiditySnapshot | None
    greeks: OptionGreeksSnapshot | None
    quote: Quote | None
    account: AccountConfig
    risk_state: RiskState
    exposure: ExposureInput
    budget: RiskBudgetInput
    events: Annotated[list[EventCalendarEntry], Field(max_length=200)]
    atr: NonNegative | None
    recent_win_rate: Fraction | None
