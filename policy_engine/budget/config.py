"""The budget's own configuration: its trading calendar, the monthly loss limit and the
per-strategy-family allocations. Everything else comes from the sizing policy's params.

A small YAML file (example: ``policies/risk/examples/budget.yaml``; every key optional)::

    timezone: America/New_York        # IANA name: where trading days begin and end
    week_start: MONDAY
    weekend: [SATURDAY, SUNDAY]
    holidays: ["2025-01-01", "2025-12-25"]
    monthly_max_loss_pct: 0.08        # absent: the sizing policy's max_drawdown_pct
    strategy_allocations: {TREND: 0.5, MEAN_REVERSION: 0.3}   # shares of each period's budget

It is read through the policy source stage (duplicate keys, tags and anchors refused) and every
problem is a Diagnostic at ``file:line:col``, raised as a ``PolicyError`` like a policy's.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from policy_engine.budget.periods import WEEKDAYS, TradingCalendar
from policy_engine.decision import sha256_of
from policy_engine.errors import Code, Diagnostic, PolicyError
from policy_engine.risk.models_in import StrategyFamily
from policy_engine.source import SourceDoc, load_source

Weekday = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
Share = Annotated[float, Field(strict=True, ge=0, le=1)]


def _date_text(value: object) -> object:
    # pydantic would read a bare number as Unix time; a holiday is written as a date.
    if not isinstance(value, (str, date)):
        raise ValueError("a holiday is an ISO date such as 2025-12-25")  # noqa: TRY004 (pydantic wants ValueError)
    return value


class BudgetConfig(BaseModel):
    """Calendar and allocations of the risk budget; the defaults are a US equity desk's."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    timezone: str = "America/New_York"
    week_start: Weekday = "MONDAY"
    weekend: tuple[Weekday, ...] = ("SATURDAY", "SUNDAY")
    holidays: tuple[Annotated[date, BeforeValidator(_date_text)], ...] = ()
    monthly_max_loss_pct: Annotated[float, Field(strict=True, gt=0, le=1)] | None = None
    strategy_allocations: dict[StrategyFamily, Share] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        TradingCalendar(timezone=value)  # raises CalendarError (a ValueError) for an unknown name
        return value

    @field_validator("weekend")
    @classmethod
    def _not_every_day(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) == len(WEEKDAYS):
            raise ValueError("at least one weekday must be a trading day")
        return value

    def calendar(self) -> TradingCalendar:
        return TradingCalendar(self.timezone, frozenset(WEEKDAYS.index(d) for d in self.weekend),
                               frozenset(self.holidays), WEEKDAYS.index(self.week_start))

    def allocations(self) -> dict[str, float] | None:
        """Family name -> share, in the families' declaration order; None: no per-family split."""
        if self.strategy_allocations is None:
            return None
        given = self.strategy_allocations
        return {family.value: given[family] for family in StrategyFamily if family in given}

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the config: recorded in every budget's provenance."""
        return sha256_of(self.model_dump(mode="json"))


def load_budget_config(path: str | Path) -> BudgetConfig:
    """Read a budget config file; ``PolicyError`` with located diagnostics if it is not one."""
    doc = load_source(path)  # the source stage refuses a file that is not one mapping
    try:
        return BudgetConfig.model_validate(doc.data)
    except ValidationError as problem:  # the validators' CalendarErrors arrive wrapped in it
        raise PolicyError([_diagnostic(doc, error) for error in problem.errors()]) from None


_CODES = {"extra_forbidden": Code.UNKNOWN_FIELD, "missing": Code.MISSING_FIELD}


def _diagnostic(doc: SourceDoc, error: Any) -> Diagnostic:
    path = tuple(part for part in error["loc"] if part != "[key]")
    kind = str(error["type"])
    code = _CODES.get(kind, Code.WRONG_TYPE if kind.endswith("_type") else Code.INVALID_VALUE)
    message = str(error["msg"]).removeprefix("Value error, ")
    on_key = code is Code.UNKNOWN_FIELD or "[key]" in error["loc"]  # a bad name: point at the name
    hint = _HINTS.get(str(path[0]) if path else "", "")
    return doc.diagnostic(code, path, message, hint, at_value=not on_key)


_HINTS = {
    "timezone": "an IANA name such as America/New_York or Europe/London",
    "week_start": f"one of {', '.join(WEEKDAYS)}",
    "weekend": f"a list of {', '.join(WEEKDAYS)}",
    "holidays": "a list of ISO dates such as 2025-12-25",
    "monthly_max_loss_pct": "a fraction of the account in (0, 1], e.g. 0.08",
    "strategy_allocations": "strategy family -> share of each period's budget in [0, 1]",
}
