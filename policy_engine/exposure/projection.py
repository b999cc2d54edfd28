"""Projection stage: the book after a proposed sizing decision is filled (seed 004 §5.1 step 6).

The trade is one more position of the decision's symbol: ``final_size`` units worth the decision's
``notional_value`` (final size x entry price x contract multiplier), with the greeks the policy
itself added, ``projected_<greek>_impact`` = final size x the request's per-contract greeks
(contract 5). So the post-trade greek totals equal the policy's ``projected_<greek>`` values.

Side: option contracts are bought (a bearish entry buys puts: its direction is in the greeks the
request carries); shares follow the direction, so a SHORT entry sold in SHARES is a short position.
A decision that trades nothing (a rejection, an exit, which the policy does not size) leaves the
book as it is. The projected snapshot is part of the decision, so it shares the decision's
provenance, as its stop-loss and take-profit plans do, and is measured against the balance the
decision was sized with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from policy_engine.exposure.limits import ExposureLimits
from policy_engine.exposure.positions import Position
from policy_engine.exposure.snapshot import Holding, build_snapshot, holdings
from policy_engine.risk.models_out import ExposureSnapshot, PositionSizingDecision, QuantityType


def trade_holding(decision: PositionSizingDecision) -> Holding | None:
    """The position the decision would open, or None when it trades nothing."""
    if not decision.is_approved or decision.final_size == 0:
        return None
    plan = decision.stop_loss_plan
    sells_shares = (decision.quantity_type == QuantityType.SHARES and plan is not None
                    and plan.position_direction.value == "SHORT")
    side = -1 if sells_shares else 1
    return Holding(
        position_id=f"proposed:{decision.decision_id}", symbol=decision.symbol,
        quantity=side * decision.final_size, value=side * decision.notional_value,
        delta=decision.projected_delta_impact, gamma=decision.projected_gamma_impact,
        vega=decision.projected_vega_impact, theta=decision.projected_theta_impact)


def project(positions: Sequence[Position], limits: ExposureLimits,
            decision: PositionSizingDecision) -> ExposureSnapshot:
    """The post-trade ExposureSnapshot of ``positions`` plus the decision's trade."""
    balance = decision.provenance.account_balance_used
    if not balance > 0:
        raise ValueError(f"decision {decision.decision_id} carries no account balance (an unreadable request)")
    rows = holdings(positions, limits.greek_unit)
    trade = trade_holding(decision)
    if trade is not None:
        rows.append(trade)
    snapshot_id = hashlib.sha256(f"{decision.decision_id}:post_trade_exposure".encode()).hexdigest()
    return build_snapshot(rows, balance, limits, snapshot_id, decision.timestamp_utc, decision.provenance)
