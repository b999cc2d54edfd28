"""Snapshot stage: open positions -> ExposureSnapshot (seed 004 §4.4), a pure function.

Readings (docs/exposure.md):
- A position is worth ``quantity x price x multiplier`` (signed). Gross exposure sums the absolute
  values, net the signed ones; ``*_pct`` are fractions of the account balance. The net direction is
  the sign of the net dollars (NEUTRAL at exactly 0).
- Greeks count in the limits' units (contract 5): ``quantity x multiplier / greek_unit x greek``,
  greek_unit being the policy's ``contract_multiplier``; a share has delta 1.
- A symbol's exposure is the gross value of its positions (an option counts toward its
  underlying); "position" in largest / top-3 means one position of the book.
- Utilization: ``|total| / max`` for delta, gamma and vega (the seed's formula for delta); for
  theta, the share of the negative floor used, ``max(total / max_portfolio_theta, 0)``.
- A limit is breached when the book is past it: more open positions than the max, a symbol above
  the concentration max, ``|total|`` above a greek max, theta below its floor. At the limit is
  within (the gates, which admit one more trade, reject at it).
Determinism: rows are sorted by (symbol, position_id), sums are exact (``math.fsum``) and every
figure is snapped to 9 decimals like the policy's own comparisons (contract 15).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from math import fsum
from typing import Any

from policy_engine.decision import sha256_of
from policy_engine.exposure.limits import GREEKS, ExposureLimits
from policy_engine.exposure.positions import Position
from policy_engine.expr.functions import snap
from policy_engine.risk.models_in import Direction
from policy_engine.risk.models_out import ExposureSnapshot, RiskProvenance, SymbolExposure

SNAPSHOT_ALGORITHM_VERSION = "seed-004/§4.4"
NO_INPUT = "none"  # provenance hashes of inputs a snapshot of positions does not have (signal, regime)


@dataclass(frozen=True)
class Holding:
    """One position's contribution: signed dollars and greeks in the limits' units."""

    position_id: str
    symbol: str
    quantity: float
    value: float
    delta: float
    gamma: float
    vega: float
    theta: float

    def greek(self, name: str) -> float:
        return float(getattr(self, name))


def holding(position: Position, greek_unit: float) -> Holding:
    # (multiplier / unit) first: 1.0 exactly for a standard contract, so the figures equal the
    # policy's own quantity x greek bit for bit
    scale = position.quantity * (position.multiplier / greek_unit)
    delta, gamma, vega, theta = position.unit_greeks()
    return Holding(position.position_id, position.symbol, position.quantity,
                   position.quantity * position.price * position.multiplier,
                   scale * delta, scale * gamma, scale * vega, scale * theta)


def holdings(positions: Iterable[Position], greek_unit: float) -> list[Holding]:
    return [holding(position, greek_unit) for position in positions]


def snapshot(positions: Sequence[Position], account_balance: float, limits: ExposureLimits,
             now: datetime) -> ExposureSnapshot:
    """The exposure of ``positions`` at ``now`` against ``limits``; the same inputs give the same snapshot."""
    exposure_hash = positions_hash(positions, account_balance)
    snapshot_id = _digest("exposure-snapshot:", exposure_hash, ":", now.isoformat(), ":", limits.content_hash)
    provenance = _provenance(snapshot_id, now, exposure_hash, account_balance, limits)
    return build_snapshot(holdings(positions, limits.greek_unit), account_balance, limits, snapshot_id, now,
                          provenance)


def sizing_input(exposure: ExposureSnapshot) -> dict[str, Any]:
    """The position-sizing request's ``exposure`` object (schema ExposureInput) of a snapshot."""
    return {
        "open_positions": exposure.open_positions,
        "total_delta": exposure.total_delta,
        "total_gamma": exposure.total_gamma,
        "total_vega": exposure.total_vega,
        "total_theta": exposure.total_theta,
        "symbol_exposures": [{"symbol": s.symbol, "position_count": s.position_count, "exposure_pct": s.exposure_pct}
                             for s in exposure.symbol_exposures],
    }


def positions_hash(positions: Iterable[Position], account_balance: float) -> str:
    book = sorted((p.model_dump(mode="json") for p in positions), key=lambda p: str(p["position_id"]))
    return sha256_of({"account_balance": account_balance, "positions": book})


