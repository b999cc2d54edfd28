"""The limits an exposure snapshot is measured against: the position-sizing policy's own params.

Names are the policy's (seed 004 §3.7 RiskConfig): ``max_open_positions``,
``max_symbol_concentration_pct`` (the seed's per-symbol exposure limit, §4.1
``per_symbol_max_exposure_pct``), ``max_portfolio_{delta,gamma,vega}`` and ``max_portfolio_theta``
(a floor: theta is negative). ``greek_unit`` is the policy's ``contract_multiplier``: the greek
limits count in contracts of that many units of underlying, because the policy adds a trade as
``final_size x greeks`` per contract (contract 5).

Seed §4.1 also names ``per_symbol_max_delta`` and ``per_symbol_max_positions`` without values; the
shipped policy has neither, so they are checked only when a policy defines them (null = off).
Seed 004 names no gross or net exposure limit: those figures are reported, never checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import isfinite
from typing import Any

GREEKS = ("delta", "gamma", "vega", "theta")
UNVERSIONED = "unversioned"


class LimitsError(ValueError):
    """A limit param is missing or outside what the snapshot can measure against."""


@dataclass(frozen=True)
class ExposureLimits:
    max_open_positions: int
    max_symbol_concentration_pct: float
    max_portfolio_delta: float
    max_portfolio_gamma: float
    max_portfolio_vega: float
    max_portfolio_theta: float
    greek_unit: float = 100.0
    per_symbol_max_delta: float | None = None
    per_symbol_max_positions: int | None = None
    policy: str = UNVERSIONED  # "id@version" of the policy the limits were read from
    content_hash: str = UNVERSIONED

    def __post_init__(self) -> None:
        for name in ("max_symbol_concentration_pct", "max_portfolio_delta", "max_portfolio_gamma",
                     "max_portfolio_vega", "greek_unit"):
            _require(name, getattr(self, name), "> 0", lambda v: v > 0)
        _require("max_portfolio_theta", self.max_portfolio_theta, "< 0 (a floor on negative theta)",
                 lambda v: v < 0)
        _require("max_open_positions", self.max_open_positions, "a whole number >= 0",
                 lambda v: float(v).is_integer() and v >= 0)
        if self.per_symbol_max_delta is not None:
            _require("per_symbol_max_delta", self.per_symbol_max_delta, "> 0", lambda v: v > 0)
        if self.per_symbol_max_positions is not None:
            _require("per_symbol_max_positions", self.per_symbol_max_positions, "a whole number > 0",
                     lambda v: float(v).is_integer() and v > 0)

    def greek_limit(self, greek: str) -> float:
        return float(getattr(self, f"max_portfolio_{greek}"))

    @classmethod
    def from_params(cls, params: Mapping[str, Any], policy: str = UNVERSIONED,
                    content_hash: str = UNVERSIONED) -> ExposureLimits:
        required = ("max_open_positions", "max_symbol_concentration_pct", "max_portfolio_delta",
                    "max_portfolio_gamma", "max_portfolio_vega", "max_portfolio_theta", "contract_multiplier")
        missing = [name for name in required if params.get(name) is None]
        if missing:
            raise LimitsError(f"the policy has no param {', '.join(missing)}: it is not a position-sizing policy")
        return cls(
            max_open_positions=params["max_open_positions"],
            max_symbol_concentration_pct=params["max_symbol_concentration_pct"],
            max_portfolio_delta=params["max_portfolio_delta"], max_portfolio_gamma=params["max_portfolio_gamma"],
            max_portfolio_vega=params["max_portfolio_vega"], max_portfolio_theta=params["max_portfolio_theta"],
            greek_unit=params["contract_multiplier"], per_symbol_max_delta=params.get("per_symbol_max_delta"),
            per_symbol_max_positions=params.get("per_symbol_max_positions"), policy=policy,
            content_hash=content_hash)

    @classmethod
    def from_policy(cls, policy: Any) -> ExposureLimits:
        """From a compiled position-sizing policy (``policy_engine.load``), ``--set`` overrides included."""
        return cls.from_params(policy.plan.params, f"{policy.id}@{policy.version}", policy.content_hash)


def _require(name: str, value: Any, expected: str, holds: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not isfinite(value) or not holds(value):
        raise LimitsError(f"param {name} must be {expected}, got {value!r}")
