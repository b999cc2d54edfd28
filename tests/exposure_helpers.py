"""The hand-computed book of the exposure tests (also shipped as
``policies/risk/examples/exposure/positions.json``) and shared helpers.

Account 100,000.00; the shipped sizing policy's limits: max_open_positions 5, concentration 0.20,
delta 100, gamma 50, vega 500, theta floor -200, contract_multiplier 100 (the greek unit).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import policy_engine
from policy_engine.exposure import ExposureLimits, PositionsBook, parse_positions

ROOT = Path(__file__).resolve().parents[1]
SIZING_POLICY = ROOT / "policies" / "risk" / "position_sizing.yaml"
EXAMPLE_BOOK = ROOT / "policies" / "risk" / "examples" / "exposure" / "positions.json"
POSITIONS_SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "positions.schema.json").read_text())
REQUEST_SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "position_sizing.request.schema.json").read_text())


def _option(pid: str, symbol: str, quantity: int, price: float, multiplier: float, delta: float, gamma: float,
            vega: float, theta: float) -> dict[str, Any]:
    return {"position_id": pid, "symbol": symbol, "asset_class": "OPTION", "quantity": quantity, "price": price,
            "multiplier": multiplier, "delta": delta, "gamma": gamma, "vega": vega, "theta": theta}


def _stock(pid: str, symbol: str, quantity: float, price: float) -> dict[str, Any]:
    return {"position_id": pid, "symbol": symbol, "asset_class": "STOCK", "quantity": quantity, "price": price}


BOOK: dict[str, Any] = {
    "timestamp_utc": "2025-04-02T06:10:54.151Z",
    "account_balance": 100000.0,
    "positions": [
        _stock("AAPL-STK", "AAPL", 100, 150.0),                                         # long 100 shares
        _option("AAPL-C-190", "AAPL", 10, 2.5, 100, 0.55, 0.04, 0.12, -0.05),           # long 10 calls
        _stock("MSFT-STK", "MSFT", -50, 400.0),                                         # short 50 shares
        _option("TSLA-P-240", "TSLA", 20, 12.25, 100, -0.4, 0.02, 0.3, -0.15),          # long 20 puts
        _option("TSLA-C-300", "TSLA", -15, 8.0, 100, 0.35, 0.03, 0.25, -0.1),           # short 15 calls
        _option("SPY-P-500-MINI", "SPY", 30, 4.0, 10, -0.25, 0.01, 0.2, -0.08),         # long 30 mini puts (x10)
    ],
}


def book(overrides: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A deep copy of BOOK; ``overrides`` replace top-level keys, ``drop`` removes positions by id."""
    data = copy.deepcopy(BOOK)
    data.update(copy.deepcopy(overrides or {}))
    if drop:
        data["positions"] = [p for p in data["positions"] if p["position_id"] not in drop]
    return data


def read(data: dict[str, Any] | str, path: str = "book.json") -> PositionsBook:
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    return parse_positions(text, path)


@cache
def _limits(params: tuple[tuple[str, Any], ...]) -> ExposureLimits:
    return ExposureLimits.from_policy(policy_engine.load(SIZING_POLICY, dict(params)))


def limits(**params: Any) -> ExposureLimits:
    """The shipped sizing policy's limits, with ``--set``-style param overrides."""
    return _limits(tuple(sorted(params.items())))
