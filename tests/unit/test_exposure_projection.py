"""Post-trade projection of a real sizing decision on the hand-computed book: every changed field
by hand, the greek totals equal to the policy's own projected values, the trade's side, and a
decision that trades nothing leaving the book as it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.exposure import project, sizing_input, snapshot, trade_holding
from policy_engine.risk.models_in import Direction
from policy_engine.risk.models_out import ExposureSnapshot, PositionSizingDecision
from tests.exposure_helpers import BOOK, book, limits, read
from tests.sizing_helpers import decide, neutral, scrub

ROOMY: dict[str, Any] = {"max_open_positions": 10}  # the book's 6 positions would stop every entry at the shipped 5


def current(data: dict[str, Any] = BOOK, **params: Any) -> tuple[Any, ExposureSnapshot]:
    parsed = read(data)
    assert parsed.account_balance is not None and parsed.timestamp_utc is not None
    return parsed, snapshot(parsed.positions, parsed.account_balance, limits(**params), parsed.timestamp_utc)


def sized(data: dict[str, Any] = BOOK, overrides: dict[str, Any] | None = None,
          **params: Any) -> tuple[PositionSizingDecision, Mapping[str, Any], ExposureSnapshot]:
    """The decision on the worked example (5 contracts of 0.5 delta at 50.00) with the book's exposure."""
    parsed, now = current(data, **params)
    request = neutral({"signal.symbol": "AAPL", "exposure": sizing_input(now), **(overrides or {})})
    decision, engine = decide(request, **params)
    return decision, engine.values, project(parsed.positions, limits(**params), decision)


def test_post_trade_exposure_of_an_approved_decision() -> None:
    decision, _, after = sized(**ROOMY)
    # $100,000 x 1 % / (|50 - 48| x 100) = 5 contracts, every multiplier 1.0
    assert (decision.is_approved, decision.final_size, decision.notional_value) == (True, 5, 25_000.0)
    # the trade: 5 x 50.00 x 100 = 25,000 bought
    # gross 75,200 + 25,000 = 100,200 -> 1.002; net 11,200 + 25,000 = 36,200 -> 0.362
    assert (after.gross_exposure_dollars, after.gross_exposure_pct) == (100_200.0, 1.002)
    assert (after.net_exposure_dollars, after.net_exposure_pct, after.net_exposure_direction) == (
        36_200.0, 0.362, Direction.LONG)
    # greeks: + 5 x (0.5, 0.01, 0.2, -0.1): -8.0 + 2.5 = -5.5; 0.38 + 0.05 = 0.43; 4.05 + 1.0 = 5.05;
    # -2.24 - 0.5 = -2.74
    assert (after.total_delta, after.total_gamma, after.total_vega, after.total_theta) == (-5.5, 0.43, 5.05, -2.74)
    # 5.5 / 100 = 0.055; 0.43 / 50 = 0.0086; 5.05 / 500 = 0.0101; -2.74 / -200 = 0.0137
    assert (after.delta_utilization_pct, after.gamma_utilization_pct, after.vega_utilization_pct,
            after.theta_utilization_pct) == (0.055, 0.0086, 0.0101, 0.0137)
    # 7 open: the new one is long
    assert (after.open_positions, after.open_positions_long, after.open_positions_short) == (7, 5, 2)
    # largest 25,000 -> 0.25; top 3: 25,000 + 24,500 + 20,000 = 69,500 -> 0.695
    assert (after.largest_position_pct, after.top_3_concentration_pct) == (0.25, 0.695)
    # AAPL: 17,500 + 25,000 = 42,500 -> 0.425; delta 6.5 + 2.5; gamma 0.4 + 0.05; vega 1.2 + 1.0; theta -0.5 - 0.5
    aapl = after.symbol_exposures[0].model_dump(mode="json")
    assert aapl == {"symbol": "AAPL", "position_count": 3, "net_delta": 9.0, "net_gamma": 0.45, "net_vega": 2.2,
                    "net_theta": -1.0, "exposure_dollars": 42_500.0, "exposure_pct": 0.425}
    assert [e.symbol for e in after.symbol_exposures] == ["AAPL", "MSFT", "SPY", "TSLA"]
    # the gate read AAPL's current 0.175 < 0.20 and passed; after the fill AAPL is at 0.425
    assert after.breached_limits == ["max_symbol_concentration_pct: AAPL", "max_symbol_concentration_pct: TSLA"]
    assert after.is_within_limits is False