def build_snapshot(rows: Sequence[Holding], account_balance: float, limits: ExposureLimits, snapshot_id: str,
                   at: datetime, provenance: RiskProvenance) -> ExposureSnapshot:
    """Aggregate holdings into the §4.4 snapshot (shared by the current and the post-trade view)."""
    ordered = sorted(rows, key=lambda h: (h.symbol, h.position_id))
    gross, net = fsum(abs(h.value) for h in ordered), fsum(h.value for h in ordered)
    totals = {greek: _sum(h.greek(greek) for h in ordered) for greek in GREEKS}
    symbols = _symbols(ordered, account_balance)
    sizes = sorted((abs(h.value) for h in ordered), reverse=True)
    breached = _breaches(len(ordered), symbols, totals, limits)
    return ExposureSnapshot(
        snapshot_id=snapshot_id, timestamp_utc=at,
        gross_exposure_dollars=_snap(gross), gross_exposure_pct=_snap(gross / account_balance),
        net_exposure_dollars=_snap(net), net_exposure_pct=_snap(net / account_balance),
        net_exposure_direction=_direction(_snap(net)),
        **{f"total_{greek}": totals[greek] for greek in GREEKS},
        **{f"{greek}_utilization_pct": _utilization(greek, totals[greek], limits) for greek in GREEKS},
        open_positions=len(ordered), open_positions_long=sum(1 for h in ordered if h.quantity > 0),
        open_positions_short=sum(1 for h in ordered if h.quantity < 0), symbol_exposures=symbols,
        largest_position_pct=_snap(sizes[0] / account_balance) if sizes else 0.0,
        top_3_concentration_pct=_snap(fsum(sizes[:3]) / account_balance),
        is_within_limits=not breached, breached_limits=breached, provenance=provenance,
    )


def _snap(value: float) -> float:
    return snap(value) + 0.0  # + 0.0: never a -0.0 in the output


def _sum(values: Iterable[float]) -> float:
    return _snap(fsum(values))


def _direction(net: float) -> Direction:
    return Direction.LONG if net > 0 else Direction.SHORT if net < 0 else Direction.NEUTRAL


def _utilization(greek: str, total: float, limits: ExposureLimits) -> float:
    limit = limits.greek_limit(greek)
    if greek == "theta":  # a floor on negative theta: positive theta uses none of it
        return _snap(max(total / limit, 0.0))
    return _snap(abs(total) / limit)


def _symbols(ordered: Sequence[Holding], account_balance: float) -> list[SymbolExposure]:
    found = []
    for symbol, group in groupby(ordered, key=lambda h: h.symbol):
        rows = list(group)
        dollars = fsum(abs(h.value) for h in rows)
        found.append(SymbolExposure(
            symbol=symbol, position_count=len(rows),
            **{f"net_{greek}": _sum(h.greek(greek) for h in rows) for greek in GREEKS},
            exposure_dollars=_snap(dollars), exposure_pct=_snap(dollars / account_balance)))
    return found


def _breaches(open_positions: int, symbols: Sequence[SymbolExposure], totals: dict[str, float],
              limits: ExposureLimits) -> list[str]:
    """Breached limits by the policy's param names, in the gates' order (per-symbol ones name the symbol)."""
    found = ["max_open_positions"] if open_positions > limits.max_open_positions else []
    found += [f"max_symbol_concentration_pct: {s.symbol}" for s in symbols
              if s.exposure_pct > limits.max_symbol_concentration_pct]
    if limits.per_symbol_max_positions is not None:
        found += [f"per_symbol_max_positions: {s.symbol}" for s in symbols
                  if s.position_count > limits.per_symbol_max_positions]
    if limits.per_symbol_max_delta is not None:
        found += [f"per_symbol_max_delta: {s.symbol}" for s in symbols if abs(s.net_delta) > limits.per_symbol_max_delta]
    found += [f"max_portfolio_{greek}" for greek in GREEKS if _past(greek, totals[greek], limits)]
    return found


def _past(greek: str, total: float, limits: ExposureLimits) -> bool:
    limit = limits.greek_limit(greek)
    return total < limit if greek == "theta" else abs(total) > limit


def _provenance(snapshot_id: str, at: datetime, exposure_hash: str, account_balance: float,
                limits: ExposureLimits) -> RiskProvenance:
    """A snapshot of positions has no signal or regime; its time is the book's and nothing is measured."""
    return RiskProvenance(
        provenance_id=_digest(snapshot_id, ":provenance"), timestamp_utc=at, processing_started_utc=at,
        processing_ended_utc=at, processing_duration_ms=0, signal_hash=NO_INPUT, signal_timestamp=at,
        regime_hash=NO_INPUT, exposure_hash=exposure_hash, exposure_timestamp=at,
        risk_config_version=limits.policy, limits_config_version=limits.content_hash,
        sizing_algorithm_version=SNAPSHOT_ALGORITHM_VERSION, account_balance_used=account_balance,
        account_balance_timestamp=at, freshness_ok=True,
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()
