"""End to end through the API: positions -> snapshot -> the sizing request's ``exposure`` -> the
real position-sizing policy decides exactly as with the same exposure written by hand."""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.exposure import sizing_input, snapshot
from tests.exposure_helpers import BOOK, book, limits, read
from tests.sizing_helpers import gate_of, neutral, scrub, size

# The hand-computed book's exposure as the request carries it (see test_exposure_snapshot).
HAND_BUILT: dict[str, Any] = {
    "open_positions": 6, "total_delta": -8.0, "total_gamma": 0.38, "total_vega": 4.05, "total_theta": -2.24,
    "symbol_exposures": [{"symbol": "AAPL", "position_count": 2, "exposure_pct": 0.175},
                         {"symbol": "MSFT", "position_count": 1, "exposure_pct": 0.2},
                         {"symbol": "SPY", "position_count": 1, "exposure_pct": 0.012},
                         {"symbol": "TSLA", "position_count": 2, "exposure_pct": 0.365}],
}

# (params, signal symbol, expected (gate, reason)); the worked example sizes 5 contracts of
# greeks (0.5, 0.01, 0.2, -0.1) at 50.00
SCENARIOS = [
    ({}, "AAPL", ("MAX_POSITIONS_GATE", "max_positions_reached")),                       # 6 open >= 5
    ({"max_open_positions": 10}, "AAPL", (None, None)),                                  # 0.175 < 0.20
    ({"max_open_positions": 10}, "NVDA", (None, None)),                                  # not held: 0
    ({"max_open_positions": 10}, "TSLA", ("SYMBOL_CONCENTRATION_GATE", "symbol_concentration_exceeded")),
    ({"max_open_positions": 10}, "MSFT", ("SYMBOL_CONCENTRATION_GATE", "symbol_concentration_exceeded")),  # 0.20
    ({"max_open_positions": 10, "max_portfolio_theta": -2.5}, "AAPL",                   # -2.24 - 0.5 < -2.5
     ("GREEK_EXPOSURE_GATE", "greek_exposure_exceeded: theta")),
    ({"max_open_positions": 10, "max_portfolio_vega": 5}, "AAPL",                        # 4.05 + 1.0 > 5
     ("GREEK_EXPOSURE_GATE", "greek_exposure_exceeded: vega")),
]


def computed_exposure(data: dict[str, Any] = BOOK, **params: Any) -> dict[str, Any]:
    parsed = read(data)
    assert parsed.account_balance is not None and parsed.timestamp_utc is not None
    return sizing_input(snapshot(parsed.positions, parsed.account_balance, limits(**params), parsed.timestamp_utc))


@pytest.mark.parametrize("params, symbol, expected", SCENARIOS,
                         ids=[f"{s[1]}-{s[2][1] or 'approved'}" for s in SCENARIOS])
def test_the_policy_decides_as_with_the_hand_built_exposure(params: dict[str, Any], symbol: str,
                                                            expected: tuple[str | None, str | None]) -> None:
    exposure = computed_exposure(**params)
    assert exposure == HAND_BUILT
    from_positions = size(neutral({"signal.symbol": symbol, "exposure": exposure}), **params)
    by_hand = size(neutral({"signal.symbol": symbol, "exposure": HAND_BUILT}), **params)
    assert gate_of(from_positions) == expected
    # the same decision, byte for byte, but for the measured processing_duration_ms
    assert scrub(from_positions.to_json_dict()) == scrub(by_hand.to_json_dict())


def test_an_approved_size_from_positions() -> None:
    decision = size(neutral({"signal.symbol": "AAPL", "exposure": computed_exposure()}), max_open_positions=10)
    assert (decision.is_approved, decision.final_size) == (True, 5)


def test_a_book_of_four_passes_the_shipped_limits() -> None:
    small = book(drop=("TSLA-P-240", "TSLA-C-300"))
    exposure = computed_exposure(small)
    # AAPL 1.0 + 5.5, MSFT -0.5, SPY -0.75 = 5.25 delta; 4 open < 5
    assert (exposure["open_positions"], exposure["total_delta"]) == (4, 5.25)
    assert size(neutral({"signal.symbol": "AAPL", "exposure": exposure})).is_approved