def test_projected_greeks_are_the_policys_own() -> None:
    _, values, after = sized(**ROOMY)
    sizing = values["sizing"]
    assert [getattr(after, f"total_{g}") for g in ("delta", "gamma", "vega", "theta")] == [
        sizing[f"projected_{g}"] for g in ("delta", "gamma", "vega", "theta")]


def test_projection_is_part_of_the_decision() -> None:
    decision, _, after = sized(**ROOMY)
    again = sized(**ROOMY)[2]
    assert after.provenance == decision.provenance
    assert after.timestamp_utc == decision.timestamp_utc
    assert after.snapshot_id == again.snapshot_id
    assert scrub(after.to_json_dict()) == scrub(again.to_json_dict())  # but the measured duration
    assert after.snapshot_id != decision.decision_id


def test_a_bearish_option_entry_buys_contracts() -> None:
    # ENTRY_SHORT, stop above entry: 5 puts bought, their delta -0.5 each -> -2.5
    decision, _, after = sized(overrides={"signal.signal_type": "ENTRY_SHORT", "signal.direction": "SHORT",
                                          "signal.stop_loss_zone": {"low": 52.0, "high": 52.0},
                                          "greeks.delta": -0.5}, **ROOMY)
    trade = trade_holding(decision)
    assert trade is not None and (trade.quantity, trade.value, trade.delta) == (5, 25_000.0, -2.5)
    assert (after.open_positions_long, after.total_delta) == (5, -10.5)  # -8.0 - 2.5


def test_a_short_entry_in_shares_is_a_short_position() -> None:
    # contract_multiplier 1 (shares): risk per share 2.00 -> 1,000 / 2 = 500, capped at max 50 shares
    one_stock = book({"positions": [BOOK["positions"][0]]})
    decision, _, after = sized(one_stock, {"signal.signal_type": "ENTRY_SHORT", "signal.direction": "SHORT",
                                           "signal.stop_loss_zone": {"low": 52.0, "high": 52.0},
                                           "greeks.delta": -1.0, "greeks.gamma": 0.0, "greeks.vega": 0.0,
                                           "greeks.theta": 0.0}, contract_multiplier=1)
    assert (decision.is_approved, decision.final_size, decision.quantity_type.value) == (True, 50, "SHARES")
    trade = trade_holding(decision)
    assert trade is not None and (trade.quantity, trade.value, trade.delta) == (-50, -2_500.0, -50.0)
    # AAPL long 100 x 150 = 15,000 and short 50 x 50 = -2,500; greek unit 1 share: delta 100 - 50
    assert (after.open_positions_long, after.open_positions_short) == (1, 1)
    assert (after.gross_exposure_dollars, after.net_exposure_dollars, after.total_delta) == (17_500.0, 12_500.0, 50.0)


def test_a_rejected_decision_leaves_the_book_as_it_is() -> None:
    decision, _, after = sized()  # 6 open >= max 5: MAX_POSITIONS_GATE
    assert (decision.is_approved, decision.rejection_reason) == (False, "max_positions_reached")
    assert trade_holding(decision) is None
    before = current()[1]
    keep = ("snapshot_id", "timestamp_utc", "provenance")
    assert after.model_dump(exclude=set(keep)) == before.model_dump(exclude=set(keep))
    assert after.provenance == decision.provenance
