"""ExposureSnapshot (seed 004 §4.4) of the hand-computed book in tests/exposure_helpers.py: every
field against the arithmetic written beside it, the breaches at the shipped and at tighter limits,
the edge readings (at a limit is within, short delta counts by magnitude, positive theta uses no
floor), determinism, and the sizing request's ``exposure`` layout."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine.exposure import ExposureLimits, LimitsError, sizing_input, snapshot
from policy_engine.risk.models_in import Direction, ExposureInput
from policy_engine.risk.models_out import ExposureSnapshot
from tests.exposure_helpers import BOOK, REQUEST_SCHEMA, ROOT, book, limits, read

NOW = datetime(2025, 4, 2, 6, 10, 54, 151000, tzinfo=UTC)
DECISION_SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "position_sizing.decision.schema.json").read_text())


def current(data: dict[str, Any] | None = None, limit: ExposureLimits | None = None) -> ExposureSnapshot:
    parsed = read(data or BOOK)
    assert parsed.complete, [d.format_text() for d in parsed.diagnostics]
    assert parsed.account_balance is not None and parsed.timestamp_utc is not None
    return snapshot(parsed.positions, parsed.account_balance, limit or limits(), parsed.timestamp_utc)


def test_every_portfolio_field_of_the_hand_computed_book() -> None:
    s = current()
    # position values, quantity x price x multiplier:
    #   AAPL-STK    100 x 150.00 x 1   =  15,000     AAPL-C-190   10 x  2.50 x 100 =   2,500
    #   MSFT-STK    -50 x 400.00 x 1   = -20,000     TSLA-P-240   20 x 12.25 x 100 =  24,500
    #   TSLA-C-300  -15 x   8.00 x 100 = -12,000     SPY-P-MINI   30 x  4.00 x 10  =   1,200
    # gross = 15,000 + 2,500 + 20,000 + 24,500 + 12,000 + 1,200 = 75,200 -> / 100,000 = 0.752
    assert s.gross_exposure_dollars == 75_200.0
    assert s.gross_exposure_pct == 0.752
    # net = 15,000 + 2,500 - 20,000 + 24,500 - 12,000 + 1,200 = 11,200 -> 0.112, LONG
    assert s.net_exposure_dollars == 11_200.0
    assert s.net_exposure_pct == 0.112
    assert s.net_exposure_direction is Direction.LONG
    # greeks in the limits' unit (100 units of underlying): quantity x multiplier / 100 x greek
    #   delta: AAPL-STK 100 x 1/100 x 1 = 1.0; AAPL-C 10 x 0.55 = 5.5; MSFT -50/100 = -0.5;
    #          TSLA-P 20 x -0.4 = -8.0; TSLA-C -15 x 0.35 = -5.25; SPY 30 x 10/100 x -0.25 = -0.75
    #          total 1.0 + 5.5 - 0.5 - 8.0 - 5.25 - 0.75 = -8.0
    #   gamma: 10 x 0.04 + 20 x 0.02 - 15 x 0.03 + 3 x 0.01 = 0.4 + 0.4 - 0.45 + 0.03 = 0.38
    #   vega:  10 x 0.12 + 20 x 0.3 - 15 x 0.25 + 3 x 0.2 = 1.2 + 6.0 - 3.75 + 0.6 = 4.05
    #   theta: 10 x -0.05 + 20 x -0.15 - 15 x -0.1 + 3 x -0.08 = -0.5 - 3.0 + 1.5 - 0.24 = -2.24
    assert (s.total_delta, s.total_gamma, s.total_vega, s.total_theta) == (-8.0, 0.38, 4.05, -2.24)
    # utilization: |-8| / 100 = 0.08; 0.38 / 50 = 0.0076; 4.05 / 500 = 0.0081; -2.24 / -200 = 0.0112
    assert s.delta_utilization_pct == 0.08
    assert s.gamma_utilization_pct == 0.0076
    assert s.vega_utilization_pct == 0.0081
    assert s.theta_utilization_pct == 0.0112
    # 6 open: long AAPL-STK, AAPL-C, TSLA-P, SPY-P = 4; short MSFT-STK, TSLA-C = 2
    assert (s.open_positions, s.open_positions_long, s.open_positions_short) == (6, 4, 2)
    # largest |value| 24,500 -> 0.245; top 3: 24,500 + 20,000 + 15,000 = 59,500 -> 0.595
    assert s.largest_position_pct == 0.245
    assert s.top_3_concentration_pct == 0.595
    # 6 open > max 5; TSLA 0.365 > 0.20; MSFT at exactly 0.20 is within; greeks far inside
    assert s.breached_limits == ["max_open_positions", "max_symbol_concentration_pct: TSLA"]
    assert s.is_within_limits is False


def test_every_symbol_exposure_of_the_hand_computed_book() -> None:
    rows = [e.model_dump(mode="json") for e in current().symbol_exposures]
    assert rows == [
        # AAPL: 15,000 + 2,500 = 17,500 -> 0.175; delta 1.0 + 5.5; gamma/vega/theta of the calls only
        {"symbol": "AAPL", "position_count": 2, "net_delta": 6.5, "net_gamma": 0.4, "net_vega": 1.2,
         "net_theta": -0.5, "exposure_dollars": 17_500.0, "exposure_pct": 0.175},
        # MSFT: |-20,000| = 20,000 -> 0.20; 50 short shares = -0.5 delta, no other greek
        {"symbol": "MSFT", "position_count": 1, "net_delta": -0.5, "net_gamma": 0.0, "net_vega": 0.0,
         "net_theta": 0.0, "exposure_dollars": 20_000.0, "exposure_pct": 0.2},
        # SPY: 1,200 -> 0.012; 30 x 10 / 100 = 3 standard contracts: -0.75, 0.03, 0.6, -0.24
        {"symbol": "SPY", "position_count": 1, "net_delta": -0.75, "net_gamma": 0.03, "net_vega": 0.6,
         "net_theta": -0.24, "exposure_dollars": 1_200.0, "exposure_pct": 0.012},
        # TSLA: 24,500 + |-12,000| = 36,500 -> 0.365; delta -8.0 - 5.25; gamma 0.4 - 0.45;
        # vega 6.0 - 3.75; theta -3.0 + 1.5
        {"symbol": "TSLA", "position_count": 2, "net_delta": -13.25, "net_gamma": -0.05, "net_vega": 2.25,
         "net_theta": -1.5, "exposure_dollars": 36_500.0, "exposure_pct": 0.365},
    ]


def test_identity_and_provenance() -> None:
    s = current()
    shipped = limits()
    assert re.fullmatch(r"[0-9a-f]{64}", s.snapshot_id)
    assert s.timestamp_utc == NOW
    p = s.provenance
    assert (p.timestamp_utc, p.processing_started_utc, p.processing_ended_utc, p.processing_duration_ms) == (
        NOW, NOW, NOW, 0)
    assert (p.signal_hash, p.regime_hash, p.options_hash) == ("none", "none", None)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", p.exposure_hash)
    assert p.risk_config_version == "risk.position_sizing@1.0.0"
    assert p.limits_config_version == shipped.content_hash
    assert p.sizing_algorithm_version == "seed-004/§4.4"
    assert (p.account_balance_used, p.account_balance_timestamp, p.freshness_ok) == (100_000.0, NOW, True)


def test_breaches_at_tighter_limits() -> None:
    tight = limits(max_open_positions=6, max_symbol_concentration_pct=0.175, max_portfolio_delta=5,
                   max_portfolio_gamma=0.3, max_portfolio_vega=4, max_portfolio_theta=-2)
    s = current(limit=tight)
    # 6 open at max 6: within. AAPL 0.175 at 0.175: within; MSFT 0.20 and TSLA 0.365 above.
    # |delta| 8 > 5 (a short book counts by magnitude); gamma 0.38 > 0.3; vega 4.05 > 4; theta -2.24 < -2
    assert s.breached_limits == ["max_symbol_concentration_pct: MSFT", "max_symbol_concentration_pct: TSLA",
                                 "max_portfolio_delta", "max_portfolio_gamma", "max_portfolio_vega",
                                 "max_portfolio_theta"]
    # 8 / 5 = 1.6; 0.38 / 0.3 = 1.2666... (9 decimals); 4.05 / 4 = 1.0125; -2.24 / -2 = 1.12
    assert (s.delta_utilization_pct, s.gamma_utilization_pct, s.vega_utilization_pct, s.theta_utilization_pct) == (
        1.6, 1.266666667, 1.0125, 1.12)


def test_per_symbol_limits_of_the_seed_when_a_policy_sets_them() -> None:
    per_symbol = dataclasses.replace(limits(), per_symbol_max_delta=10.0, per_symbol_max_positions=1)
    # AAPL and TSLA hold 2 positions each (> 1); TSLA |-13.25| > 10, AAPL 6.5 is within
    assert current(limit=per_symbol).breached_limits == [
        "max_open_positions", "max_symbol_concentration_pct: TSLA", "per_symbol_max_positions: AAPL",
        "per_symbol_max_positions: TSLA", "per_symbol_max_delta: TSLA"]


def test_positive_theta_uses_none_of_the_floor() -> None:
    # short 10 calls: theta 10 x 0.05 = +0.5 (premium collected), gamma -0.4, vega -1.2
    s = current(book({"positions": [{"position_id": "w", "symbol": "AAPL", "asset_class": "OPTION", "quantity": -10,
                                     "price": 2.5, "multiplier": 100, "delta": 0.55, "gamma": 0.04, "vega": 0.12,
                                     "theta": -0.05}]}))
    assert (s.total_theta, s.theta_utilization_pct) == (0.5, 0.0)
    # |gamma| 0.4 / 50 = 0.008 and |vega| 1.2 / 500 = 0.0024: short greeks use the limit too
    assert (s.gamma_utilization_pct, s.vega_utilization_pct) == (0.008, 0.0024)
    # value 10 x 2.5 x 100 = -2,500: SHORT
    assert (s.net_exposure_dollars, s.net_exposure_direction, s.open_positions_short) == (-2_500.0, Direction.SHORT, 1)
    assert s.is_within_limits


def test_empty_book_is_neutral_and_within() -> None:
    s = current(book({"positions": []}))
    assert (s.gross_exposure_dollars, s.net_exposure_dollars, s.net_exposure_direction) == (0.0, 0.0, Direction.NEUTRAL)
    assert (s.open_positions, s.largest_position_pct, s.top_3_concentration_pct, s.symbol_exposures) == (0, 0.0, 0.0, [])
    assert (s.is_within_limits, s.breached_limits) == (True, [])


def test_offsetting_book_is_neutral_without_negative_zero() -> None:
    # 0.1 x 3 = 0.30000000000000004 and 0.3 x 1 = 0.3 in binary: net snaps to exactly 0
    s = current(book({"positions": [
        {"position_id": "a", "symbol": "X", "asset_class": "STOCK", "quantity": 3, "price": 0.1},
        {"position_id": "b", "symbol": "X", "asset_class": "STOCK", "quantity": -1, "price": 0.3}]}))
    assert s.net_exposure_direction is Direction.NEUTRAL
    assert json.dumps(s.to_json_dict()).count("-0.0") == 0
    assert (s.total_delta, s.gross_exposure_dollars) == (0.02, 0.6)  # (3 - 1) / 100; 0.3 + 0.3


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(len(BOOK["positions"]))))
def test_the_order_of_positions_changes_nothing(order: list[int]) -> None:
    shuffled = book({"positions": [BOOK["positions"][i] for i in order]})
    assert current(shuffled).to_json_dict() == current().to_json_dict()


def test_snapshot_passes_the_committed_decision_schema() -> None:
    schema = {"$ref": "#/$defs/ExposureSnapshot", "$defs": DECISION_SCHEMA["$defs"]}
    jsonschema.validate(current().to_json_dict(), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_sizing_input_is_the_request_exposure_object() -> None:
    layout = sizing_input(current())
    assert layout == {
        "open_positions": 6, "total_delta": -8.0, "total_gamma": 0.38, "total_vega": 4.05, "total_theta": -2.24,
        "symbol_exposures": [{"symbol": "AAPL", "position_count": 2, "exposure_pct": 0.175},
                             {"symbol": "MSFT", "position_count": 1, "exposure_pct": 0.2},
                             {"symbol": "SPY", "position_count": 1, "exposure_pct": 0.012},
                             {"symbol": "TSLA", "position_count": 2, "exposure_pct": 0.365}]}
    schema = {"$ref": "#/$defs/ExposureInput", "$defs": REQUEST_SCHEMA["$defs"]}
    jsonschema.validate(layout, schema)
    assert set(layout) == set(REQUEST_SCHEMA["$defs"]["ExposureInput"]["properties"])
    assert ExposureInput.model_validate(layout).model_dump(mode="json") == layout


# --- limits --------------------------------------------------------------------------------------


def test_limits_are_the_policy_params_with_overrides() -> None:
    shipped, tighter = limits(), limits(max_portfolio_vega=300, contract_multiplier=10)
    assert (shipped.max_open_positions, shipped.max_symbol_concentration_pct, shipped.greek_unit) == (5, 0.2, 100)
    assert [shipped.greek_limit(g) for g in ("delta", "gamma", "vega", "theta")] == [100, 50, 500, -200]
    assert (shipped.per_symbol_max_delta, shipped.per_symbol_max_positions) == (None, None)
    assert (tighter.max_portfolio_vega, tighter.greek_unit) == (300, 10)
    assert tighter.content_hash != shipped.content_hash


@pytest.mark.parametrize("params, name", [
    ({"max_portfolio_theta": 0}, "max_portfolio_theta"),
    ({"max_portfolio_delta": 0}, "max_portfolio_delta"),
    ({"max_symbol_concentration_pct": -0.1}, "max_symbol_concentration_pct"),
    ({"contract_multiplier": 0}, "greek_unit"),
    ({"max_open_positions": 2.5}, "max_open_positions"),
])
def test_limits_out_of_range_are_refused(params: dict[str, Any], name: str) -> None:
    with pytest.raises(LimitsError, match=name):
        limits(**params)


def test_a_policy_without_the_sizing_params_is_refused() -> None:
    tiny = policy_engine.load(ROOT / "tests" / "fixtures" / "tiny.yaml")
    with pytest.raises(LimitsError, match="not a position-sizing policy"):
        ExposureLimits.from_policy(tiny)
